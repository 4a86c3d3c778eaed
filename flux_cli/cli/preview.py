"""`--preview`: the image drawn in the terminal with half-block characters (product.md §2).

Each terminal cell is '▀' with the upper pixel as its foreground colour and the lower pixel as its
background, so one cell shows two pixel rows. The preview goes to stderr (stdout is data only), and
only to a terminal that takes colour; it is a convenience, so a failure to draw is a warning.
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

UPPER_HALF = "▀"
NOT_A_TERMINAL = "stderr is not a terminal"
NO_COLOUR = "colour is off"


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


def blocked(app: App) -> str | None:
    """Why no preview can be drawn here, or None when it can."""
    if not app.stderr_is_tty():
        return NOT_A_TERMINAL
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


def prepare(data: bytes, columns: int, rows: int) -> Image.Image:
    """The image decoded under the usual checks, upright, shrunk to fit and composited on black."""
    from PIL import Image, ImageOps

    from flux_cli.images import decode_image

    image, _ = decode_image(data)
    try:
        upright = ImageOps.exif_transpose(image)
        rgba = upright.convert("RGBA")
        rgba.thumbnail(fit(rgba.size, columns, rows), Image.Resampling.BILINEAR)
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        black.alpha_composite(rgba)
        return black.convert("RGB")
    finally:
        image.close()


def show_preview(app: App, source: bytes | str | Path, *, announce_skip: bool = True) -> None:
    """Draw the image on stderr, sized to the terminal: the full width at most and about half
    its height. Off a terminal, says so once (unless -q); with colour off, draws nothing."""
    reason = blocked(app)
    if reason is not None:
        if reason == NOT_A_TERMINAL and announce_skip:
            app.info(f"preview skipped: {reason}")
        return
    from flux_cli.images import InvalidImage

    console = app.err
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        image = prepare(data, console.width, max(1, console.height // 2))
    except InvalidImage as exc:
        app.warn(f"cannot preview the image: {exc.reason}")
        return
    except OSError as exc:
        app.warn(f"cannot preview the image: {exc.strerror or type(exc).__name__}")
        return
    console.print(HalfBlocks(image), soft_wrap=True, crop=False)
