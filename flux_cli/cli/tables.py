"""Tables on stdout that a pipe, a log file and an 80-column terminal can all read.

The rule: a cell is never cut without an ellipsis, and never folded so that characters are lost.
When stdout is not a terminal (a pipe, cron's log), rows are not wrapped at all: one record per
line, full values, no trailing spaces. On a terminal, a table fits its width by shortening its
least important columns with `…`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from flux_cli.streams import UNWRAPPED_WIDTH, TrimmedLines, isatty, unwrapped_width

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table


def unwrapped_stdout(stream: TextIO) -> dict[str, Any]:
    """Console arguments for stdout: none on a terminal; else no trailing spaces, and no wrapping
    unless COLUMNS asks for a width (`flux_cli.streams.unwrapped_width`)."""
    if isatty(stream):
        return {}
    return {"file": TrimmedLines(stream), "width": unwrapped_width()}


def fitted(console: Any) -> bool:
    """Whether tables on `console` are laid out for a width (a terminal, or COLUMNS given)."""
    return bool(console.width < UNWRAPPED_WIDTH)


def _box(console: Console) -> object:
    from rich import box

    encoding = (console.encoding or "").lower().replace("-", "")
    return box.SIMPLE if encoding.startswith("utf") else box.ASCII2


def styled_table(console: Console, title: str) -> Table:
    """flux2's table: a plain box (ASCII when the console cannot encode UTF-8), bold header."""
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=_box(console),  # type: ignore[arg-type]
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        safe_box=True,
    )


def facts_table(console: Console, title: str, *, no_wrap: bool = True) -> Table:
    """Two columns with no header: what (bold; not wrapped unless `no_wrap=False`) and its
    value (folded, never cut)."""
    table = styled_table(console, title)
    table.show_header = False
    table.add_column("what", style="bold", no_wrap=no_wrap)
    table.add_column("value", overflow="fold")
    return table


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
