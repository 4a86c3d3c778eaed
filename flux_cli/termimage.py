"""Pictures in the terminal: which graphics protocol to use, and the escape sequences of each.

The terminal is never queried (a query waits for an answer that a pipe, a log or an old terminal
never gives); the choice comes from what the environment announces, see docs/terminal-graphics.md:

    kitty    kitty's graphics protocol: TERM=xterm-kitty, TERM_PROGRAM=WezTerm or ghostty
             (or KITTY_WINDOW_ID, WEZTERM_PANE, GHOSTTY_RESOURCES_DIR, which survive into tmux)
    iterm    iTerm2's inline images: TERM_PROGRAM=iTerm.app (or LC_TERMINAL=iTerm2)
    sixel    only when asked for: xterm, foot and mlterm announce nothing reliable
    blocks   half-block characters, everywhere else

Inside tmux (TMUX set) graphics reach the outer terminal only through tmux's passthrough, which
tmux ≥ 3.3 turns off by default; so there the preview falls back to blocks unless the user says
passthrough is on (the `preview.tmux_passthrough` setting), and then every sequence is wrapped.

Every encoder takes an RGB Pillow image already sized for the screen (`prepare`) and returns
text to write. Pillow is imported only by `prepare`, which decodes.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CELL_PIXELS",
    "PROTOCOLS",
    "Choice",
    "Protocol",
    "blocked",
    "choose",
    "configured_choice",
    "detect",
    "encode",
    "encode_iterm",
    "encode_kitty",
    "encode_sixel",
    "fit",
    "half_block_rows",
    "load",
    "pixel_box",
    "prepare",
    "tmux_wrap",
]

Protocol = Literal["blocks", "kitty", "iterm", "sixel"]
PROTOCOLS: tuple[Protocol, ...] = ("blocks", "kitty", "iterm", "sixel")
#: What a terminal cell usually measures in pixels; only used to size sixel images and to keep
#: kitty and iTerm2 transfers small. The terminal is never asked (see the module docstring).
CELL_PIXELS = (10, 20)
#: kitty splits the base64 payload into chunks of at most 4096 bytes.
KITTY_CHUNK = 4096
SIXEL_COLOURS = 256

_ESC = "\x1b"
_ST = "\x1b\\"

NOT_A_TERMINAL = "stderr is not a terminal"
NO_COLOUR = "colour is off"
DUMB_TERMINAL = "TERM is dumb"


@dataclass(frozen=True)
class Choice:
    protocol: Protocol
    wrap_for_tmux: bool = False
    note: str | None = None  # a line for the user: why the guess was not followed


def detect(environ: Mapping[str, str]) -> Protocol:
    """The protocol the environment announces: kitty, iterm or blocks (sixel is never guessed)."""
    term = environ.get("TERM", "").strip().lower()
    program = environ.get("TERM_PROGRAM", "").strip().lower()
    if term == "xterm-kitty" or program in ("wezterm", "ghostty"):
        return "kitty"
    if program == "iterm.app":
        return "iterm"
    # Inside tmux TERM and TERM_PROGRAM name tmux; these name the terminal around it.
    if any(
        environ.get(name) for name in ("KITTY_WINDOW_ID", "WEZTERM_PANE", "GHOSTTY_RESOURCES_DIR")
    ):
        return "kitty"
    if environ.get("LC_TERMINAL", "").strip() == "iTerm2":
        return "iterm"
    return "blocks"


def choose(
    requested: str | None,
    environ: Mapping[str, str],
    *,
    tmux_passthrough: bool = False,
) -> Choice:
    """What to draw with: `requested` (a flag or the setting; None or "auto": the guess), then
    the tmux rule. An unknown name is a ValueError (flags and settings are checked before)."""
    wanted = (requested or "auto").strip().lower()
    if wanted not in (*PROTOCOLS, "auto"):
        raise ValueError(f"unknown preview protocol {requested!r}")
    protocol: Protocol = detect(environ) if wanted == "auto" else wanted  # type: ignore[assignment]
    if protocol == "blocks" or not environ.get("TMUX"):
        return Choice(protocol)
    if tmux_passthrough:
        return Choice(protocol, wrap_for_tmux=True)
    return Choice(
        "blocks",
        note=f"inside tmux: {protocol} graphics need tmux's passthrough, drawing half-blocks "
        "instead (with `set -g allow-passthrough on` in tmux: "
        "flux2 config set preview.tmux_passthrough true)",
    )


def configured_choice(requested: str | None, environ: Mapping[str, str]) -> Choice:
    """The protocol for this run: `requested` (`--preview-protocol`), else the
    `preview.protocol` setting, else the guess; UsageError for a bad `preview.*` setting."""
    from flux_cli.config import effective

    if requested is None:
        requested, _ = effective("preview.protocol")
    passthrough, _ = effective("preview.tmux_passthrough")
    return choose(requested, environ, tmux_passthrough=bool(passthrough))


def blocked(
    protocol: str, environ: Mapping[str, str], *, terminal: bool, colour: bool
) -> str | None:
    """Why no preview can be drawn with `protocol` on stderr, or None when it can. `terminal`:
    stderr is a terminal; `colour`: its console draws colours. A graphics protocol is no
    colour text, so NO_COLOR stops only the half-blocks."""
    dumb = environ.get("TERM", "").strip().lower() == "dumb"
    if not terminal:
        return NOT_A_TERMINAL
    if protocol != "blocks":
        return DUMB_TERMINAL if dumb else None
    if "NO_COLOR" in environ or dumb or not colour:
        return NO_COLOUR
    return None


def fit(image_size: tuple[int, int], columns: int, rows: int) -> tuple[int, int]:
    """The pixel box the image is shrunk into: `columns` wide, two pixel rows per cell of `rows`."""
    width, height = image_size
    box_w, box_h = max(1, columns), max(2, 2 * max(1, rows))
    scale = min(box_w / width, box_h / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def prepare(
    data: bytes, columns: int, rows: int, box: tuple[int, int] | None = None
) -> Image.Image:
    """The image decoded under the usual checks, upright, shrunk to fit and composited on black.

    It fits `columns` × two pixel rows per cell of `rows` (the half-blocks), or the pixel `box`."""
    from PIL import Image, ImageOps

    from flux_cli.images import decode_image

    image, _ = decode_image(data)
    try:
        upright = ImageOps.exif_transpose(image)
        rgba = upright.convert("RGBA")
        target = fit(rgba.size, columns, rows) if box is None else box
        rgba.thumbnail(target, Image.Resampling.BILINEAR)
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        black.alpha_composite(rgba)
        return black.convert("RGB")
    finally:
        image.close()


class Unreadable(Exception):
    """An image that cannot be previewed; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def load(
    source: bytes | str | Path, columns: int, rows: int, box: tuple[int, int] | None = None
) -> Image.Image:
    """`prepare` for the image in `source` (its bytes, or a file); `Unreadable` when it cannot
    be read or decoded."""
    from flux_cli.images import InvalidImage

    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        return prepare(data, columns, rows, box)
    except InvalidImage as exc:
        raise Unreadable(exc.reason) from None
    except OSError as exc:
        raise Unreadable(exc.strerror or type(exc).__name__) from None


