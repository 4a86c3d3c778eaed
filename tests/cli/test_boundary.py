"""The entry point: version, help, and the one error boundary, in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flux_cli import __version__
from flux_cli.cli.registry import app
from tests.conftest import CANARY_KEY

FLUX2 = [sys.executable, "-m", "flux_cli"]


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FLUX2, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        input=stdin,
        timeout=60,
        check=False,
    )


def test_version_goes_to_stdout() -> None:
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout == f"flux2 {__version__}\n"
    assert result.stderr == ""


def _command_names() -> list[str]:
    """Every command, sub-commands as `group name` (config show, auth login, …)."""
    from flux_cli.cli.registry import app as typer_app

    names = [c.name for c in typer_app.registered_commands if c.name]
    for group in typer_app.registered_groups:
        sub = group.typer_instance
        assert sub is not None
        names += [f"{group.name} {c.name}" for c in sub.registered_commands if c.name]
    return sorted(names)


def test_every_command_has_help_text() -> None:
    for name in _command_names():
        result = run(*name.split(), "--help")
        assert result.returncode == 0, name
        assert "Usage: flux2 " + name in result.stdout
        # The first help line is a real sentence, not an empty docstring.
        body = result.stdout.split("\n\n", 2)[1].strip()
        assert len(body) > 20, name


def test_every_command_is_in_the_readme() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for name in _command_names():
        assert f"flux2 {name}" in readme, name


def test_unknown_command_is_a_usage_error() -> None:
    result = run("paint")
    assert result.returncode == 2
    assert result.stdout == ""


def test_expected_errors_are_one_line_with_the_right_code_and_no_traceback() -> None:
    result = run("generate", "a fox", env={"OPENROUTER_API_KEY": ""})
    assert result.returncode == 4
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("flux2: error: no OpenRouter API key found")
    assert "hint:" in result.stderr


def test_internal_errors_say_bug_and_hide_the_traceback_unless_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A crash with the key in a local variable: exit 1, no traceback, and never the key."""
    code = (
        "import sys; from flux_cli.cli import main, registry as a\n"
        "def boom():\n"
        f"    key = {CANARY_KEY!r}\n"
        "    raise RuntimeError('exploded with ' + key)\n"
        "a.app.command(name='boom')(boom)\n"
        "main.run(sys.argv[1:])\n"
    )
    plain = subprocess.run(
        [sys.executable, "-c", code, "boom"], capture_output=True, text=True, check=False
    )
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert "internal error: RuntimeError" in plain.stderr
    assert "--debug" in plain.stderr
    debug = subprocess.run(
        [sys.executable, "-c", code, "--debug", "boom"], capture_output=True, text=True, check=False
    )
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr
    for output in (plain.stdout, plain.stderr, debug.stdout, debug.stderr):
        assert CANARY_KEY not in output
        assert CANARY_KEY[9:] not in output


def test_help_snapshot_lists_the_commands() -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    for name in _command_names():
        assert name.split()[0] in result.stdout


def test_a_key_pasted_as_a_stray_argument_is_masked_in_usage_errors() -> None:
    result = run("generate", "a fox", CANARY_KEY)
    assert result.returncode == 2
    assert "unexpected extra argument" in result.stderr
    assert CANARY_KEY not in result.stderr
    assert CANARY_KEY[9:] not in result.stderr
    assert "sk-or-v1-…" in result.stderr


def test_the_garbage_collector_comes_back_on_for_every_command_s_work() -> None:
    """The console script starts with the cyclic collector off; a command's body runs with it
    on (generate and edit turn it on themselves, once their client is made)."""
    import gc

    from flux_cli.cli.boundary import guarded, resume_gc

    seen: list[bool] = []
    try:
        gc.disable()
        guarded(lambda: seen.append(gc.isenabled()))()
        gc.disable()
        guarded(lambda: seen.append(gc.isenabled()), gc_from_start=False)()
        assert seen == [True, False]
        resume_gc()
        assert gc.isenabled()
        resume_gc()  # on already: nothing changes
        assert gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()
