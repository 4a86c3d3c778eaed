"""One voice in messages and help: the same words for the same thing, counts in the singular
when there is one, help without programmers' notation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flux_cli.cli.registry import COMMANDS, GROUPS
from flux_cli.sandbox import Sandbox
from flux_cli.sandbox.faults import Fault
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e


def test_count_errors_speak_with_one_voice(flux2: Flux2) -> None:
    for count in ("0", "17"):
        run = flux2("generate", "a fox", "-n", count)
        assert run.returncode == 2
        assert run.stderr.startswith(
            f"flux2: error: -n/--count must be between 1 and 16, got {count}"
        )
        assert "Usage:" not in run.stderr


def test_a_missing_file_is_worded_the_same_everywhere(flux2: Flux2) -> None:
    inspect = flux2("inspect", "nope.png")
    edit = flux2("edit", "x", "-i", "nope.jpg")
    assert (inspect.returncode, edit.returncode) == (2, 2)
    assert "flux2: error: cannot read nope.png: no such file" in inspect.stderr
    assert "flux2: error: cannot read nope.jpg: no such file" in edit.stderr


def test_help_has_no_type_notation_and_bare_flux2_is_help(flux2: Flux2) -> None:
    commands = [[name] for name in COMMANDS] + [[name] for name in GROUPS]
    commands += [["config", "set"], ["auth", "login"]]
    for words in commands:
        run = flux2(*words, "--help", env={"COLUMNS": "120"})
        assert run.returncode == 0, run.stderr
        assert not re.search(r"<(str|int|float|path|list\[str\])>", run.out), run.out
        assert "{" not in run.out.splitlines()[0], run.out  # the usage line: FILE, not {file}
    bare = flux2(env={"COLUMNS": "120"})
    assert bare.returncode == 0
    assert "Commands:" in bare.out
    listed = [line for line in bare.out.splitlines() if line.startswith("  ") and "  " in line[2:]]
    assert listed
    assert not any(line.rstrip().endswith("...") for line in listed), bare.out


def test_counts_of_one_are_singular(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    (workdir / "b.jsonl").write_text('{"prompt": "a boat"}\n{"prompt": 5}\n')
    run = flux2("generate", "--batch", "b.jsonl", "-o", "r/")
    assert run.returncode == 3
    assert "2 items (1 with errors), estimate $0.030 for 1 image\n" in run.stderr
    assert "1 of 2 items failed (line 2)" in run.stderr
    sandbox.push_fault("images", Fault(status=502))
    run = flux2("generate", "a fox", "--retries", "0", "-o", "fox.jpg")
    assert run.returncode == 8
    assert "(gave up after 1 attempt)" in run.stderr


def test_since_takes_minutes(flux2: Flux2) -> None:
    assert flux2("generate", "a fox", "-o", "fox.jpg").returncode == 0
    run = flux2("history", "--since", "30m", "--json")
    assert run.returncode == 0, run.stderr
    assert len(run.out.splitlines()) == 1


def test_sandbox_login_speaks_of_the_sandbox(flux2: Flux2) -> None:
    key = "sk-or-v1-" + "0123456789abcdef" * 4
    run = flux2("auth", "login", "--sandbox", stdin=key.encode() + b"\n", key=None)
    assert run.returncode == 0, run.stderr
    assert "the sandbox accepts it" in run.stderr
    assert "OpenRouter accepts" not in run.stderr


def test_paths_of_n_images_come_in_index_order(flux2: Flux2, sandbox: Sandbox) -> None:
    # The first answer is the slowest: finishing order would put it last.
    sandbox.push_fault("images", Fault(kind="slow", delay=1.0))
    run = flux2("generate", "a fox", "-n", "3", "-o", "out/{index}.png")
    assert run.returncode == 0, run.stderr
    assert run.out.splitlines() == ["out/1.png", "out/2.png", "out/3.png"]


def test_a_size_off_the_grid_suggests_the_nearest(flux2: Flux2) -> None:
    run = flux2("generate", "a fox", "--size", "1000x1000")
    assert run.returncode == 2
    assert "the nearest size is 1008x1008" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "a fox", "--timeout", "0.5"), "Invalid value for '--timeout'"),
        (("generate", "--nope"), "No such option: --nope"),
        (("nope",), "No such command 'nope'"),
    ],
)
def test_usage_errors_found_by_the_parser_speak_the_same_voice(
    flux2: Flux2, args: tuple[str, ...], message: str
) -> None:
    run = flux2(*args)
    assert run.returncode == 2
    assert run.stderr.startswith(f"flux2: error: {message}"), run.stderr
    assert "flux2: hint: flux2" in run.stderr
    assert "Usage:" not in run.stderr
