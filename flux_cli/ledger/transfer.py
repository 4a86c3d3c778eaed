"""Copying one ledger's rows into another (`flux2 ledger migrate`): once, whatever is re-run.

Each row carries a `uid` made when it was written; the target skips a uid it already holds, so
running the copy twice (or after it was cut short) copies nothing twice. Ids are the target's
own; statuses, charges, host and user travel with the rows, and the target's running totals
take them in as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flux_cli.ledger.core import Ledger

if TYPE_CHECKING:
    from flux_cli.ledger.location import LedgerUrl

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


@dataclass(frozen=True)
class Migration:
    """What `flux2 ledger migrate` did: from the local ledger at `path` into `url`; `copied` is
    None when there is no local ledger (nothing to copy)."""

    path: Path
    url: LedgerUrl
    copied: Copied | None


def migrate_local(to: str | None) -> Migration:
    """Copy this machine's local ledger into the shared one at `to` (default: the `ledger.url`
    setting); UsageError when neither names one. The local file is kept."""
    from flux_cli.config import configured_ledger_url
    from flux_cli.errors import UsageError
    from flux_cli.ledger.location import default_path, parse_ledger_url

    url = parse_ledger_url(to) if to is not None else configured_ledger_url()
    if url is None:
        raise UsageError(
            "no shared ledger to copy into",
            hint="give --to postgresql://USER@HOST/DB, or set ledger.url in the config",
        )
    path = default_path()
    if not path.exists():
        return Migration(path, url, None)
    with Ledger.open(path) as source, Ledger.open(url=url) as target:
        return Migration(path, url, copy_rows(source, target))
