"""The ledger row of each call: reserved (budgets checked) before the request, settled after.

A row goes `pending` before anything is sent, so a crash or a kill leaves a trace that `history
--reconcile` can resolve; it is settled from the answer (`ok` with what was billed), from the
failure (`failed` with 0 when the request cannot have been billed, `unknown` when it may have
been), or as not sent when the run was interrupted before its request went.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from flux_cli.errors import BudgetError, Flux2Error
from flux_cli.exit_codes import ExitCode
from flux_cli.pricing import format_usd

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.ledger import Budgets, Ledger, NewEntry
    from flux_cli.openrouter.client import ImageResult

NOT_SENT = "interrupted before the request was sent"
RECONCILE_HINT = (
    "flux2 history --reconcile settles it once OpenRouter knows the call; one with no "
    "generation id is settled by hand with flux2 history --settle ID failed|ok"
)


@dataclass
class Outcome:
    """What became of one request: its answer, where its image went, or why it failed."""

    index: int
    seed: int
    result: ImageResult | None = None
    path: str | None = None
    fmt: str | None = None
    converted_from: str | None = None
    credentials: str | None = None  # content credentials: "kept", "dropped" (conversion), None
    sidecar: str | None = None  # the recipe's XMP sidecar, for an image with credentials
    error: Flux2Error | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    data: bytes | None = None  # the paid bytes, held until written so a failure can rescue them
    row_id: int | None = None  # its ledger row
    # The answer's charge was not believed (`saving.judge_charge`): why, with the reported
    # figure; the row counts at its estimate and keeps this in its `error` column.
    charge_doubt: str | None = None
    warnings: list[str] = field(default_factory=list)  # for the person running it
    notes: list[str] = field(default_factory=list)  # for them too, but no cause for concern


def failed_charge(error: Flux2Error | None) -> int | None:
    """What a failed call cost: known from the answer, 0 when it cannot have been billed, or
    None when it may have been."""
    from flux_cli.openrouter.errors import BadResponseError, OpenRouterError

    if isinstance(error, BadResponseError):
        return error.cost_micros
    if isinstance(error, OpenRouterError) and not error.may_be_billed:
        return 0
    return None


def exit_code_of(outcome: Outcome) -> ExitCode:
    """A written image whose charge was not believed is a bad response (10), not a success."""
    if outcome.error is not None:
        return outcome.error.exit_code
    return ExitCode.BAD_RESPONSE if outcome.charge_doubt else ExitCode.OK


class Spending:
    """The ledger rows of one run: reserved (budgets checked) before each request, settled after."""

    def __init__(
        self,
        ledger: Ledger,
        endpoint: str,
        budgets: Budgets,
        plan: Plan,
        command: str,
        store_prompts: bool,
        run_id: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        # `run_id`: the batch run the row belongs to (`flux2 history --run ID`), None for one call.
        # `endpoint`: the ledger's label for where requests go (openrouter, sandbox, a URL);
        # not the route (`plan.route`, images or chat).
        self.ledger, self.endpoint, self.budgets, self.plan = ledger, endpoint, budgets, plan
        self.command, self.store_prompts, self.run_id = command, store_prompts, run_id
        self.fingerprint = fingerprint  # of a batch line's request (`flux_cli.resume`)
        self._open: set[int] = set()
        self._ahead: set[int] = set()  # reserved ahead, request not sent yet
        self._closed = False  # interrupted: no request may start any more
        self._lock = threading.Lock()

    def remaining_text(self) -> str | None:
        if self.budgets.daily_micros is None and self.budgets.monthly_micros is None:
            return None
        left = self.ledger.remaining(self.budgets, self.endpoint)
        parts = []
        if left.daily_micros is not None:
            parts.append(
                f"{format_usd(left.daily_micros)} of {format_usd(self.budgets.daily_micros or 0)} left today"
            )
        if left.monthly_micros is not None:
            parts.append(
                f"{format_usd(left.monthly_micros)} of {format_usd(self.budgets.monthly_micros or 0)} left this month"
            )
        return "budget: " + " · ".join(parts)

    def reserve(self, index: int, *, ahead: bool = False) -> int:
        """Check the budgets and write the `pending` row (synced) for request `index`; its id.

        `ahead`: the row is written while the request still waits for its turn (a batch's
        slot); `sending` must then be called just before it goes, and an interrupted run
        settles the row as not sent instead of unknown."""
        row_id = self.ledger.reserve(self.entry(index), self.budgets, record_refusal=True)
        self.track(row_id, ahead=ahead)
        return row_id

    def entry(self, index: int) -> NewEntry:
        """The ledger row of request `index`, as it is written before the request goes."""
        from flux_cli.ledger import NewEntry, canonical_options
        from flux_cli.pricing import billed_megapixels

        plan = self.plan
        width, height = plan.size
        return NewEntry(
            api=self.endpoint,
            command=self.command,
            model=plan.model.id,
            estimate_micros=plan.estimate.total_micros // plan.count,
            route=plan.route,
            seed=plan.seeds[index],
            width=width,
            height=height,
            output_mp=billed_megapixels(width, height),
            reference_count=len(plan.reference_sizes),
            reference_mp=sum(billed_megapixels(w, h) for w, h in plan.reference_sizes),
            prompt=plan.prompt if self.store_prompts else None,
            run_id=self.run_id,
            fingerprint=self.fingerprint,
            model_options=canonical_options(plan.options),
        )

    def before_ambiguous_retry(self, outcome: Outcome, index: int) -> Callable[[Flux2Error], None]:
        """For `OpenRouterClient.generate`: request `index` (of `outcome`) was sent and may have
        been billed, and `--retry-ambiguous` is about to send it again. Each attempt that may
        have been billed keeps a row of its own: the retry's row is reserved first, under the
        budgets like any call; then the attempt's row is settled `unknown` (it counts at its
        estimate, and keeps the answer's generation id for `history --reconcile`) and the
        outcome moves to the new row.

        When the retry may not go (a budget refuses it, the ledger cannot record it, the run was
        interrupted) the call ends with the attempt's error, exit 9 (may have been billed), its
        message saying why it was not sent again; a budget's refusal is logged like any other
        (`failed`, exit code 7, nothing charged), and the attempt's row is settled by `finish`."""

        def hook(error: Flux2Error) -> None:
            from flux_cli.ledger import BudgetExceeded, LedgerError

            attempt_row = outcome.row_id
            if attempt_row is None:
                return
            with self._lock:
                closed = self._closed
            if closed:
                raise _not_sent_again(error, "the run was interrupted")
            try:
                retry_row = self.ledger.reserve(
                    self.entry(index), self.budgets, record_refusal=True
                )
            except (BudgetExceeded, LedgerError) as refused:
                raise _not_sent_again(error, refused.message) from None
            self.track(retry_row)
            with self._lock:
                self._open.discard(attempt_row)
            outcome.row_id = retry_row
            # Should this write fail, the retry is not sent (its row ends `failed`) and the
            # attempt's row stays `pending`: counted, and settled by `history --reconcile`.
            self.ledger.update(
                attempt_row,
                status="unknown",
                generation_id=getattr(error, "generation_id", None),
                exit_code=int(error.exit_code),
                error=f"{error.message}; sent again as call {retry_row} (--retry-ambiguous)",
            )

        return hook

    def track(self, row_id: int, *, ahead: bool = False) -> None:
        """Count a `pending` row written for this run as open (see `reserve`)."""
        with self._lock:
            self._open.add(row_id)
            if ahead:
                self._ahead.add(row_id)

    @property
    def settled(self) -> bool:
        """No row of this run is open any more."""
        with self._lock:
            return not self._open

    def sending(self, row_id: int) -> bool:
        """The request of a row reserved ahead is about to be sent. False once the run has been
        interrupted: it must not be sent then (its row is or will be settled as not sent)."""
        with self._lock:
            if self._closed:
                return False
            self._ahead.discard(row_id)
            return True

    def not_sent(self, row_id: int) -> None:
        """A row reserved ahead whose request was never sent (the run was interrupted first):
        `failed`, charged nothing."""
        with self._lock:
            if row_id not in self._open:
                return
            self._open.discard(row_id)
            self._ahead.discard(row_id)
        self._settle_not_sent(row_id)

    def _settle_not_sent(self, row_id: int) -> None:
        self.ledger.update(
            row_id,
            status="failed",
            charged_micros=0,
            exit_code=int(ExitCode.INTERRUPTED),
            error=NOT_SENT,
        )

    def writing(self, outcome: Outcome) -> None:
        """A batch line's image is about to be written: its row records the image's sha256 (and
        the answer's id and charge) first, still pending, so that a run killed between writing
        the file and settling the row leaves a file `--resume` can recognise."""
        result = outcome.result
        if outcome.row_id is None or self.fingerprint is None or outcome.sha256 is None:
            return
        self.ledger.update(
            outcome.row_id,
            status="pending",
            charged_micros=result.cost_micros if result else None,
            generation_id=result.generation_id if result else None,
            sha256s=[outcome.sha256],
            synced=False,
        )

    def finish(self, outcome: Outcome) -> None:
        from flux_cli.openrouter.errors import BadResponseError, OpenRouterError

        if outcome.row_id is None:
            return  # refused by a budget: nothing was sent, no row was written
        result, error = outcome.result, outcome.error
        status: Literal["ok", "failed", "unknown"]
        charged: int | None
        if result is not None:
            status, charged = "ok", result.cost_micros  # billed, even if writing failed
        elif isinstance(error, BadResponseError):
            status = "failed" if error.cost_micros is not None else "unknown"
            charged = error.cost_micros
        elif isinstance(error, OpenRouterError) and error.may_be_billed:
            status, charged = "unknown", None
        else:
            status, charged = "failed", 0
        self.ledger.update(
            outcome.row_id,
            status=status,
            charged_micros=charged,
            generation_id=result.generation_id if result else getattr(error, "generation_id", None),
            provider=result.provider if result else None,
            paths=[outcome.path] if outcome.path else [],
            sha256s=[outcome.sha256] if outcome.sha256 else [],
            exit_code=int(error.exit_code if error else exit_code_of(outcome)),
            error=error.message if error else outcome.charge_doubt,
            elapsed_s=result.elapsed_s if result else None,
            synced=False,
        )
        with self._lock:
            self._open.discard(outcome.row_id)

    def interrupted(self) -> int:
        """Rows of requests cut off by Ctrl-C: the call may have gone through. Rows reserved
        ahead whose requests were never sent are settled as such, and none of them is sent now.
        How many rows are left of unknown outcome."""
        with self._lock:
            self._closed = True
            rows = list(self._open)
            ahead = set(self._ahead)
            self._open.clear()
            self._ahead.clear()
        unknown = 0
        for row_id in rows:
            if row_id in ahead:
                self._settle_not_sent(row_id)
            else:
                self.ledger.update(
                    row_id, status="unknown", error="interrupted while waiting for the answer"
                )
                unknown += 1
        return unknown


