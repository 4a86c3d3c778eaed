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

UPPER_HALF = "▀"


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

        from flux_cli.termimage import half_block_rows

        styles: dict[object, Style] = {}
        for row in half_block_rows(self.image):
            for upper, lower in row:
                style = styles.get((upper, lower))
                if style is None:
                    style = styles[upper, lower] = Style(
                        color=Color.from_rgb(*upper),
                        bgcolor=Color.from_rgb(*lower) if lower is not None else None,
                    )
                yield Segment(UPPER_HALF, style)
            yield Segment.line()  # the last row too: what comes next starts on a line of its own


def show_preview(app: App, source: bytes | str | Path, *, announce_skip: bool = True) -> None:
    """Draw the image on stderr, sized to the terminal: the full width at most and about half
    its height. Off a terminal, says so once (unless -q); with colour off, half-blocks draw
    nothing. A bad `preview.*` setting is a warning: the image is already saved."""
    from flux_cli.errors import UsageError
    from flux_cli.termimage import NOT_A_TERMINAL, blocked, configured_choice

    try:
        chosen = configured_choice(app.preview_protocol, os.environ)
    except UsageError as exc:
        app.warn(f"cannot preview the image: {exc.message}")
        return
    terminal = app.stderr_is_tty()
    colour = terminal and app.err.color_system is not None
    reason = blocked(chosen.protocol, os.environ, terminal=terminal, colour=colour)
    if reason is not None:
        if reason == NOT_A_TERMINAL and announce_skip:
            app.info(f"preview skipped: {reason}")
        return
    if chosen.note is not None and announce_skip:
        app.info(chosen.note)
    from flux_cli.termimage import Unreadable, encode, load, pixel_box, tmux_wrap

    console = app.err
    columns, rows = console.width, max(1, console.height // 2)
    box = None if chosen.protocol == "blocks" else pixel_box(columns, rows)
    try:
        image = load(source, columns, rows, box)
    except Unreadable as exc:
        app.warn(f"cannot preview the image: {exc.reason}")
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
