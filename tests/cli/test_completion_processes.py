"""One flux2 process per TAB in every shell, and fish still offers file names where flux2 has
no candidates."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import flux2_command

ROOT = Path(__file__).parents[2]
SCRIPTS = {"bash": "flux2.bash", "zsh": "_flux2", "fish": "flux2.fish"}


@pytest.mark.parametrize("shell", sorted(SCRIPTS))
def test_each_script_starts_flux2_once(shell: str) -> None:
    script = (ROOT / "completions" / SCRIPTS[shell]).read_text(encoding="utf-8")
    assert script.count("_FLUX2_COMPLETE=") == 1


def _fish_tab(tmp_path: Path, line: str) -> tuple[list[str], int]:
    """What fish offers for `line`, and how many flux2 processes it started for it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    wrapper = bin_dir / "flux2"
    wrapper.write_text(f'#!/bin/sh\necho x >> "{log}"\nexec {" ".join(flux2_command())} "$@"\n')
    wrapper.chmod(0o755)
    log.write_text("")
    script = ROOT / "completions" / "flux2.fish"
    proc = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script}; complete -C{line!r}"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    offered = [entry.split("\t")[0] for entry in proc.stdout.splitlines()]
    return offered, len(log.read_text().splitlines())


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completes_with_one_process_per_tab(tmp_path: Path) -> None:
    (tmp_path / "pictures").mkdir()
    assert _fish_tab(tmp_path, "flux2 generate -m kl") == (["klein"], 1)
    assert _fish_tab(tmp_path, "flux2 gen") == (["generate"], 1)
    # No candidates from flux2 (a path): fish's own file names, still one process.
    assert _fish_tab(tmp_path, "flux2 edit -i pic") == (["pictures/"], 1)


def test_install_completion_writes_the_one_process_fish_script(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*flux2_command(), "--install-completion", "fish"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "HOME": str(tmp_path),
            "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1",
        },
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    installed = tmp_path / ".config/fish/completions/flux2.fish"
    shipped = (ROOT / "completions" / "flux2.fish").read_text(encoding="utf-8")
    assert installed.read_text(encoding="utf-8").strip() == shipped.strip()
    assert "is-args" not in shipped