def _not_sent_again(error: Flux2Error, reason: str) -> Flux2Error:
    """The error of an attempt that may have been billed, which `--retry-ambiguous` could not
    send again, saying why."""
    error.message = f"{error.message}; not sent again: {reason.removesuffix('; nothing was sent')}"
    error.args = (error.message,)
    return error


def point_at_reconcile(error: Flux2Error) -> Flux2Error:
    """Exit 9 (may have been billed) says how to settle the call."""
    if error.exit_code == ExitCode.OUTCOME_UNKNOWN and "--reconcile" not in (error.hint or ""):
        error.hint = f"{error.hint}; {RECONCILE_HINT}" if error.hint else RECONCILE_HINT
    return error


def reserve_ahead(spendings: Sequence[Spending]) -> list[int | BudgetError]:
    """The rows of the first request of each run, reserved ahead (see `Spending.reserve`) in one
    transaction, so that they wait for the disk once; for each, its row id or its refusal.
    They must share a ledger, an endpoint and budgets."""
    if not spendings:
        return []
    first = spendings[0]
    results = first.ledger.reserve_many(
        [spending.entry(0) for spending in spendings], first.budgets, record_refusal=True
    )
    for spending, result in zip(spendings, results, strict=True):
        if isinstance(result, int):
            spending.track(result, ahead=True)
    return list(results)


def new_run_id(now: datetime | None = None) -> str:
    """A batch run's id: its UTC start, to the second, and six random hex digits
    (`20261206-152400-3fa9c1`): sortable, readable in a cron log, unique across hosts."""
    import secrets

    moment = now or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
