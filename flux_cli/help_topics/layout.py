"""How a help page is laid out: paragraphs, bullets and two-column lists wrapped to the
terminal (commands never split across lines), tables, and the blank lines between blocks."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

DEFAULT_WIDTH = 80
MIN_WIDTH = 40
INDENT = "  "
# Joins the words of a command in running text so a line break never splits it; turned back into
# a plain space after wrapping, so what is copied from the terminal still runs.
_GLUE = "\x1f"


def page_width(columns: int) -> int:
    """Pages are as wide as the terminal, but never wider than 80 columns nor narrower than 40."""
    return max(MIN_WIDTH, min(columns, DEFAULT_WIDTH))


# -- layout --------------------------------------------------------------------------------------


def cmd(text: str) -> str:
    """`text` (a command, a flag with its value) kept on one line when wrapped."""
    return text.replace(" ", _GLUE)


def fill(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """`text` wrapped to `width`; `_page` turns the glue back into spaces."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_long_words=False,
        break_on_hyphens=False,  # `--max-cost` and `exit-codes` stay whole
    ) or [indent.rstrip()]


def paragraph(text: str, width: int) -> list[str]:
    return fill(text, width)


def bullets(items: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        lines.extend(fill(item, width, INDENT + "- ", INDENT + "  "))
    return lines


def definitions(
    rows: Sequence[tuple[str, str]],
    width: int,
    *,
    max_term: int = 16,
    indent: str = INDENT,
    column: int | None = None,
) -> list[str]:
    """A two-column list: terms padded to one column, descriptions wrapped beside them. A term
    longer than `max_term` gets its description on the next line (as click's help does)."""
    if column is None:
        column = min(max((len(term) for term, _ in rows), default=0), max_term)
    hang = indent + " " * (column + 2)
    lines: list[str] = []
    for term, text in rows:
        if len(term) > column:
            lines.append(indent + term)
            lines.extend(fill(text, width, hang))
        else:
            lines.extend(fill(text, width, indent + term.ljust(column + 2), hang))
    return lines


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 1
) -> list[str]:
    """Columns padded to their widest cell; columns from `right` on are right-aligned (money).
    Not wrapped: a table is read across."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i >= right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return (INDENT + "  ".join(parts)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def page(blocks: Sequence[Sequence[str]]) -> str:
    """Blocks of lines separated by one blank line, ending with a newline; every page ends here."""
    text = "\n\n".join("\n".join(block) for block in blocks if block) + "\n"
    return text.replace(_GLUE, " ")
