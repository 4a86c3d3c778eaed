"""Settling a call by hand (`flux2 history --settle ID failed|ok [--charge USD]`).

A call cut off before its answer and before OpenRouter gave it an id (Ctrl-C during a single
call) can never be looked up, so reconciling cannot settle it, and it would count against the
budget at its estimate forever. The person who checked the OpenRouter activity page says what
became of it; the row records that it was settled by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flux_cli.errors import UsageError

if TYPE_CHECKING:
    from flux_cli.ledger import Ledger

OUTCOMES = ("failed", "ok")
SETTLED_BY_HAND = "settled by hand"


def settle_by_hand(
    ledger: Ledger, label: str, row_id: int, outcome: str, charge: str | None
) -> int:
    """Settle the pending or unknown call `row_id` of the API `label` as `outcome`; what it is
    recorded as charged (micro-dollars): `charge` (USD, as typed), else its estimate when ok and
    nothing when failed."""
    from flux_cli.options import parse_money

    if outcome not in OUTCOMES:
        raise UsageError(f"--settle takes an id and failed or ok, got {outcome!r}")
    status: Literal["failed", "ok"] = "ok" if outcome == "ok" else "failed"
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
        charged = row.estimate_micros if status == "ok" else 0
    ledger.update(
        row.id,
        status=status,
        charged_micros=charged,
        exit_code=0 if status == "ok" else row.exit_code,
        error=f"{SETTLED_BY_HAND} (was {row.status}: {row.error or 'no answer'})",
    )
    return charged
