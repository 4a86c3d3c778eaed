"""What a run loads and builds: option values converted without pydantic, one command built per
run, and the same answers (and usage errors) as before either shortcut."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from flux_cli.cli import coercion
from flux_cli.cli import registry as app_module

runner = CliRunner()


def _modules_loaded_by(*args: str) -> set[str]:
    """The modules a real `flux2 ARGS` run has imported when it ends."""
    code = (
        "import sys\n"
        "from flux_cli.cli.main import run\n"
        "try:\n"
        f"    run({list(args)!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    return set(proc.stderr.splitlines())


@pytest.mark.parametrize(
    "args",
    [
        ("cost", "-m", "pro"),
        ("cost", "-m", "max", "--size", "2048x2048", "-n", "2", "-i", "1024x1024"),
        ("generate", "a fox", "--dry-run", "--seed", "7", "--timeout", "30"),
        ("config", "get", "budget.daily_usd"),
    ],
)
def test_a_command_run_does_not_import_pydantic(args: tuple[str, ...]) -> None:
    loaded = _modules_loaded_by(*args)
    assert "flux_cli.cli.coercion" in loaded  # the run really happened
    assert not {m for m in loaded if m == "pydantic" or m.startswith("pydantic.")}


def test_a_run_that_names_its_command_builds_only_that_command() -> None:
    loaded = _modules_loaded_by("cost", "-m", "pro")
    assert "flux_cli.cli.cost" in loaded
    assert "flux_cli.cli.history" not in loaded
    assert "flux_cli.cli.sandbox" not in loaded
    assert "flux_cli.cli.auth" not in loaded


def test_for_args_picks_the_command_or_the_whole_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("_FLUX2_COMPLETE", raising=False)

    def commands(args: list[str]) -> list[str]:
        group = typer.main.get_command(app_module.for_args(args))
        return sorted(group.commands)  # type: ignore[attr-defined]

    every = sorted([*app_module.COMMANDS, *app_module.GROUPS])
    assert commands(["cost", "-m", "pro"]) == ["cost"]
    assert commands(["--debug", "config", "show"]) == ["config"]
    assert commands([]) == every
    assert commands(["--version"]) == []  # the version needs no command
    assert commands(["-V", "cost"]) == ["cost"]
    assert commands(["generat", "x"]) == every  # a typo gets "did you mean"
    assert commands(["help", "generate"]) == every  # help lists and resolves every command
    monkeypatch.setenv("_FLUX2_COMPLETE", "complete_bash")
    assert commands(["cost"]) == every
    # Completing a command's options needs only that command, once its name is typed in full.
    for words, index, built in (
        ("flux2 generate -m ", "3", ["generate"]),
        ("flux2 --debug config set budget.", "4", ["config"]),
        ("flux2 gen", "1", every),
        ("flux2 help gen", "2", every),
    ):
        monkeypatch.setenv("COMP_WORDS", words)
        monkeypatch.setenv("COMP_CWORD", index)
        assert commands([]) == built, words
    monkeypatch.delenv("COMP_WORDS")
    monkeypatch.setenv("_FLUX2_COMPLETE", "complete_fish")
    for line, built in (("flux2 edit -i ", ["edit"]), ("flux2 edit", every)):
        monkeypatch.setenv("_TYPER_COMPLETE_ARGS", line)
        assert commands([]) == built, line


def test_a_typo_still_gets_a_suggestion() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flux_cli", "generat", "x"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "No such command 'generat'. Did you mean 'generate'?" in proc.stderr


def test_the_plain_converter_is_installed_on_every_simple_option() -> None:
    """Fails when a typer release renames the internals `coercion` uses (it then does nothing
    and runs get slower, not wrong): update `coercion` for the new release."""
    assert coercion.INSTALLABLE
    group = typer.main.get_command(app_module.build())
    coercion.install(group)
    plain = skipped = 0
    for command in group.commands.values():  # type: ignore[attr-defined]
        subcommands = getattr(command, "commands", {"": command})
        for sub in subcommands.values():
            for param in sub.params:
                if type(param._runtime_param).__name__ == "_Plain":
                    plain += 1
                else:
                    skipped += 1
    assert plain > 50
    assert skipped == 0  # flux2 declares only str, bool, int, float, Path and list[str] options


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "abc"], "Invalid value for '--seed': 'abc' is not a whole number."),
        (["--seed", "1.5"], "Invalid value for '--seed': '1.5' is not a whole number."),
        (["--timeout", "soon"], "Invalid value for '--timeout': 'soon' is not a number."),
        (["--timeout", "nan"], "Invalid value for '--timeout': 'nan' is not a finite number."),
        (["--timeout", "inf"], "Invalid value for '--timeout': 'inf' is not a finite number."),
        (["--timeout", "0.5"], "Invalid value for '--timeout': 0.5 is less than the minimum"),
    ],
)
def test_bad_numbers_are_usage_errors_naming_the_option(args: list[str], message: str) -> None:
    result = runner.invoke(
        app_module.for_args(["generate"]), ["generate", "a fox", "--dry-run", *args]
    )
    assert result.exit_code == 2
    assert message in result.output


def test_good_values_arrive_converted() -> None:
    result = runner.invoke(
        app_module.app,
        ["generate", "a fox", "--dry-run", "--seed", " 42 ", "--timeout", "2.5", "-n", "2"],
    )
    assert result.exit_code == 0, result.output
    assert '"seed": 42' in result.stdout
    assert '"seed": 43' in result.stdout
