"""Tables on stdout that a pipe, a log file and an 80-column terminal can all read.

The rule: a cell is never cut without an ellipsis, and never folded so that characters are lost.
When stdout is not a terminal (a pipe, cron's log), rows are not wrapped at all: one record per
line, full values, no trailing spaces. On a terminal, a table fits its width by shortening its
least important columns with `…`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Any, TextIO

# Wide enough for any row flux2 prints; a table is only as wide as its content (expand=False).
UNWRAPPED_WIDTH = 10_000


def isatty(stream: object) -> bool:
    """Whether `stream` is a terminal; False for anything that cannot say (closed, replaced)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def unwrapped_stdout(stream: TextIO) -> dict[str, Any]:
    """Console arguments for stdout: none on a terminal; else no trailing spaces, and no wrapping
    unless COLUMNS asks for a width (`COLUMNS=80 flux2 history | less` is laid out as at 80)."""
    if isatty(stream):
        return {}
    columns = os.environ.get("COLUMNS", "").strip()
    width = int(columns) if columns.isdigit() and 0 < int(columns) < UNWRAPPED_WIDTH else None
    return {"file": TrimmedLines(stream), "width": width or UNWRAPPED_WIDTH}


def fitted(console: Any) -> bool:
    """Whether tables on `console` are laid out for a width (a terminal, or COLUMNS given)."""
    return bool(console.width < UNWRAPPED_WIDTH)


class TrimmedLines(io.TextIOBase):
    """Writes through to `stream`, each line without the spaces a table pads it with."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._partial = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._stream.write(self._partial)
            self._partial = ""
        self._stream.flush()


def cell_lines(console: Any, *parts: str) -> str:
    """Parts of one cell: stacked on a terminal, side by side elsewhere (one record, one line)."""
    return ("\n" if fitted(console) else " · ").join(part for part in parts if part)


def narrow(console: Any, width: int) -> int | None:
    """`width` as a column's max_width on a terminal; no limit elsewhere."""
    return width if fitted(console) else None


def fit_columns(console: Any, table: Any, optional: Sequence[str], wrapped_min: int = 12) -> None:
    """On a terminal too narrow for `table`, leave out its least important columns (`optional`,
    least important first) rather than squeeze them to nothing or cut values, and say so."""
    if not fitted(console):
        return
    left_out: list[str] = []
    for name in optional:
        if _needed(console, table, wrapped_min) <= console.width:
            break
        names = [str(column.header) for column in table.columns]
        if name in names:
            table.columns.pop(names.index(name))
            for index, column in enumerate(table.columns):
                column._index = index  # Rich pads the first and last columns by this index
            left_out.append(name)
    # What is left goes to the columns that wrap, so Rich never has to cut the others.
    wrapped = sorted(
        (_widest(console, column), column) for column in table.columns if not column.no_wrap
    )
    room = console.width - _needed(console, table, 0)
    for count, (widest, column) in enumerate(wrapped):
        share = max(wrapped_min, room // (len(wrapped) - count))
        if widest > share:
            column.max_width = min(column.max_width or share, share)
        room -= min(widest, share)
    if left_out:
        note = (
            f"left out at this width: {', '.join(left_out)} (a wider terminal or --json shows them)"
        )
        table.caption = f"{table.caption}\n{note}" if table.caption else note


def _needed(console: Any, table: Any, wrapped_min: int) -> int:
    """Columns that do not wrap at full width, the others at `wrapped_min`, plus the gaps."""
    total = 0
    for column in table.columns:
        widest = _widest(console, column)
        total += widest if column.no_wrap else min(wrapped_min, widest)
    return total + 3 * (len(table.columns) - 1)


def _widest(console: Any, column: Any) -> int:
    from rich.measure import Measurement

    return max(
        Measurement.get(console, console.options, cell).maximum
        for cell in [column.header, *column.cells]
    )
