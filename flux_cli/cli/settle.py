"""`flux2 history --settle ID failed|ok [--charge USD]`: settle a call by hand
(`flux_cli.settling` says why and how)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.ledger import Ledger


def settle_by_hand(
    app: App, ledger: Ledger, label: str, row_id: int, outcome: str, charge: str | None
) -> None:
    from flux_cli import settling
    from flux_cli.pricing import format_usd

    charged = settling.settle_by_hand(ledger, label, row_id, outcome, charge)
    app.info(f"call {row_id} settled by hand as {outcome}, charged {format_usd(charged)}")
