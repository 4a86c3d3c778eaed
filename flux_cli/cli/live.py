"""Live displays on stderr (the spinner, the batch bar) that share a terminal with data on stdout.

A path written to stdout while a spinner is drawn on stderr lands wherever the cursor is: at the end
of the spinner line. The spinner is then erased by line count and takes the wrong lines with it, or
stays on screen with the path glued to it. So while a live display is up, data for stdout is written
above it: the display is erased first, the data written, and the display drawn again below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.live import Live

    from flux_cli.cli.context import App


@contextmanager
def shown(app: App, live: Live) -> Iterator[Live]:
    """Start `live` and let `app.display` write above it until it stops (erased, if transient)."""
    with live:
        app.live = live
        try:
            yield live
        finally:
            app.live = None


def write_above(live: Live, write: Callable[[], None]) -> None:
    """Erase the live area, `write` (to another stream on the same terminal), draw it again."""
    # Rich keeps the area's height in its LiveRender; the lock is the one its refresh thread takes.
    with live._lock:
        render = live._live_render
        if render._shape is not None and live.console.is_terminal:
            live.console.file.write(render.position_cursor().segment.text)
            live.console.file.flush()
            render._shape = None  # drawn afresh below what was written, not over it
        write()
    live.refresh()


def stamp(app: App) -> str:
    """The local time, `2026-12-06 02:00:13 `, to start a progress line that goes to a log (stderr
    not a terminal), so that one night's lines can be told from the next; nothing on a terminal."""
    if app.stderr_is_tty():
        return ""
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S ")
