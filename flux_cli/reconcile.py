"""Settling ledger rows whose outcome is not known, believing only what is true.

`reconcile` looks at one API's rows and returns what it changed; the CLI renders the result.
`reconcile_api` does the same for a command: it connects to `/generation` only when a row has an
id to look up (only then is the key needed) and closes the connection afterwards.

1. unknown rows, and pending rows whose process is gone, that carry a generation id: ask
   `/generation` (docs/openrouter.md#generation-lookup). A record is believed only when its id
   is the row's id, its model the row's model, and its cost finite, not negative and at most
   `SANE_MULTIPLE` times the row's estimate (docs/reliability.md#reported-charges); otherwise the
   row is flagged and keeps counting at its estimate. A believed record settles the row `ok`
   with the charge, or `failed` with the charge when the call left no image file (a call that
   produced no file is never `ok`). No record and older than `GRACE` → `failed` (OpenRouter's
   records appear within minutes, so it was not billed); younger → unknown.
2. pending rows whose process is gone and that have no id → unknown (may have been billed).
Pending rows of live processes are left to them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from flux_cli.openrouter.errors import BadResponseError

if TYPE_CHECKING:
    from flux_cli.ledger import Ledger, Row
    from flux_cli.openrouter.account import GenerationInfo
    from flux_cli.openrouter.client import OpenRouterClient

GRACE = timedelta(hours=1)
#: A reported charge above this many times the estimate is a misreading, not a charge.
SANE_MULTIPLE = 10
#: The ceiling for a row whose estimate is 0 (a call counted as free).
SANE_FLOOR_MICROS = 1_000_000

Status = Literal["ok", "failed", "unknown"]
Lookup = Callable[[str], "GenerationInfo | None"]
#: Opens a `/generation` lookup: the lookup, and how to close what it holds open.
Connect = Callable[[], tuple[Lookup, Callable[[], None]]]
#: Seconds one `/generation` lookup may take, retries included.
LOOKUP_ATTEMPT_S = 60.0


@dataclass(frozen=True)
class Change:
    """One row reconcile changed (or flagged: `status` is then the row's unchanged status)."""

    row: Row
    status: Status
    detail: str
    flagged: bool = False

    def line(self) -> str:
        """`#12 2026-12-06 17:51 pro gen-…: unknown → failed: <detail>`, for a person."""
        from flux_cli.history_records import alias_of, local_minute
        from flux_cli.textsafe import strip_control

        row = self.row
        what = alias_of(row.model) or strip_control(row.model, 60)
        gen = strip_control(row.generation_id or "no generation id", 80)
        change = f"{row.status} (flagged)" if self.flagged else f"{row.status} → {self.status}"
        return f"#{row.id} {local_minute(row.created_at)} {what} {gen}: {change}: {self.detail}"


@dataclass
class Outcome:
    changes: list[Change] = field(default_factory=list)
    still_unknown: int = 0  # ids /generation does not know yet
    skipped: list[tuple[Row, str]] = field(default_factory=list)  # ids that are not ids
    notes: list[str] = field(default_factory=list)  # what a person should know, in order
    nothing_to_do: bool = False

    @property
    def changed(self) -> int:
        return sum(not c.flagged for c in self.changes)

    @property
    def flagged(self) -> int:
        return sum(c.flagged for c in self.changes)

    def summary(self) -> str | None:
        """One line on what was done (None when there was nothing to do)."""
        if self.nothing_to_do:
            return None
        line = f"reconciled {_calls(self.changed)}"
        if self.flagged:
            line += f"; {self.flagged} flagged (a /generation record not believed)"
        if self.still_unknown:
            line += (
                f"; {self.still_unknown} still unknown (OpenRouter does not know the id yet: "
                "run --reconcile again in a few minutes)"
            )
        return line


def believe(row: Row, found: GenerationInfo) -> str | None:
    """Why the `/generation` record cannot be this row's charge, or None when it can."""
    if found.id != row.generation_id:
        return "its id is another call's"
    if found.model is None or found.model.lower() != row.model.lower():
        return "its model is not the model of the call"
    return charge_doubt(found.total_cost_micros, found.cost_reported, row.estimate_micros)


def charge_doubt(cost_micros: int | None, reported: bool, estimate_micros: int) -> str | None:
    """Why a reported charge is not believed, or None when it is (or none was reported).

    The one rule for `/generation` records and for the `usage.cost` of an answer: believed only
    when finite, not negative and at most SANE_MULTIPLE times the estimate
    (docs/reliability.md#reported-charges); a charge not believed is never summed, and the call
    counts at its estimate."""
    if cost_micros is None and reported:
        return "its cost is not a usable number"
    if cost_micros is None:
        return None  # no charge reported: counted at the estimate
    if cost_micros < 0:
        return "its cost is negative"
    if cost_micros > sane_ceiling(estimate_micros):
        return f"its cost is more than {SANE_MULTIPLE} times the estimate"
    return None


def sane_ceiling(estimate_micros: int) -> int:
    """The largest charge believed for a call of this estimate."""
    return estimate_micros * SANE_MULTIPLE if estimate_micros > 0 else SANE_FLOOR_MICROS


def reconcile(
    ledger: Ledger,
    label: str,
    now: datetime,
    lookup: Lookup | None,
    *,
    sandbox: bool = False,
) -> Outcome:
    """Settle what can be settled. `lookup` asks `/generation` for an id (None when there is
    no API to ask); `sandbox`: the `--sandbox` runs, whose sandboxes are gone."""
    outcome = Outcome()
    stale = ledger.stale_pending(label, now=now, older_than=GRACE)
    unknown = ledger.rows(label, statuses=("unknown",))
    lookups = [r for r in (*unknown, *stale) if r.generation_id]
    orphans = [r for r in stale if not r.generation_id]
    if lookups and (sandbox or lookup is None):
        outcome.notes.append(
            "each --sandbox run had its own sandbox, now gone, so generation ids of "
            "--sandbox calls cannot be looked up; unknown calls stay counted at their estimate"
        )
        orphans += [r for r in stale if r.generation_id]
        lookups = []
        if not orphans:
            outcome.nothing_to_do = True
            return outcome
    if not lookups and not orphans:
        outcome.nothing_to_do = True
        if not unknown:
            outcome.notes.append("nothing to reconcile: no pending or unknown calls")
        else:
            outcome.notes.append(
                f"nothing to reconcile: {_calls(len(unknown))} of unknown outcome with no "
                "generation id to look up; they stay counted at their estimate"
            )
        return outcome
    if lookups:
        assert lookup is not None
        _look_up(ledger, lookups, lookup, now, outcome)
    for row in orphans:
        if row.hostname == ledger.hostname and now - row.created_at < GRACE:
            reason = f"the process that sent it (pid {row.pid}) is gone"
        else:
            reason = "pending for more than an hour"
        if _settle(ledger, row, "unknown", None, None, f"reconciled: {reason}"):
            outcome.changes.append(
                Change(
                    row,
                    "unknown",
                    f"{reason}; may have been billed, counted at its estimate "
                    + _money(row.estimate_micros),
                )
            )
    return outcome


def needs_lookups(ledger: Ledger, label: str, now: datetime) -> bool:
    """Whether any row `reconcile` would look at has an id to look up (only then is the key
    needed)."""
    rows = (
        *ledger.rows(label, statuses=("unknown",)),
        *ledger.stale_pending(label, now=now, older_than=GRACE),
    )
    return any(r.generation_id for r in rows)


def reconcile_api(
    ledger: Ledger,
    label: str,
    now: datetime,
    connect: Connect | None,
    *,
    sandbox: bool = False,
) -> Outcome:
    """`reconcile`, connecting to `/generation` with `connect` only when a row has an id to look
    up (None, or `sandbox`: no API to ask); the connection is closed before this returns."""
    lookup = close = None
    if connect is not None and not sandbox and needs_lookups(ledger, label, now):
        lookup, close = connect()
    try:
        return reconcile(ledger, label, now, lookup, sandbox=sandbox)
    finally:
        if close is not None:
            close()


def _look_up(
    ledger: Ledger, rows: Sequence[Row], lookup: Lookup, now: datetime, outcome: Outcome
) -> None:
    for row in rows:
        assert row.generation_id is not None
        try:
            found = lookup(row.generation_id)
        except ValueError:
            outcome.skipped.append((row, "the recorded generation id is not one"))
            continue
        except BadResponseError as exc:
            outcome.skipped.append((row, f"/generation answered what cannot be used ({exc})"))
            continue
        if found is not None:
            doubt = believe(row, found)
            if doubt is not None:
                _flag(ledger, row, doubt, outcome)
                continue
            charge = found.total_cost_micros
            charged = (
                f"charged {_money(charge)}"
                if charge is not None
                else "no charge reported, counted at the estimate"
            )
            if not row.paths:
                # Billed, but no image came back: counted at its charge, never `ok`.
                if _settle(
                    ledger, row, "failed", charge, found.provider, "reconciled: billed, no image"
                ):
                    outcome.changes.append(
                        Change(row, "failed", f"{charged}, but no image was received")
                    )
            elif _settle(ledger, row, "ok", charge, found.provider, None):
                outcome.changes.append(
                    Change(row, "ok", f"{charged} (estimate {_money(row.estimate_micros)})")
                )
        elif now - row.created_at >= GRACE:
            reason = "not known to /generation after an hour: not billed"
            if _settle(ledger, row, "failed", None, None, f"reconciled: {reason}"):
                outcome.changes.append(Change(row, "failed", reason))
        elif row.status == "pending":
            reason = "its process is gone and /generation does not know the id yet"
            if _settle(ledger, row, "unknown", None, None, f"reconciled: {reason}"):
                outcome.changes.append(Change(row, "unknown", f"{reason}; may have been billed"))
            outcome.still_unknown += 1
        else:
            outcome.still_unknown += 1


def _flag(ledger: Ledger, row: Row, doubt: str, outcome: Outcome) -> None:
    """Keep the row unsettled, counting at its estimate, and say why the record was not believed."""
    note = f"reconcile: the /generation record was not believed ({doubt})"
    status: Status = "unknown"
    if row.status == "pending":
        _settle(ledger, row, "unknown", None, None, note)
    else:
        ledger.update(row.id, status=status, error=note)
    outcome.changes.append(
        Change(
            row,
            status,
            f"/generation record not believed: {doubt}; still counted at its estimate "
            + _money(row.estimate_micros),
            flagged=True,
        )
    )


def _settle(
    ledger: Ledger,
    row: Row,
    status: Status,
    charged_micros: int | None,
    provider: str | None,
    note: str | None,
) -> bool:
    """Resolve a pending/unknown row (never one settled meanwhile) and keep why in `error`."""
    if not ledger.resolve(row.id, status=status, charged_micros=charged_micros, provider=provider):
        return False
    if note is not None:
        ledger.update(row.id, status=status, error=note)
    return True


def lookup_through(client: OpenRouterClient) -> Lookup:
    """A `/generation` lookup over `client` (which the caller closes)."""
    from flux_cli.openrouter import account

    def lookup(generation_id: str) -> GenerationInfo | None:
        return account.generation(client, generation_id)

    return lookup


def _money(micros: int | None) -> str:
    from flux_cli.pricing import format_usd

    return "unknown" if micros is None else format_usd(micros)


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"
