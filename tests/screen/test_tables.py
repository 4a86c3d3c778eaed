"""Tables lose no characters: at a terminal they fit by folding or leaving out columns, and in a
pipe or a log (no terminal) each record is one line, values whole, no trailing spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_cli.sandbox import Sandbox
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2
from tests.screen.conftest import RunScreen
from tests.screen.harness import SIZES, Screen

pytestmark = [pytest.mark.screen, pytest.mark.slow]

PROMPT = "a small boat on a quiet lake at dawn with mist and a heron"
MODELS = ("max", "pro", "klein")
IDS = (
    "black-forest-labs/flux.2-pro",
    "black-forest-labs/flux.2-max",
    "black-forest-labs/flux.2-flex",
    "black-forest-labs/flux.2-klein-4b",
)


@pytest.fixture
def made(sandbox: Sandbox, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three images in the ledger (prompts stored); their file names."""
    monkeypatch.setenv("FLUX2_STORE_PROMPTS", "1")
    flux2 = Flux2(workdir, sandbox.base_url)
    for model in MODELS:
        run = flux2("generate", PROMPT, "-m", model, "-o", "out/", key=CANARY_KEY)
        assert run.returncode == 0, run.stderr
    return sorted(p.name for p in (workdir / "out").iterdir())


def _squeezed(text: str) -> str:
    return "".join(text.split())


def assert_whole(screen: Screen, value: str) -> None:
    """`value` can be read off the screen: folded maybe, but with no character lost."""
    joined = "".join(_squeezed(line) for line in screen.lines)
    assert _squeezed(value) in joined, f"{value!r} lost characters:\n{screen.text}"


def assert_fits(screen: Screen) -> None:
    for line in screen.lines:
        assert len(line) <= screen.columns


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_history_on_screen_keeps_every_file_name_whole(
    on_screen: RunScreen, made: list[str], columns: int, rows: int
) -> None:
    screen = on_screen("history", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    assert_fits(screen)
    for name in made:
        assert_whole(screen, name)
    for header in ("time", "model", "status", "charged"):
        assert f" {header} " in f" {screen.lines[1]} ", screen.text  # never cut to `charg…`
    assert "…" not in screen.lines[1]


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_history_by_day_keeps_the_day_whole(
    on_screen: RunScreen, made: list[str], columns: int, rows: int
) -> None:
    screen = on_screen("history", "--by", "day", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    assert_fits(screen)
    day = made[0][:10]
    assert any(line.startswith(day + " ") for line in screen.lines), screen.text
    assert "…" not in screen.text


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_models_on_screen_keep_ids_whole(on_screen: RunScreen, columns: int, rows: int) -> None:
    screen = on_screen("models", "--sandbox", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    assert_fits(screen)
    stripped = [line.split("  ")[0].strip() for line in screen.lines]
    for model_id in IDS:
        assert model_id in stripped, screen.text
    assert "…" not in screen.text.replace("left out at this width", "")


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_inspect_on_screen_keeps_the_path_and_prompt_whole(
    on_screen: RunScreen, made: list[str], columns: int, rows: int
) -> None:
    screen = on_screen("inspect", f"out/{made[0]}", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    assert_fits(screen)
    assert_whole(screen, f"out/{made[0]}")
    assert_whole(screen, PROMPT)


@pytest.fixture
def no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """As cron runs it: no terminal and no COLUMNS."""
    monkeypatch.delenv("COLUMNS", raising=False)


def _assert_one_record_per_line(stdout: str, records: list[str]) -> None:
    lines = stdout.splitlines()
    for line in lines:
        assert line == line.rstrip(), f"trailing spaces: {line!r}"
    for record in records:
        assert sum(record in line for line in lines) == 1, stdout


@pytest.mark.usefixtures("no_columns")
def test_history_in_a_pipe_is_one_line_per_call(
    sandbox: Sandbox, workdir: Path, made: list[str]
) -> None:
    run = Flux2(workdir, sandbox.base_url)("history")
    assert run.returncode == 0, run.stderr
    _assert_one_record_per_line(run.out, made)
    assert "file · prompt" in run.out
    for line in run.out.splitlines():
        if any(name in line for name in made):
            assert line.startswith(made[0][:4])
            assert "1024×1024" in line
            assert PROMPT[:30] in line


@pytest.mark.usefixtures("no_columns")
def test_history_by_day_in_a_pipe(sandbox: Sandbox, workdir: Path, made: list[str]) -> None:
    run = Flux2(workdir, sandbox.base_url)("history", "--by", "day")
    assert run.returncode == 0, run.stderr
    _assert_one_record_per_line(run.out, [made[0][:10]])
    assert "counts as" in run.out
    assert "…" not in run.out


@pytest.mark.usefixtures("no_columns")
def test_models_in_a_pipe_is_one_line_per_model(workdir: Path) -> None:
    run = Flux2(workdir, None)("models", "--sandbox")
    assert run.returncode == 0, run.stderr
    _assert_one_record_per_line(run.out, list(IDS))
    assert "21:9 auto" in run.out
    assert "png jpeg" in run.out
    assert "…" not in run.out


@pytest.mark.usefixtures("no_columns")
def test_inspect_in_a_pipe_has_no_trailing_spaces(
    sandbox: Sandbox, workdir: Path, made: list[str]
) -> None:
    path = str(workdir / "out" / made[0])
    run = Flux2(workdir, sandbox.base_url)("inspect", path)
    assert run.returncode == 0, run.stderr
    _assert_one_record_per_line(run.out, [path, PROMPT])
