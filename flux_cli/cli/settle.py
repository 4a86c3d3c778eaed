"""`flux2 history --settle ID failed|ok [--charge USD]`: settle a call by hand.

A call cut off before its answer and before OpenRouter gave it an id (Ctrl-C during a single
call) can never be looked up, so `--reconcile` cannot settle it, and it would count against the
budget at its estimate forever. The person who checked the OpenRouter activity page says what
became of it; the row records that it was settled by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flux_cli.errors import UsageError

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.ledger import Ledger

OUTCOMES = ("failed", "ok")
SETTLED_BY_HAND = "settled by hand"


def settle_by_hand(
    app: App, ledger: Ledger, label: str, row_id: int, outcome: str, charge: str | None
) -> None:
    from flux_cli.cli.run import parse_money
    from flux_cli.pricing import format_usd

    if outcome not in OUTCOMES:
        raise UsageError(f"--settle takes an id and failed or ok, got {outcome!r}")
    row = next(
        (r for r in ledger.rows(label, statuses=("pending", "unknown")) if r.id == row_id), None
    )
    if row is None:
        raise UsageError(
            f"no pending or unknown call {row_id} for this API",
            hint="flux2 history --json lists the calls with their ids and statuses",
        )
    if charge is not None:
        charged = parse_money(charge, "--charge")
        from flux_cli.ledger.types import MAX_CHARGE_MICROS

        if charged > MAX_CHARGE_MICROS:
            raise UsageError(f"--charge {charge} is more than one call can cost")
    else:
        # ok without --charge: as estimated (the usual outcome); failed: not billed.
        charged = row.estimate_micros if outcome == "ok" else 0
    ledger.update(
        row.id,
        status=outcome,  # type: ignore[arg-type]
        charged_micros=charged,
        exit_code=0 if outcome == "ok" else row.exit_code,
        error=f"{SETTLED_BY_HAND} (was {row.status}: {row.error or 'no answer'})",
    )
    app.info(f"call {row.id} settled by hand as {outcome}, charged {format_usd(charged)}")
