"""The spinner and the batch bar leave nothing behind, and paths are whole on lines of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pexpect
import pytest

from tests.screen.conftest import RunScreen
from tests.screen.harness import SIZES

pytestmark = [pytest.mark.screen, pytest.mark.slow]


def _written(workdir: Path, folder: str) -> list[str]:
    return sorted(f"{folder}/{p.name}" for p in (workdir / folder).iterdir())


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_generate_leaves_no_spinner_and_the_path_on_its_own_line(
    on_screen: RunScreen, workdir: Path, columns: int, rows: int
) -> None:
    screen = on_screen("generate", "a red fox", "-o", "out/", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    screen.assert_no_live_leftovers()
    (path,) = _written(workdir, "out")
    screen.assert_own_line(path)
    assert "Charged · output" in screen.text


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_several_images_paths_whole_and_in_index_order(
    on_screen: RunScreen, workdir: Path, columns: int, rows: int
) -> None:
    screen = on_screen(
        "generate", "a red fox", "-o", "out/{index}.png", "-n", "3", columns=columns, rows=rows
    )
    assert screen.exit_code == 0, screen.text
    screen.assert_no_live_leftovers()
    paths = [line for line in screen.lines if line.startswith("out/")]
    assert paths == ["out/1.png", "out/2.png", "out/3.png"], screen.text


def _batch(workdir: Path, count: int) -> None:
    lines = (f'{{"prompt": "prompt number {i} a small boat"}}\n' for i in range(count))
    (workdir / "batch.jsonl").write_text("".join(lines))


@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_batch_bar_is_erased_and_every_path_is_whole(
    on_screen: RunScreen, workdir: Path, columns: int, rows: int
) -> None:
    _batch(workdir, 13)
    screen = on_screen("generate", "--batch", "batch.jsonl", "-o", "r/", columns=columns, rows=rows)
    assert screen.exit_code == 0, screen.text
    screen.assert_no_live_leftovers()
    paths = _written(workdir, "r")
    assert len(paths) == 13
    for path in paths:
        screen.assert_own_line(path)
    assert "Batch summary" in screen.text


def test_ctrl_c_in_a_batch_leaves_no_bar(on_screen: RunScreen, workdir: Path) -> None:
    _batch(workdir, 40)

    def interrupt(child: pexpect.spawn[bytes]) -> None:
        child.expect(re.compile(rb"r/\S+\.jpg"), timeout=60)  # the first image is in
        child.sendintr()

    screen = on_screen(
        "generate", "--batch", "batch.jsonl", "-o", "r/", "--concurrency", "2", interact=interrupt
    )
    assert screen.exit_code == 130, screen.text
    screen.assert_no_live_leftovers()
    for path in _written(workdir, "r"):
        screen.assert_own_line(path)
    assert "interrupted" in screen.text.lower()
