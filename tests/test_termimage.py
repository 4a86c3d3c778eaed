"""Terminal graphics: what each protocol writes decodes back into the image it was given."""

from __future__ import annotations

import base64
import io
import random
import re
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat
from rich.console import Console

from flux_cli.cli.context import App
from flux_cli.cli.preview import show_preview
from flux_cli.termimage import (
    KITTY_CHUNK,
    choose,
    detect,
    encode_iterm,
    encode_kitty,
    encode_sixel,
    fit,
    prepare,
    tmux_wrap,
)

# -- decoders: written from the protocol documents (docs/terminal-graphics.md), not from the code


def decode_kitty(text: str) -> tuple[Image.Image, dict[str, str]]:
    chunks = re.findall(r"\x1b_G([^;]*);([A-Za-z0-9+/=]*)\x1b\\", text)
    assert chunks, "no kitty graphics sequence"
    keys = dict(item.split("=", 1) for item in chunks[0][0].split(","))
    for index, (control, chunk) in enumerate(chunks):
        more = dict(item.split("=", 1) for item in control.split(","))["m"]
        assert more == ("0" if index == len(chunks) - 1 else "1")
        assert len(chunk) <= KITTY_CHUNK
    payload = base64.b64decode("".join(chunk for _, chunk in chunks), validate=True)
    return Image.open(io.BytesIO(payload)), keys


def decode_iterm(text: str) -> tuple[Image.Image, dict[str, str]]:
    match = re.search(r"\x1b\]1337;File=([^:]*):([A-Za-z0-9+/=]*)\x07", text)
    assert match, "no iTerm2 inline image"
    keys = dict(item.split("=", 1) for item in match.group(1).split(";"))
    payload = base64.b64decode(match.group(2), validate=True)
    assert int(keys["size"]) == len(payload)
    return Image.open(io.BytesIO(payload)), keys


def decode_sixel(text: str) -> Image.Image:
    match = re.search(r"\x1bP[0-9;]*q(.*?)\x1b\\", text, re.DOTALL)
    assert match, "no sixel sequence"
    body = match.group(1)
    raster = re.match(r'"1;1;(\d+);(\d+)', body)
    assert raster
    width, height = int(raster.group(1)), int(raster.group(2))
    image = Image.new("RGB", (width, height), (255, 0, 255))
    pixels = image.load()
    assert pixels is not None
    palette: dict[int, tuple[int, int, int]] = {}
    colour, x, top = 0, 0, 0
    pos = raster.end()
    while pos < len(body):
        char = body[pos]
        if char == "#":
            found = re.match(r"#(\d+)(;2;(\d+);(\d+);(\d+))?", body[pos:])
            assert found
            colour = int(found.group(1))
            if found.group(2):
                palette[colour] = tuple(round(int(found.group(n)) * 255 / 100) for n in (3, 4, 5))  # type: ignore[assignment]
            pos += found.end()
            continue
        if char == "$":
            x = 0
        elif char == "-":
            x, top = 0, top + 6
        else:
            count = 1
            if char == "!":
                found = re.match(r"!(\d+)(.)", body[pos:])
                assert found
                count, char = int(found.group(1)), found.group(2)
                pos += found.end() - 1
            bits = ord(char) - 63
            assert 0 <= bits < 64
            for _ in range(count):
                for k in range(6):
                    if bits & (1 << k) and top + k < height:
                        pixels[x, top + k] = palette[colour]
                x += 1  # noqa: SIM113 - runs advance it too
        pos += 1
    return image


def sample(size: tuple[int, int] = (96, 61)) -> Image.Image:
    """A gradient with a few flat blocks: smooth areas and sharp edges, several colours."""
    width, height = size
    image = Image.new("RGB", size)
    image.putdata(
        [
            (x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height))
            for y in range(height)
            for x in range(width)
        ]
    )
    image.paste((250, 250, 250), (5, 5, 25, 20))
    image.paste((10, 10, 10), (40, 30, 60, 50))
    return image


