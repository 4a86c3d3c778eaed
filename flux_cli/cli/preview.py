"""`--preview`: the image drawn in the terminal (README.md#commands).

Where the terminal announces a graphics protocol (kitty, iTerm2; sixel on request) the real image
is drawn with it (`flux_cli.termimage`); everywhere else with half-block characters: each cell is
'▀' with the upper pixel as its foreground colour and the lower pixel as its background, so one
cell shows two pixel rows. The choice: `--preview-protocol`, else the `preview.protocol` setting,
else the guess from the environment. The preview goes to stderr (stdout is data only), and only to
a terminal; it is a convenience, so a failure to draw is a warning.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.segment import Segment

    from flux_cli.cli.context import App
    from flux_cli.termimage import Choice

UPPER_HALF = "▀"
NOT_A_TERMINAL = "stderr is not a terminal"
NO_COLOUR = "colour is off"
DUMB_TERMINAL = "TERM is dumb"


class HalfBlocks:
    """A Rich renderable of an RGB image, one '▀' cell per two pixel rows, as it is (no scaling)."""

    def __init__(self, image: Image.Image) -> None:
        self.image = image.convert("RGB") if image.mode != "RGB" else image

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.segments()

    def segments(self) -> Iterator[Segment]:
        from rich.color import Color
        from rich.segment import Segment
        from rich.style import Style

        width, height = self.image.size
        raw = self.image.tobytes()
        pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, width * height * 3, 3)]
        styles: dict[tuple[tuple[int, int, int], tuple[int, int, int] | None], Style] = {}
        for top in range(0, height, 2):
            for x in range(width):
                upper = pixels[top * width + x]
                lower = pixels[(top + 1) * width + x] if top + 1 < height else None
                key = (upper, lower)
                style = styles.get(key)
                if style is None:
                    style = Style(
                        color=Color.from_rgb(*upper),
                        bgcolor=Color.from_rgb(*lower) if lower is not None else None,
                    )
                    styles[key] = style
                yield Segment(UPPER_HALF, style)
            yield Segment.line()  # the last row too: what comes next starts on a line of its own


def blocked(app: App, protocol: str = "blocks") -> str | None:
    """Why no preview can be drawn here with `protocol`, or None when it can. A graphics
    protocol is no colour text, so NO_COLOR stops only the half-blocks."""
    if not app.stderr_is_tty():
        return NOT_A_TERMINAL
    if protocol != "blocks":
        return DUMB_TERMINAL if os.environ.get("TERM", "").strip().lower() == "dumb" else None
    if (
        "NO_COLOR" in os.environ
        or os.environ.get("TERM", "").strip().lower() == "dumb"
        or app.err.color_system is None
    ):
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


def choice(app: App) -> Choice:
    """The protocol for this run: `--preview-protocol`, else the setting, else the guess."""
    from flux_cli.config import effective
    from flux_cli.termimage import choose

    requested = app.preview_protocol
    if requested is None:
        requested, _ = effective("preview.protocol")
    passthrough, _ = effective("preview.tmux_passthrough")
    return choose(requested, os.environ, tmux_passthrough=bool(passthrough))


def show_preview(app: App, source: bytes | str | Path, *, announce_skip: bool = True) -> None:
    """Draw the image on stderr, sized to the terminal: the full width at most and about half
    its height. Off a terminal, says so once (unless -q); with colour off, half-blocks draw
    nothing. A bad `preview.*` setting is a warning: the image is already saved."""
    from flux_cli.errors import UsageError

    try:
        chosen = choice(app)
    except UsageError as exc:
        app.warn(f"cannot preview the image: {exc.message}")
        return
    reason = blocked(app, chosen.protocol)
    if reason is not None:
        if reason == NOT_A_TERMINAL and announce_skip:
            app.info(f"preview skipped: {reason}")
        return
    if chosen.note is not None and announce_skip:
        app.info(chosen.note)
    from flux_cli.images import InvalidImage
    from flux_cli.termimage import encode, pixel_box, tmux_wrap

    console = app.err
    columns, rows = console.width, max(1, console.height // 2)
    box = None if chosen.protocol == "blocks" else pixel_box(columns, rows)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        image = prepare(data, columns, rows, box)
    except InvalidImage as exc:
        app.warn(f"cannot preview the image: {exc.reason}")
        return
    except OSError as exc:
        app.warn(f"cannot preview the image: {exc.strerror or type(exc).__name__}")
        return
    if chosen.protocol == "blocks":
        console.print(HalfBlocks(image), soft_wrap=True, crop=False)
        return
    sequences = encode(chosen.protocol, image, columns, rows)
    if chosen.wrap_for_tmux:
        sequences = [tmux_wrap(sequence) for sequence in sequences]
    stream = console.file
    stream.write("".join(sequences) + "\n")
    stream.flush()