RGB = tuple[int, int, int]


def half_block_rows(image: Image.Image) -> list[list[tuple[RGB, RGB | None]]]:
    """The cells of a half-block picture of `image` (RGB, as it is): per row of cells, each
    cell's upper and lower pixel (None below the last row of an image of odd height)."""
    width, height = image.size
    raw = image.tobytes()
    pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, width * height * 3, 3)]
    return [
        [
            (pixels[top * width + x], pixels[(top + 1) * width + x] if top + 1 < height else None)
            for x in range(width)
        ]
        for top in range(0, height, 2)
    ]


def pixel_box(columns: int, rows: int) -> tuple[int, int]:
    """The most pixels `columns` × `rows` cells are likely to show."""
    return max(1, columns) * CELL_PIXELS[0], max(1, rows) * CELL_PIXELS[1]


def cells(size: tuple[int, int], columns: int, rows: int) -> tuple[int, int]:
    """How many cells (columns, rows) an image of `size` pixels covers when shown at most
    `columns` wide and `rows` high, at its own size or smaller, keeping its aspect ratio."""
    width, height = size
    cell_w, cell_h = CELL_PIXELS
    scale = min(columns * cell_w / width, rows * cell_h / height, 1.0)
    return (
        max(1, min(columns, round(width * scale / cell_w))),
        max(1, min(rows, round(height * scale / cell_h))),
    )


