"""Opening the configured ledger for a look: `flux2 history` and `flux2 balance` read it, and a
look must not create a ledger where there is none.

    ledger = open_existing("history")   # None: no local ledger yet
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux_cli.ledger.core import Ledger

__all__ = ["open_existing"]


def open_existing(reader: str | None = None) -> Ledger | None:
    """The configured ledger (ledger.url, or the local file), or None when it is the local file
    and that does not exist yet: a look creates nothing. `reader` names the command in the
    message of a LedgerError (`history could not read the ledger: …`)."""
    from flux_cli import ledger as ledger_module
    from flux_cli.config import configured_ledger_url

    url = configured_ledger_url()
    path = ledger_module.default_path()
    if url is None and not path.exists():
        return None
    try:
        return (
            ledger_module.Ledger.open(path) if url is None else ledger_module.Ledger.open(url=url)
        )
    except ledger_module.LedgerError as exc:
        if reader is not None:
            exc.message = f"{reader} could not read the ledger: {exc.message}"
        raise
