"""What the ledger holds and answers: rows, budgets, what was spent, and its two errors."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from flux_cli.errors import BudgetError, Flux2Error
from flux_cli.exit_codes import ExitCode
from flux_cli.pricing import format_usd
from flux_cli.textsafe import strip_control

Status = Literal["pending", "ok", "failed", "unknown"]
STATUSES: tuple[Status, ...] = ("pending", "ok", "failed", "unknown")
UNRESOLVED: tuple[Status, ...] = ("pending", "unknown")
Grouping = Literal["day", "model", "host", "user"]
GROUPINGS: tuple[Grouping, ...] = ("day", "model", "host", "user")
MAX_ERROR_CHARS = 500


class LedgerError(Flux2Error):
    """The ledger cannot be opened, read or written (locked too long, corrupt, read-only, a
    database that cannot be reached). Nothing is sent when the ledger cannot record it."""

    exit_code = ExitCode.OUTPUT


class BudgetExceeded(BudgetError):
    """A daily or monthly budget (or --max-cost) refused the call; nothing was sent (exit 7)."""

    def __init__(
        self,
        *,
        budget: Literal["daily", "monthly", "max-cost"],
        limit_micros: int,
        spent_micros: int,
        estimate_micros: int,
        pending_count: int = 0,
        unknown_count: int = 0,
    ) -> None:
        self.budget = budget
        self.limit_micros = limit_micros
        self.spent_micros = spent_micros
        self.remaining_micros = max(0, limit_micros - spent_micros)
        self.estimate_micros = estimate_micros
        self.pending_count = pending_count
        self.unknown_count = unknown_count
        self.row_id: int | None = (
            None  # the `failed` row that logs the refusal, when one was written
        )
        cost = format_usd(estimate_micros, 2)
        if budget == "max-cost":
            message = (
                f"this call would cost {cost}, more than --max-cost "
                f"{format_usd(limit_micros, 2)}; nothing was sent"
            )
            hint = "raise --max-cost, or choose a smaller size or a cheaper model"
        else:
            period = "today" if budget == "daily" else "this month"
            message = (
                f"{budget} budget {format_usd(limit_micros, 2)}: "
                f"{format_usd(spent_micros, 2)} spent {period}, "
                f"{format_usd(self.remaining_micros, 2)} left; "
                f"this call would cost {cost}; nothing was sent"
            )
            env = f"FLUX2_BUDGET_{budget.upper()}_USD"
            later = "wait until tomorrow" if budget == "daily" else "wait until next month"
            hint = f"raise {env} or budget.{budget}_usd in the config, or {later}"
            unsettled = pending_count + unknown_count
            if unsettled:
                hint += (
                    "; 1 call whose outcome is not known yet counts at its estimate"
                    if unsettled == 1
                    else f"; {unsettled} calls whose outcome is not known yet count at their estimate"
                )
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class Budgets:
    """Spending limits in micro-dollars; None = no limit."""

    daily_micros: int | None = None
    monthly_micros: int | None = None

    def __post_init__(self) -> None:
        for name in ("daily_micros", "monthly_micros"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")

    @property
    def any(self) -> bool:
        return self.daily_micros is not None or self.monthly_micros is not None


@dataclass(frozen=True)
class NewEntry:
    """What is known about a call before it is sent."""

    api: str
    command: str  # "generate" or "edit"
    model: str
    estimate_micros: int
    route: str | None = None
    provider: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    output_mp: int | None = None  # billed output megapixels
    reference_count: int = 0
    reference_mp: int = 0  # billed reference megapixels, summed
    prompt: str | None = None  # None when the config says not to store prompts
    run_id: str | None = None  # the batch run this call belongs to
    fingerprint: str | None = None  # the request, reduced (`flux_cli.resume.fingerprint`)
    model_options: str | None = None  # provider options as sent, `canonical_options` JSON


@dataclass(frozen=True)
class Row:
    id: int
    created_at: datetime  # aware, UTC
    updated_at: datetime
    status: Status
    api: str
    command: str
    model: str
    provider: str | None
    route: str | None
    seed: int | None
    width: int | None
    height: int | None
    output_mp: int | None
    reference_count: int
    reference_mp: int
    estimate_micros: int
    charged_micros: int | None
    generation_id: str | None
    paths: tuple[str, ...]
    sha256s: tuple[str, ...]
    exit_code: int | None
    prompt: str | None
    pid: int | None
    hostname: str | None
    error: str | None
    elapsed_s: float | None
    run_id: str | None = None
    host: str | None = None  # the machine that wrote the row (rows before schema 2: hostname)
    os_user: str | None = None  # the OS user that ran flux2, when it could be told
    fingerprint: str | None = None  # the request, reduced (`flux_cli.resume.fingerprint`)
    model_options: str | None = None  # provider options as sent (rows before schema 4: None)

    @property
    def options(self) -> dict[str, object] | None:
        """`model_options` as an object; None when the call was sent without any (or the
        column holds something that is not a JSON object)."""
        if self.model_options is None:
            return None
        try:
            value = json.loads(self.model_options)
        except ValueError:
            return None
        return value if isinstance(value, dict) and value else None

    @property
    def counted_micros(self) -> int:
        """What this row counts for against a budget."""
        if self.status == "ok":
            return self.estimate_micros if self.charged_micros is None else self.charged_micros
        if self.status == "failed":
            return self.charged_micros or 0
        return max(self.estimate_micros, self.charged_micros or 0)


@dataclass(frozen=True)
class Spent:
    """What counts as spent in the current local day and month (see the package docstring)."""

    today_micros: int
    month_micros: int
    pending_count: int  # this month's rows still pending
    unknown_count: int  # this month's rows of unknown outcome


@dataclass(frozen=True)
class Remaining:
    """What is left of each budget (never below 0); None where no budget is set."""

    daily_micros: int | None
    monthly_micros: int | None
    spent: Spent


@dataclass(frozen=True)
class TotalRow:
    key: str  # the local day (YYYY-MM-DD), the model id, the host or the OS user
    count: int
    ok_count: int
    failed_count: int
    pending_count: int
    unknown_count: int
    estimate_micros: int  # sum over all rows
    charged_micros: int  # sum of the charges the server reported
    counted_micros: int  # what the rows count for against a budget


@dataclass(frozen=True)
class Summary:
    """Totals over every row a filter selects, computed by the database."""

    count: int
    failed: int
    pending: int
    unknown: int
    ok_unpriced: int  # ok, but the server reported no charge: counted at the estimate
    estimate_micros: int
    charged_micros: int  # what the server reported
    unsettled_micros: int  # what the pending and unknown rows count for
    counted_micros: int  # what everything counts for against a budget


def canonical_options(options: Iterable[tuple[str, object]] | None) -> str | None:
    """Provider options as the ledger keeps them: compact JSON with sorted keys, so one request
    is always the same text; None for none. Only JSON numbers, booleans and text are kept
    (NaN and infinities are refused: they are not JSON)."""
    given = dict(options or ())
    if not given:
        return None
    for name, value in given.items():
        if not isinstance(value, (bool, int, float, str)):
            raise ValueError(f"model option {name!r} must be a number, boolean or text")
    return json.dumps(given, sort_keys=True, separators=(",", ":"), allow_nan=False)


def check_status(status: str, allowed: Sequence[str] = STATUSES) -> None:
    if status not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}, got {status!r}")


#: The largest charge a row may hold: $1,000,000, the most `wire.parse_usage` takes for one
#: image. However many rows, the sums stay far below the 64-bit integers of both databases
#: (docs/reliability.md#reported-charges).
MAX_CHARGE_MICROS = 10**12


def check_charge(charged_micros: int | None) -> None:
    """A charge fit to be summed: a reported one that is not was flagged before it got here."""
    if charged_micros is not None and not 0 <= charged_micros <= MAX_CHARGE_MICROS:
        raise ValueError(f"charged_micros must be between 0 and {MAX_CHARGE_MICROS}")


#: What a row's `error` keeps of a charge no call can have, found in a ledger written before
#: charges were checked (`{}` is the figure); the row counts at its estimate instead.
DISTRUSTED_CHARGE = "a charge of {} micro-dollars was not believed; counted at its estimate"


def distrust_charge(values: dict[str, Any]) -> None:
    """A row to copy (`ledger migrate`) whose `charged_micros` is outside 0..MAX_CHARGE_MICROS
    is copied counting at its estimate, the figure kept in `error` (never summed); the
    ledger's own rows were repaired the same way by a schema migration (schema.py)."""
    charged = values["charged_micros"]
    if charged is None or 0 <= charged <= MAX_CHARGE_MICROS:
        return
    values["charged_micros"] = None
    values["error"] = strip_control(DISTRUSTED_CHARGE.format(charged), MAX_ERROR_CHARS)


def check_estimate(entry: NewEntry) -> None:
    if entry.estimate_micros < 0:
        raise ValueError("estimate_micros must not be negative")


def refusal(
    budgets: Budgets, spent: Spent, before_micros: int, before_count: int, entry: NewEntry
) -> BudgetExceeded | None:
    """Why `entry` may not go, when `spent` plus `before_micros` (the estimates of
    `before_count` calls reserved just before it) plus its estimate exceeds a budget."""
    checks: tuple[tuple[Literal["daily", "monthly"], int | None, int], ...] = (
        ("daily", budgets.daily_micros, spent.today_micros + before_micros),
        ("monthly", budgets.monthly_micros, spent.month_micros + before_micros),
    )
    for kind, limit, so_far in checks:
        if limit is not None and so_far + entry.estimate_micros > limit:
            return BudgetExceeded(
                budget=kind,
                limit_micros=limit,
                spent_micros=so_far,
                estimate_micros=entry.estimate_micros,
                pending_count=spent.pending_count + before_count,
                unknown_count=spent.unknown_count,
            )
    return None
