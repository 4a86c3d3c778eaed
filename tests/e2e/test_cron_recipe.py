"""The README's cron recipe, run as cron would: a bare PATH, flux2 where pipx puts it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from flux_cli.sandbox import Sandbox
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import flux2_command

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"


def _wrapper() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    (script,) = [block for block in blocks if block.startswith("#!/bin/sh")]
    return str(script)


def test_the_recipe_installs_flux2_where_its_path_looks() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pipx install ." in text  # pipx's commands go to ~/.local/bin
    assert 'PATH="$HOME/.local/bin:$PATH"' in _wrapper()
    (entry,) = [line for line in text.splitlines() if line.startswith("0 2 * * *  cd ~/renders")]
    assert "~/.local/bin/flux2 generate" in entry


def test_the_nightly_wrapper_runs_under_crons_path(sandbox: Sandbox, tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    bin_dir = home / ".local" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "flux2").symlink_to(flux2_command()[0])  # what `pipx install .` leaves there
    (home / "renders").mkdir()
    (home / "prompts.jsonl").write_text('a red fox\n{"prompt": "a heron", "model": "klein"}\n')
    script = tmp_path / "nightly-renders"
    script.write_text(_wrapper())
    env = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("FLUX2_", "XDG_")) or name in ("HOME", "LANG", "TZ")
    }
    env |= {
        "PATH": "/usr/bin:/bin",
        "FLUX2_BASE_URL": sandbox.base_url,  # the rehearsal's two export lines
        "OPENROUTER_API_KEY": CANARY_KEY,
    }
    run = subprocess.run(
        ["/bin/sh", str(script)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, (run.stdout, run.stderr)
    assert run.stdout == ""  # nothing for cron to mail
    results = (home / "renders" / "results.jsonl").read_text().splitlines()
    assert len(results) == 2
    log = (home / "renders" / "flux2.log").read_text().splitlines()
    assert all(line == line.rstrip() for line in log)  # the summary table too: no padding
    progress = [line for line in log if " line " in line and "] " in line]
    assert len(progress) == 2
    for line in progress:
        assert re.match(r"flux2: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\d/2\] line \d: ok ", line), line