def tmux_wrap(sequence: str) -> str:
    """One escape sequence passed through tmux to the terminal outside it."""
    return f"{_ESC}Ptmux;{sequence.replace(_ESC, _ESC + _ESC)}{_ST}"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def encode_kitty(image: Image.Image, columns: int, rows: int) -> list[str]:
    """kitty's graphics protocol: transmit and display a PNG (`a=T,f=100`), no replies (`q=2`:
    a reply would land in the shell's input), over at most `columns` × `rows` cells.

    One sequence per chunk: a tmux passthrough wraps each on its own."""
    payload = base64.standard_b64encode(_png(image)).decode("ascii")
    across, down = cells(image.size, columns, rows)
    chunks = [payload[i : i + KITTY_CHUNK] for i in range(0, len(payload), KITTY_CHUNK)] or [""]
    sequences = []
    for index, chunk in enumerate(chunks):
        more = 1 if index < len(chunks) - 1 else 0
        keys = f"a=T,f=100,q=2,c={across},r={down},m={more}" if index == 0 else f"m={more}"
        sequences.append(f"{_ESC}_G{keys};{chunk}{_ST}")
    return sequences


def encode_iterm(image: Image.Image, columns: int, rows: int) -> list[str]:
    """iTerm2's inline image (OSC 1337 File=), a PNG over at most `columns` × `rows` cells."""
    data = _png(image)
    across, down = cells(image.size, columns, rows)
    payload = base64.standard_b64encode(data).decode("ascii")
    return [
        f"{_ESC}]1337;File=inline=1;size={len(data)};width={across};height={down};"
        f"preserveAspectRatio=1:{payload}\x07"
    ]


_SIXEL_RUN = re.compile(rb"(.)\1{3,}", re.DOTALL)


def _run_length(match: re.Match[bytes]) -> bytes:
    return b"!%d%s" % (len(match.group(0)), match.group(1))


def encode_sixel(image: Image.Image, colours: int = SIXEL_COLOURS) -> list[str]:
    """DEC sixel: the image quantised to a palette of at most `colours`, drawn pixel for pixel.

    Each band of six pixel rows is written colour by colour: for one colour, a character per
    column whose six bits say which of the six pixels have it (`?` + bits), runs of four or more
    shortened to `!n` + character; `$` returns to the band's start, `-` moves to the next band.
    The bit planes are built with bytes.translate over whole rows, so a band costs a few C calls
    per colour instead of a Python loop per pixel."""
    from PIL import Image

    rgb = image.convert("RGB")
    quantised = rgb.quantize(
        colors=max(2, min(256, colours)), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    width, height = quantised.size
    palette = quantised.getpalette() or []
    used = sorted(set(quantised.tobytes()))
    raw = quantised.tobytes()
    out = [f'{_ESC}P0;1;0q"1;1;{width};{height}'.encode("ascii")]
    for index in used:
        r, g, b = palette[3 * index : 3 * index + 3]
        # Sixel colours are percentages; round to the nearest.
        out.append(
            b"#%d;2;%d;%d;%d"
            % (index, (r * 100 + 127) // 255, (g * 100 + 127) // 255, (b * 100 + 127) // 255)
        )
    zero = bytes(width)
    planes: dict[tuple[int, int], bytes] = {}
    to_char = bytes((value + 63) if value < 64 else 0 for value in range(256))
    for top in range(0, height, 6):
        rows = [raw[y * width : (y + 1) * width] for y in range(top, min(top + 6, height))]
        present = sorted(set(b"".join(rows)))
        band: list[bytes] = []
        for index in present:
            bits = 0
            for k, row in enumerate(rows):
                table = planes.get((index, k))
                if table is None:
                    table = bytes((1 << k) if value == index else 0 for value in range(256))
                    planes[(index, k)] = table
                plane = row.translate(table)
                if plane != zero:
                    bits |= int.from_bytes(plane, "big")
            line = bits.to_bytes(width, "big").translate(to_char)
            band.append(b"#%d%s" % (index, _SIXEL_RUN.sub(_run_length, line)))
        out.append(b"$".join(band) + b"-")
    out.append(_ST.encode("ascii"))
    return [b"".join(out).decode("ascii")]


def encode(protocol: Protocol, image: Image.Image, columns: int, rows: int) -> list[str]:
    """The sequences that draw `image` with a graphics protocol (not blocks)."""
    if protocol == "kitty":
        return encode_kitty(image, columns, rows)
    if protocol == "iterm":
        return encode_iterm(image, columns, rows)
    if protocol == "sixel":
        return encode_sixel(image)
    raise ValueError(f"{protocol} is not a graphics protocol")
