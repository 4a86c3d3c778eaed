"""The preview ends on a line of its own; `-i -` at a terminal does not wait in silence."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_cli.sandbox import Sandbox
from tests.e2e.conftest import Flux2
from tests.screen.conftest import RunScreen
from tests.screen.harness import SIZES

pytestmark = [pytest.mark.screen, pytest.mark.slow]


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_preview_ends_before_the_prompt(
    on_screen: RunScreen, workdir: Path, columns: int, rows: int
) -> None:
    screen = on_screen(
        "generate",
        "a red fox",
        "-o",
        "fox.png",
        "--preview",
        "-q",
        columns=columns,
        rows=rows,
        colour=True,
    )
    assert screen.exit_code == 0, screen.text
    assert "▀" in screen.text
    assert screen.lines[-1].startswith("▀")  # the drawing is the last thing written …
    assert screen.cursor_x == 0, repr(screen.raw[-200:])  # … and the prompt starts a new line
    assert "fox.png" in screen.lines
    screen = on_screen("inspect", "fox.png", "--preview", columns=columns, rows=rows, colour=True)
    assert screen.exit_code == 0, screen.text
    assert screen.lines[-1].startswith("▀")
    assert screen.cursor_x == 0


def test_preview_with_a_batch_or_stdout_says_it_is_ignored(sandbox: Sandbox, workdir: Path) -> None:
    flux2 = Flux2(workdir, sandbox.base_url)
    (workdir / "b.jsonl").write_text('{"prompt": "a boat"}\n')
    run = flux2("generate", "--batch", "b.jsonl", "--preview", "-o", "r/")
    assert run.returncode == 0, run.stderr
    assert "--preview is ignored with --batch" in run.stderr
    run = flux2("generate", "a boat", "--preview", "-o", "-")
    assert run.returncode == 0, run.stderr
    assert "--preview is ignored with -o -" in run.stderr
    assert run.stdout[:2] == b"\xff\xd8"


def test_edit_image_from_stdin_at_a_terminal_is_refused(on_screen: RunScreen) -> None:
    screen = on_screen("edit", "make it night", "-i", "-", timeout=20)
    assert screen.exit_code == 2, screen.text
    assert "refusing to read image bytes from a terminal" in screen.text
    assert "< photo.jpg" in screen.text