def mean_error(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def test_kitty_decodes_to_the_same_pixels() -> None:
    image = sample()
    sequences = encode_kitty(image, columns=80, rows=24)
    decoded, keys = decode_kitty("".join(sequences))
    assert decoded.size == image.size
    assert mean_error(decoded, image) == 0
    assert keys["a"] == "T"
    assert keys["f"] == "100"
    assert keys["q"] == "2"
    assert (keys["c"], keys["r"]) == ("10", "3")  # 96x61 px at 10x20 px per cell


def test_kitty_splits_a_large_payload_into_chunks() -> None:
    noisy = Image.frombytes("RGB", (200, 200), random.Random(7).randbytes(120000))
    sequences = encode_kitty(noisy, columns=80, rows=24)
    assert len(sequences) > 3
    decoded, _ = decode_kitty("".join(sequences))
    assert mean_error(decoded, noisy) == 0


def test_iterm_decodes_to_the_same_pixels() -> None:
    image = sample()
    decoded, keys = decode_iterm("".join(encode_iterm(image, columns=80, rows=24)))
    assert decoded.size == image.size
    assert mean_error(decoded, image) == 0
    assert keys["inline"] == "1"
    assert (keys["width"], keys["height"]) == ("10", "3")


def test_sixel_decodes_to_the_image_within_the_palette_error() -> None:
    image = sample()
    decoded = decode_sixel("".join(encode_sixel(image)))
    assert decoded.size == image.size
    assert (255, 0, 255) not in {decoded.getpixel((x, y)) for x in range(96) for y in range(61)}
    assert mean_error(decoded, image) < 4  # 256 colours for a smooth gradient
    assert decoded.getpixel((10, 10)) == pytest.approx((250, 250, 250), abs=4)


def test_sixel_with_a_tiny_palette_still_covers_every_pixel() -> None:
    image = sample((13, 7))  # a last band of one row
    decoded = decode_sixel("".join(encode_sixel(image, colours=4)))
    assert decoded.size == (13, 7)
    assert all(decoded.getpixel((x, y)) != (255, 0, 255) for x in range(13) for y in range(7))
    # Exactly the four-colour image, but for sixel's percent steps (at most 255/200 apart).
    expected = image.quantize(4, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    extrema = ImageChops.difference(decoded, expected.convert("RGB")).getextrema()
    assert max(high for _, high in extrema) <= 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TERM": "xterm-kitty"}, "kitty"),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "WezTerm"}, "kitty"),
        ({"TERM": "xterm-ghostty", "TERM_PROGRAM": "ghostty"}, "kitty"),
        ({"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"}, "iterm"),
        ({"TERM": "tmux-256color", "TERM_PROGRAM": "tmux", "LC_TERMINAL": "iTerm2"}, "iterm"),
        ({"TERM": "tmux-256color", "KITTY_WINDOW_ID": "3"}, "kitty"),
        ({"TERM": "xterm-256color"}, "blocks"),  # xterm may have sixel, or not: never guessed
        ({"TERM": "foot"}, "blocks"),
        ({}, "blocks"),
    ],
)
def test_the_guess_follows_what_the_environment_announces(
    environ: dict[str, str], expected: str
) -> None:
    assert detect(environ) == expected


def test_a_request_overrides_the_guess() -> None:
    assert choose("sixel", {"TERM": "xterm-kitty"}).protocol == "sixel"
    assert choose("blocks", {"TERM": "xterm-kitty"}).protocol == "blocks"
    assert choose("auto", {"TERM": "xterm-kitty"}).protocol == "kitty"
    with pytest.raises(ValueError, match="unknown preview protocol"):
        choose("png", {})


def test_inside_tmux_graphics_fall_back_unless_passthrough_is_on() -> None:
    environ = {"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0", "KITTY_WINDOW_ID": "1"}
    fallback = choose(None, environ)
    assert fallback.protocol == "blocks"
    assert fallback.note is not None
    assert "inside tmux" in fallback.note
    through = choose(None, environ, tmux_passthrough=True)
    assert (through.protocol, through.wrap_for_tmux, through.note) == ("kitty", True, None)


def test_tmux_wrapping_doubles_every_escape_and_unwraps_to_the_sequence() -> None:
    sequence = "".join(encode_kitty(sample((8, 8)), 10, 10))
    wrapped = tmux_wrap(sequence)
    assert wrapped.startswith("\x1bPtmux;\x1b\x1b_G")
    assert wrapped.endswith("\x1b\\")
    assert wrapped[len("\x1bPtmux;") : -2].replace("\x1b\x1b", "\x1b") == sequence


