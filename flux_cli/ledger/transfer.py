"""Copying one ledger's rows into another (`flux2 ledger migrate`): once, whatever is re-run.

Each row carries a `uid` made when it was written; the target skips a uid it already holds, so
running the copy twice (or after it was cut short) copies nothing twice. Ids are the target's
own; statuses, charges, host and user travel with the rows, and the target's running totals
take them in as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flux_cli.ledger.core import Ledger

PAGE_ROWS = 1000


@dataclass(frozen=True)
class Copied:
    read: int  # rows in the source
    copied: int  # rows the target did not hold yet

    @property
    def already(self) -> int:
        return self.read - self.copied


def copy_rows(
    source: Ledger, target: Ledger, progress: Callable[[int, int], None] | None = None
) -> Copied:
    """Every row of `source` into `target`, a page per transaction, oldest first."""
    read = copied = 0
    after = 0
    while True:
        records = source.export_records(after, PAGE_ROWS)
        if not records:
            return Copied(read, copied)
        copied += target.import_records(records)
        read += len(records)
        after = int(records[-1][0])
        if progress is not None:
            progress(read, copied)
