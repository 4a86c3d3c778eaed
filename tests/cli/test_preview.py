"""`--preview`: half-block drawing on stderr, sized to the terminal, only on a colour terminal."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from rich.console import Console

from flux_cli.cli.context import App
from flux_cli.cli.preview import HalfBlocks, show_preview

_ESCAPES = re.compile(r"\x1b\[[0-9;]*m")
_TRUECOLOR_FG = re.compile(r"\x1b\[[0-9;]*38;2;\d+;\d+;\d+")
_TRUECOLOR_BG = re.compile(r"\x1b\[[0-9;]*48;2;\d+;\d+;\d+")


def png(size: tuple[int, int], colour: tuple[int, ...] = (200, 40, 40), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


def terminal(width: int = 40, height: int = 24) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=True, color_system="truecolor", width=width, height=height
    )
    return console, buffer


@dataclass
class FakeApp(App):
    tty: bool = True

    def stderr_is_tty(self) -> bool:
        return self.tty


@pytest.fixture(autouse=True)
def colour_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def rows_of(text: str) -> list[str]:
    return _ESCAPES.sub("", text).rstrip("\n").split("\n")


def test_each_cell_is_an_upper_half_block_with_two_truecolour_pixels() -> None:
    console, buffer = terminal()
    image = Image.new("RGB", (10, 6), (255, 0, 0))
    image.paste((0, 0, 255), (0, 3, 10, 6))  # rows 3-5 blue: the middle cell row is split
    console.print(HalfBlocks(image))
    text = buffer.getvalue()
    assert rows_of(text) == ["▀" * 10] * 3
    assert "38;2;255;0;0" in text  # red above
    assert "48;2;0;0;255" in text  # blue below
    assert _TRUECOLOR_FG.search(text)
    assert _TRUECOLOR_BG.search(text)


def test_an_odd_last_pixel_row_has_no_background() -> None:
    console, buffer = terminal()
    console.print(HalfBlocks(Image.new("RGB", (4, 3), (0, 255, 0))))
    lines = buffer.getvalue().rstrip("\n").split("\n")
    assert len(lines) == 2
    assert "48;2;" in lines[0]
    assert "48;2;" not in lines[1]


def test_show_preview_fits_the_terminal_width_and_half_its_height(tmp_path: Path) -> None:
    console, buffer = terminal(width=40, height=24)
    app = FakeApp(_err=console)
    path = tmp_path / "wide.png"
    path.write_bytes(png((1024, 768)))
    show_preview(app, path)
    rows = rows_of(buffer.getvalue())
    assert len(rows) == 12  # about half of 24 rows, two pixel rows per cell
    assert all(len(row) <= 40 for row in rows)
    assert rows[0] == "▀" * 32  # 1024x768 into 40x24 pixels keeps 4:3
    assert _TRUECOLOR_FG.search(buffer.getvalue())


def test_show_preview_is_bounded_by_the_width_for_wide_images() -> None:
    console, buffer = terminal(width=40, height=100)
    show_preview(FakeApp(_err=console), png((2048, 512)))
    rows = rows_of(buffer.getvalue())
    assert {len(row) for row in rows} == {40}
    assert len(rows) == 5  # 40x10 pixels


def test_off_a_terminal_nothing_is_drawn_and_one_line_says_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, buffer = terminal()
    app = FakeApp(_err=console, tty=False)
    show_preview(app, png((64, 64)))
    assert "▀" not in buffer.getvalue()
    assert "flux2: preview skipped: stderr is not a terminal" in buffer.getvalue()
    assert capsys.readouterr().out == ""


def test_quiet_and_repeat_skips_say_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    console, buffer = terminal()
    show_preview(FakeApp(_err=console, tty=False, quiet=True), png((64, 64)))
    show_preview(FakeApp(_err=console, tty=False), png((64, 64)), announce_skip=False)
    assert buffer.getvalue() == ""
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(("variable", "value"), [("NO_COLOR", "1"), ("TERM", "dumb")])
def test_with_colour_off_nothing_is_drawn(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    console, buffer = terminal()
    show_preview(FakeApp(_err=console), png((64, 64)))
    assert buffer.getvalue() == ""


def test_an_unreadable_image_is_a_warning_not_a_failure() -> None:
    console, buffer = terminal()
    show_preview(FakeApp(_err=console), b"not an image")
    assert "warning: cannot preview the image" in buffer.getvalue()
    assert "▀" not in buffer.getvalue()


def test_inspect_preview_off_a_terminal_keeps_stdout_for_the_result(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flux_cli.cli.registry import app

    path = tmp_path / "plain.png"
    path.write_bytes(png((32, 32)))
    result = CliRunner().invoke(app, ["inspect", str(path), "--preview", "--json"])
    assert result.exit_code == 0, result.stderr
    assert "preview skipped: stderr is not a terminal" in result.stderr
    assert "▀" not in result.stdout + result.stderr
    assert result.stdout.count("\n") == 1
    assert '"width": 32' in result.stdout


@pytest.mark.e2e
def test_generate_preview_with_stderr_not_a_terminal_says_so_and_stdout_stays_the_path(
    tmp_path: Path,
) -> None:
    from flux_cli.sandbox import Sandbox, SandboxConfig
    from tests.e2e.conftest import Flux2

    workdir = tmp_path / "work"
    workdir.mkdir()
    with Sandbox(SandboxConfig(port=0)) as sandbox:
        result = Flux2(workdir, sandbox.base_url)(
            "generate", "a red fox", "--preview", env={"TERM": "xterm-256color"}
        )
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    lines = result.out.splitlines()
    assert len(lines) == 1
    assert (workdir / lines[0]).is_file()
    assert result.stderr.count("flux2: preview skipped: stderr is not a terminal") == 1
    assert "▀" not in result.stderr