# -- through show_preview, as --preview draws ----------------------------------------------------


class TerminalApp(App):
    def stderr_is_tty(self) -> bool:
        return True


def terminal_app(width: int = 80, height: int = 48) -> tuple[App, io.StringIO]:
    buffer = io.StringIO()
    console = Console(
        file=buffer, force_terminal=True, color_system="truecolor", width=width, height=height
    )
    return TerminalApp(_err=console), buffer


def write_png(path: Path, image: Image.Image) -> Path:
    image.save(path, "PNG")
    return path


@pytest.mark.parametrize(
    ("environ", "decoder"),
    [
        ({"TERM": "xterm-kitty"}, lambda text: decode_kitty(text)[0]),
        (
            {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"},
            lambda text: decode_iterm(text)[0],
        ),
    ],
)
def test_preview_draws_the_file_with_the_announced_protocol(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environ: dict[str, str], decoder: object
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    image = sample()
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", image))
    decoded = decoder(buffer.getvalue())  # type: ignore[operator]
    assert decoded.size == image.size  # small enough to go at its own size
    assert mean_error(decoded, image) == 0
    assert "▀" not in buffer.getvalue()


def test_preview_shrinks_a_large_image_for_sixel_and_keeps_its_shape(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    big = sample((1024, 768))
    app, buffer = terminal_app(width=40, height=24)
    app.preview_protocol = "sixel"
    show_preview(app, write_png(tmp_path / "big.png", big))
    decoded = decode_sixel(buffer.getvalue())
    assert decoded.size == (320, 240)  # 40 columns x 12 rows of 10x20 px, 4:3 kept
    assert mean_error(decoded, big.resize((320, 240), Image.Resampling.BILINEAR)) < 6


def test_the_setting_chooses_when_no_flag_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERM", "xterm-kitty")
    monkeypatch.setenv("FLUX2_PREVIEW_PROTOCOL", "iterm")
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", sample()))
    assert "\x1b]1337;File=" in buffer.getvalue()
    assert "\x1b_G" not in buffer.getvalue()


def test_no_color_stops_half_blocks_but_not_a_graphics_protocol(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-kitty")
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", sample()))
    assert "\x1b_G" in buffer.getvalue()


def test_in_tmux_without_passthrough_says_so_and_draws_blocks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "tmux-256color")
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    monkeypatch.setenv("KITTY_WINDOW_ID", "1")
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", sample()))
    text = buffer.getvalue()
    assert "inside tmux" in text
    assert "▀" in text
    assert "\x1b_G" not in text
    monkeypatch.setenv("FLUX2_PREVIEW_TMUX_PASSTHROUGH", "true")
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", sample()))
    assert buffer.getvalue().startswith("\x1bPtmux;\x1b\x1b_G")


def test_a_bad_setting_is_a_warning_and_draws_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("FLUX2_PREVIEW_PROTOCOL", "png")
    app, buffer = terminal_app()
    show_preview(app, write_png(tmp_path / "s.png", sample()))
    assert "warning: cannot preview the image: preview.protocol" in buffer.getvalue()


def test_inspect_takes_a_protocol_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flux_cli.cli.registry import app

    path = write_png(tmp_path / "s.png", sample())
    result = CliRunner().invoke(app, ["inspect", str(path), "--preview-protocol", "sixel"])
    assert result.exit_code == 0, result.stderr
    assert "preview skipped: stderr is not a terminal" in result.stderr  # implied --preview
    bad = CliRunner().invoke(app, ["inspect", str(path), "--preview-protocol", "png"])
    assert bad.exit_code == 2
    assert "'png' is not one of auto, blocks, kitty, iterm, sixel" in bad.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("args", "environ", "marker"),
    [
        (["--preview-protocol", "kitty"], {"TERM": "xterm-256color"}, b"\x1b_Ga=T,f=100"),
        (["--preview=kitty"], {"TERM": "xterm-256color"}, b"\x1b_Ga=T,f=100"),
        (["--preview=sixel"], {"TERM": "xterm-kitty"}, b"\x1bP0;1;0q"),
        (
            ["--preview"],
            {"TERM": "xterm-256color", "TERM_PROGRAM": "iTerm.app"},
            b"\x1b]1337;File=",
        ),
        (
            ["--preview"],
            {"TERM": "xterm-256color", "FLUX2_PREVIEW_PROTOCOL": "sixel"},
            b"\x1bP0;1;0q",
        ),
    ],
)
def test_generate_draws_on_a_real_terminal_with_the_chosen_protocol(
    tmp_path: Path, args: list[str], environ: dict[str, str], marker: bytes
) -> None:
    """The installed flux2 with stderr on a pseudo-terminal: what reaches it decodes to the file."""
    import os
    import pty
    import subprocess

    from tests.e2e.conftest import flux2_command

    primary, secondary = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "48", **environ}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a red fox", "--sandbox", "-q", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    out, _ = proc.communicate(timeout=60)
    os.close(primary)
    assert proc.returncode == 0
    written = tmp_path / out.decode().strip()
    seen = b"".join(chunks)
    assert marker in seen
    text = seen.decode("ascii", "replace")
    with Image.open(written) as original:
        if marker.startswith(b"\x1b_G"):
            decoded = decode_kitty(text)[0]
        elif marker.startswith(b"\x1b]"):
            decoded = decode_iterm(text)[0]
        else:
            decoded = decode_sixel(text)
        # 1024x1024 into 80 columns x 24 rows of 10x20 px: 480x480, the same picture
        assert decoded.size == (480, 480)
        expected = original.convert("RGB").resize(decoded.size, Image.Resampling.BILINEAR)
        # PNG is lossless (the only error is resampling twice); sixel adds its 256-colour palette
        assert mean_error(decoded, expected) < (8 if marker.endswith(b"q") else 3)


# -- sizing and decoding for the screen


def png(size: tuple[int, int], colour: tuple[int, ...] = (200, 40, 40), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "columns", "rows", "expected"),
    [
        ((1024, 1024), 40, 12, (24, 24)),  # height-bound: 12 cells = 24 pixel rows
        ((1024, 512), 40, 50, (40, 20)),  # width-bound
        ((16, 8), 40, 12, (16, 8)),  # never enlarged
        ((4000, 10), 40, 12, (40, 1)),  # never below one pixel
    ],
)
def test_fit_keeps_the_aspect_ratio_inside_the_box(
    size: tuple[int, int], columns: int, rows: int, expected: tuple[int, int]
) -> None:
    assert fit(size, columns, rows) == expected


def test_prepare_composites_alpha_on_black() -> None:
    image = prepare(png((8, 8), (255, 255, 255, 0), mode="RGBA"), 40, 12)
    assert image.mode == "RGB"
    assert image.getpixel((0, 0)) == (0, 0, 0)
    half = prepare(png((8, 8), (200, 100, 50, 255), mode="RGBA"), 40, 12)
    assert half.getpixel((0, 0)) == (200, 100, 50)


# -- what the half-blocks and the loader give ------------------------------------------------------


def test_half_block_rows_pair_each_pixel_with_the_one_below() -> None:
    from flux_cli.termimage import half_block_rows

    image = Image.new("RGB", (2, 3), (0, 0, 0))
    image.putpixel((1, 1), (9, 8, 7))
    image.putpixel((0, 2), (1, 2, 3))
    assert half_block_rows(image) == [
        [((0, 0, 0), (0, 0, 0)), ((0, 0, 0), (9, 8, 7))],
        [((1, 2, 3), None), ((0, 0, 0), None)],  # odd height: the last cells have no lower pixel
    ]


def test_load_reads_a_file_or_bytes_and_says_why_it_cannot(tmp_path: Path) -> None:
    from flux_cli.termimage import Unreadable, load

    path = write_png(tmp_path / "s.png", sample())
    assert load(path, 8, 4).size == load(path.read_bytes(), 8, 4).size
    with pytest.raises(Unreadable) as missing:
        load(tmp_path / "gone.png", 8, 4)
    assert "No such file" in missing.value.reason
    with pytest.raises(Unreadable):
        load(b"not an image", 8, 4)
