"""The spending ledger (product.md §7): one SQLite row per paid call, budgets, history.

Every image request is a row, written `pending` before anything is sent and settled afterwards:
`ok` (made; charged_micros is what the server reported, when it did), `failed` (refused before
generation: not billed) or `unknown` (sent without a usable answer: may have been billed).

Budgets fail closed. What counts as spent in a window, per row:

    ok                 charged_micros, or estimate_micros while the charge is not known
    pending, unknown   the larger of estimate_micros and charged_micros: it may have been billed
    failed             charged_micros if the server reported one, else 0

The budget check and the `pending` row are one `BEGIN IMMEDIATE` transaction, so concurrent
processes (two cron jobs, `-n 8` threads) queue on SQLite's write lock and cannot both slip under
the same budget. Windows are UTC calendar days and months (README "Budgets and the ledger"): one
day for every process whatever its TZ, from midnight (or the 1st) on; a row stamped after `now`
(a clock step) counts too. Times are stored as fixed-width UTC ISO-8601 strings, so they
sort and compare as text.

Each row records the API it went to (`openrouter`, `sandbox` or a custom base URL, as the caller
names it); budgets and history look at one API at a time.

The schema version lives in `PRAGMA user_version`; `MIGRATIONS` is applied in order, in one
transaction, by whichever process opens an older file first. A new migration is one more tuple of
statements at the end of `MIGRATIONS`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal, TypeVar

from flux_cli import paths
from flux_cli.errors import BudgetError, Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.pricing import format_usd
from flux_cli.textsafe import strip_control

__all__ = [
    "DEFAULT_BUDGET_ZONE",
    "LEDGER_FILENAME",
    "MIGRATIONS",
    "STATUSES",
    "UNRESOLVED",
    "BudgetExceeded",
    "Budgets",
    "Ledger",
    "LedgerError",
    "NewEntry",
    "Remaining",
    "Row",
    "Spent",
    "Status",
    "TotalRow",
    "budget_zone",
    "default_path",
    "local_day",
    "parse_since",
    "window_starts",
]

LEDGER_FILENAME = "ledger.sqlite3"
BUSY_TIMEOUT_S = 30.0
MAX_ERROR_CHARS = 500

Status = Literal["pending", "ok", "failed", "unknown"]
STATUSES: tuple[Status, ...] = ("pending", "ok", "failed", "unknown")
UNRESOLVED: tuple[Status, ...] = ("pending", "unknown")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order

# Each migration is a tuple of statements, run in order inside one transaction. Never edit a
# migration that has shipped; append a new one (ALTER TABLE …) instead.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE calls (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at      TEXT    NOT NULL,
            updated_at      TEXT    NOT NULL,
            status          TEXT    NOT NULL
                            CHECK (status IN ('pending', 'ok', 'failed', 'unknown')),
            api             TEXT    NOT NULL,
            command         TEXT    NOT NULL,
            model           TEXT    NOT NULL,
            provider        TEXT,
            route           TEXT,
            seed            INTEGER,
            width           INTEGER,
            height          INTEGER,
            output_mp       INTEGER,
            reference_count INTEGER NOT NULL DEFAULT 0,
            reference_mp    INTEGER NOT NULL DEFAULT 0,
            estimate_micros INTEGER NOT NULL CHECK (estimate_micros >= 0),
            charged_micros  INTEGER,
            generation_id   TEXT,
            paths           TEXT    NOT NULL DEFAULT '[]',
            sha256s         TEXT    NOT NULL DEFAULT '[]',
            exit_code       INTEGER,
            prompt          TEXT,
            pid             INTEGER,
            hostname        TEXT,
            error           TEXT,
            elapsed_s       REAL
        )
        """,
        "CREATE INDEX calls_api_created ON calls (api, created_at)",
        "CREATE INDEX calls_unresolved ON calls (api, status) "
        "WHERE status IN ('pending', 'unknown')",
    ),
)

# What a row counts for against a budget (see the module docstring).
_COUNTED = """
    CASE status
        WHEN 'ok' THEN COALESCE(charged_micros, estimate_micros)
        WHEN 'failed' THEN COALESCE(charged_micros, 0)
        ELSE MAX(estimate_micros, COALESCE(charged_micros, 0))
    END
"""


class LedgerError(Flux2Error):
    """The ledger file cannot be opened, read or written (locked too long, corrupt, read-only)."""

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
    """What counts as spent in the current local day and month (see the module docstring)."""

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
    key: str  # the local day (YYYY-MM-DD) or the model id
    count: int
    ok_count: int
    failed_count: int
    pending_count: int
    unknown_count: int
    estimate_micros: int  # sum over all rows
    charged_micros: int  # sum of the charges the server reported
    counted_micros: int  # what the rows count for against a budget


def default_path() -> Path:
    return paths.data_dir() / LEDGER_FILENAME


# -- time ---------------------------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    """A naive datetime is local wall-clock time."""
    return moment if moment.tzinfo is not None else moment.astimezone()


def _stamp(moment: datetime) -> str:
    return _aware(moment).astimezone(timezone.utc).strftime(_TIME_FORMAT)


def _parse_stamp(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)


def _local_midnight(moment: datetime) -> datetime:
    """The start of `moment`'s day in the machine's local time zone, as an aware UTC datetime.

    Built from naive local wall-clock time so that `astimezone` applies the zone's rules for
    midnight itself, not the offset in force at `moment` (they differ on DST-change days).
    """
    local = _aware(moment).astimezone().replace(tzinfo=None)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)


#: The budget day's zone unless told otherwise: one day for every process (docs/openrouter.md#key:
#: OpenRouter's own daily usage and budgets count UTC days too).
DEFAULT_BUDGET_ZONE = "UTC"


def window_starts(now: datetime, zone: str = "local") -> tuple[datetime, datetime]:
    """(start of the day, start of the calendar month) containing `now` in `zone`, in UTC.

    `zone` is "local" (this process's TZ), "UTC" or an IANA name such as "Europe/Berlin"."""
    if zone == "local":
        local = _aware(now).astimezone().replace(tzinfo=None)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        return day.astimezone(timezone.utc), month.astimezone(timezone.utc)
    tz = budget_zone(zone)
    there = _aware(now).astimezone(tz)
    day_start = datetime(there.year, there.month, there.day, tzinfo=tz)
    month_start = datetime(there.year, there.month, 1, tzinfo=tz)
    return day_start.astimezone(timezone.utc), month_start.astimezone(timezone.utc)


def budget_zone(zone: str) -> tzinfo:
    """The tzinfo of a budget zone name; ValueError for one that does not exist."""
    if zone.upper() == "UTC":
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None


def local_day(moment: datetime) -> str:
    return _aware(moment).astimezone().strftime("%Y-%m-%d")


_RELATIVE = re.compile(r"(\d{1,6})\s*(m|mins?|minutes?|h|hours?|d|days?|w|weeks?)", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2})?")
_RELATIVE_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: `30m`, `12h`, `7d`, `2w`, `today`, a local date (`2026-11-01`, from local midnight) or
    a local date and time (`2026-11-01T10:00`; an explicit offset or `Z` is honoured).

    Returns an aware UTC datetime. `m` is minutes (as in `sleep 30m`); months are not accepted.
    """
    now = _aware(now or _utcnow())
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        unit = _RELATIVE_UNITS[relative.group(2)[0].lower()]
        return (now - int(relative.group(1)) * unit).astimezone(timezone.utc)
    if value.lower() == "today":
        return _local_midnight(now)
    if value.lower() == "yesterday":
        return _local_midnight(_local_midnight(now) - timedelta(hours=1))
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            moment = datetime.strptime(iso, "%Y-%m-%d")
        elif _LOCAL_TIME.fullmatch(iso):
            moment = datetime.fromisoformat(iso)
        else:
            raise ValueError(value)
        return _aware(moment).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise UsageError(
            f"--since {text!r} is not a time flux2 understands",
            hint="use a span like 30m, 12h, 7d or 2w, 'today', a date like 2026-11-01 "
            "or a local time like 2026-11-01T10:00",
        ) from None


# -- the ledger ---------------------------------------------------------------------------------

_T = TypeVar("_T")


def _sqlite_failure(path: Path, exc: sqlite3.Error) -> LedgerError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return LedgerError(
            f"the spending ledger {path} stayed locked by another flux2 process for more than "
            f"{BUSY_TIMEOUT_S:g} s",
            hint="check for a hung flux2 process (ps), then run again",
        )
    return LedgerError(
        f"the spending ledger {path} cannot be used ({text})",
        hint=f"check the permissions and free space of {path.parent}",
    )


def _retry_while_locked(action: Callable[[], _T], timeout: float) -> _T:
    """For the few statements SQLite does not route through the busy handler (switching a new
    file to WAL while another process opens it)."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _prepare_file(path: Path) -> None:
    """The data dir 0700 when we create it, the file 0600 before SQLite ever opens it (the WAL
    and shared-memory files take the database file's mode)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        info = os.fstat(fd)
        if info.st_mode & 0o077 and (not hasattr(os, "getuid") or info.st_uid == os.getuid()):
            os.fchmod(fd, 0o600)  # prompts are private; tighten a file someone loosened
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        return True  # cannot tell: the age rule decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True


def _to_row(record: sqlite3.Row) -> Row:
    return Row(
        id=record["id"],
        created_at=_parse_stamp(record["created_at"]),
        updated_at=_parse_stamp(record["updated_at"]),
        status=record["status"],
        api=record["api"],
        command=record["command"],
        model=record["model"],
        provider=record["provider"],
        route=record["route"],
        seed=record["seed"],
        width=record["width"],
        height=record["height"],
        output_mp=record["output_mp"],
        reference_count=record["reference_count"],
        reference_mp=record["reference_mp"],
        estimate_micros=record["estimate_micros"],
        charged_micros=record["charged_micros"],
        generation_id=record["generation_id"],
        paths=tuple(json.loads(record["paths"] or "[]")),
        sha256s=tuple(json.loads(record["sha256s"] or "[]")),
        exit_code=record["exit_code"],
        prompt=record["prompt"],
        pid=record["pid"],
        hostname=record["hostname"],
        error=record["error"],
        elapsed_s=record["elapsed_s"],
    )


def _check_status(status: str, allowed: Sequence[str] = STATUSES) -> None:
    if status not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}, got {status!r}")


def _check_estimate(entry: NewEntry) -> None:
    if entry.estimate_micros < 0:
        raise ValueError("estimate_micros must not be negative")


def _refusal(
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


class Ledger:
    """One connection to the ledger file; safe to share between threads of one process.

    with Ledger.open() as ledger:
        row_id = ledger.reserve(entry, budgets)   # BudgetExceeded: nothing was sent
        ...send...
        ledger.update(row_id, status="ok", charged_micros=..., paths=[...], sha256s=[...])
    """

    def __init__(
        self, conn: sqlite3.Connection, path: Path, zone: str = DEFAULT_BUDGET_ZONE
    ) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path = path
        self.hostname = socket.gethostname()
        self.zone = zone  # the budget day's time zone (see window_starts)

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        busy_timeout: float = BUSY_TIMEOUT_S,
        zone: str = DEFAULT_BUDGET_ZONE,
    ) -> Ledger:
        path = path or default_path()
        try:
            _prepare_file(path)
        except OSError as exc:
            raise LedgerError(
                f"cannot create the spending ledger {path} ({exc.strerror or exc})",
                hint=f"check the permissions of {path.parent}, or set FLUX2_DATA_DIR",
            ) from None
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(
                str(path),
                timeout=busy_timeout,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE … COMMIT
                check_same_thread=False,
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # Every commit waits for the disk (a `pending` row must exist before its request
            # goes), whatever this SQLite build's default; settling may opt out (`update`).
            conn.execute("PRAGMA synchronous = FULL")
            opened = conn
            _retry_while_locked(
                lambda: opened.execute("PRAGMA journal_mode = WAL").fetchone(), busy_timeout
            )
            _migrate(conn, MIGRATIONS)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _sqlite_failure(path, exc) from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path, zone)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        with self._reading() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE`: take the write lock first (waiting up to busy_timeout), so the
        reads inside see the latest data and the writes can never hit a busy snapshot."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.rollback()
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                raise _sqlite_failure(self.path, exc) from None

    @contextmanager
    def _one_statement(self) -> Iterator[sqlite3.Connection]:
        """One write statement in SQLite's autocommit mode: a single statement is a transaction
        of its own (atomic, synced on commit), so it needs no BEGIN/COMMIT round trips. For
        writes that read nothing first; anything that checks and then writes uses `_writing`."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _sqlite_failure(self.path, exc) from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _sqlite_failure(self.path, exc) from None

    # -- budgets --------------------------------------------------------------------------------

    def _spent(self, conn: sqlite3.Connection, api: str, now: datetime) -> Spent:
        day, month = window_starts(now, self.zone)
        today, this_month, pending, unknown = conn.execute(
            f"""
            SELECT COALESCE(SUM(CASE WHEN created_at >= :day THEN {_COUNTED} END), 0),
                   COALESCE(SUM({_COUNTED}), 0),
                   COALESCE(SUM(status = 'pending'), 0),
                   COALESCE(SUM(status = 'unknown'), 0)
            FROM calls
            WHERE api = :api AND created_at >= :month
            """,  # noqa: S608 - _COUNTED is a constant
            {"api": api, "day": _stamp(day), "month": _stamp(month)},
        ).fetchone()
        return Spent(int(today), int(this_month), int(pending), int(unknown))

    def spent(self, api: str, *, now: datetime | None = None) -> Spent:
        with self._reading() as conn:
            return self._spent(conn, api, now or _utcnow())

    def remaining(self, budgets: Budgets, api: str, now: datetime | None = None) -> Remaining:
        spent = self.spent(api, now=now)
        daily = monthly = None
        if budgets.daily_micros is not None:
            daily = max(0, budgets.daily_micros - spent.today_micros)
        if budgets.monthly_micros is not None:
            monthly = max(0, budgets.monthly_micros - spent.month_micros)
        return Remaining(daily, monthly, spent)

    def reserve(
        self,
        entry: NewEntry,
        budgets: Budgets,
        *,
        max_cost_micros: int | None = None,
        now: datetime | None = None,
        record_refusal: bool = False,
    ) -> int:
        """Check the budgets and write the `pending` row in one transaction; the row's id.

        Allowed when spent + this estimate ≤ the budget, for each budget set. Otherwise raises
        BudgetExceeded; with `record_refusal` the refusal is written in the same transaction as
        a `failed` row (charged 0, exit code 7, nothing sent), so the ledger logs every call that
        was attempted, and the exception carries its `row_id`. `max_cost_micros` is checked
        against this entry's estimate alone (the caller passes what is left of a per-run --max-cost).
        """
        if max_cost_micros is not None and entry.estimate_micros > max_cost_micros:
            _check_estimate(entry)
            raise BudgetExceeded(
                budget="max-cost",
                limit_micros=max_cost_micros,
                spent_micros=0,
                estimate_micros=entry.estimate_micros,
            )
        (result,) = self.reserve_many([entry], budgets, now=now, record_refusal=record_refusal)
        if isinstance(result, BudgetExceeded):
            raise result
        return result

    def reserve_many(
        self,
        entries: Sequence[NewEntry],
        budgets: Budgets,
        *,
        now: datetime | None = None,
        record_refusal: bool = False,
    ) -> list[int | BudgetExceeded]:
        """`reserve` for several calls in one transaction, so they wait for the disk once; for
        each, in order, its row id or its refusal (returned, not raised). Each is checked
        against what was spent plus the estimates of the ones before it that were allowed."""
        for entry in entries:
            _check_estimate(entry)
            if entry.api != entries[0].api:
                raise ValueError("reserve_many takes calls to one API")
        now = now or _utcnow()
        stamp = _stamp(now)
        results: list[int | BudgetExceeded] = []
        # Without budgets nothing is read first, and one INSERT alone is the transaction.
        alone = not budgets.any and len(entries) == 1
        with self._one_statement() if alone else self._writing() as conn:
            spent = self._spent(conn, entries[0].api, now) if budgets.any and entries else None
            allowed_micros = allowed_count = 0
            for entry in entries:
                refusal = None
                if spent is not None:
                    refusal = _refusal(budgets, spent, allowed_micros, allowed_count, entry)
                if refusal is not None and not record_refusal:
                    results.append(refusal)
                    continue
                row_id = self._insert(conn, entry, stamp, refusal)
                if refusal is None:
                    allowed_micros += entry.estimate_micros
                    allowed_count += 1
                    results.append(row_id)
                else:
                    refusal.row_id = row_id
                    results.append(refusal)
        return results

    def _insert(
        self,
        conn: sqlite3.Connection,
        entry: NewEntry,
        stamp: str,
        refusal: BudgetExceeded | None,
    ) -> int:
        cursor = conn.execute(
            """
            INSERT INTO calls (
                created_at, updated_at, status, api, command, model, provider, route, seed,
                width, height, output_mp, reference_count, reference_mp, estimate_micros,
                prompt, pid, hostname, charged_micros, exit_code, error
            ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                stamp,
                stamp,
                "pending" if refusal is None else "failed",
                entry.api,
                entry.command,
                entry.model,
                entry.provider,
                entry.route,
                entry.seed,
                entry.width,
                entry.height,
                entry.output_mp,
                entry.reference_count,
                entry.reference_mp,
                entry.estimate_micros,
                entry.prompt,
                os.getpid(),
                self.hostname,
                None if refusal is None else 0,
                None if refusal is None else int(refusal.exit_code),
                None if refusal is None else strip_control(refusal.message, MAX_ERROR_CHARS),
            ),
        )
        row_id = cursor.lastrowid
        assert row_id is not None
        return row_id

    # -- settling a row -------------------------------------------------------------------------

    def update(
        self,
        row_id: int,
        *,
        status: Status,
        charged_micros: int | None = None,
        generation_id: str | None = None,
        provider: str | None = None,
        paths: Sequence[str] = (),
        sha256s: Sequence[str] = (),
        exit_code: int | None = None,
        error: str | None = None,
        elapsed_s: float | None = None,
        now: datetime | None = None,
        synced: bool = True,
    ) -> None:
        """Settle (or re-settle) a row. Arguments left at None / empty keep what the row holds.

        `synced=False` commits without waiting for the disk (SQLite's `synchronous = NORMAL`):
        the row is safe if flux2 is killed and becomes durable with the next synced write; only
        a power cut in between could undo it, leaving the row as it was (`pending`, which counts
        at its estimate and `history --reconcile` settles). For settling a call, never for
        reserving one."""
        _check_status(status)
        fields: dict[str, object] = {"status": status, "updated_at": _stamp(now or _utcnow())}
        optional: dict[str, object] = {
            "charged_micros": charged_micros,
            "generation_id": generation_id,
            "provider": provider,
            "exit_code": exit_code,
            "error": strip_control(error, MAX_ERROR_CHARS) if error is not None else None,
            "elapsed_s": elapsed_s,
            "paths": json.dumps(list(paths)) if paths else None,
            "sha256s": json.dumps(list(sha256s)) if sha256s else None,
        }
        fields.update({name: value for name, value in optional.items() if value is not None})
        self._set(row_id, fields, synced=synced)

    def note_generation_id(
        self, row_id: int, generation_id: str, now: datetime | None = None
    ) -> None:
        """Save an id seen in response headers before the body has arrived."""
        self._set(row_id, {"generation_id": generation_id, "updated_at": _stamp(now or _utcnow())})

    def _set(
        self, row_id: int, fields: dict[str, object], where: str = "", *, synced: bool = True
    ) -> bool:
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        with self._one_statement() as conn:
            if not synced:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                cursor = conn.execute(
                    f"UPDATE calls SET {assignments} WHERE id = :row_id {where}",  # noqa: S608 - names are ours
                    {**fields, "row_id": row_id},
                )
            finally:
                if not synced:
                    conn.execute("PRAGMA synchronous = FULL")
            changed = cursor.rowcount > 0
            if not changed and not where:
                raise LedgerError(f"the spending ledger has no row {row_id}")
        return changed

    def resolve(
        self,
        row_id: int,
        *,
        status: Literal["ok", "failed", "unknown"],
        charged_micros: int | None,
        provider: str | None = None,
        now: datetime | None = None,
    ) -> bool:
        """Reconcile: settle a `pending` or `unknown` row (e.g. from `/generation`). Rows already
        settled as ok or failed are left alone; returns whether the row changed."""
        _check_status(status, ("ok", "failed", "unknown"))
        fields: dict[str, object] = {"status": status, "updated_at": _stamp(now or _utcnow())}
        if charged_micros is not None:
            fields["charged_micros"] = charged_micros
        if provider is not None:
            fields["provider"] = provider
        return self._set(row_id, fields, where="AND status IN ('pending', 'unknown')")

    # -- queries --------------------------------------------------------------------------------

    def get(self, row_id: int) -> Row | None:
        with self._reading() as conn:
            record = conn.execute("SELECT * FROM calls WHERE id = ?", (row_id,)).fetchone()
        return None if record is None else _to_row(record)

    def rows(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        limit: int | None = None,
        statuses: Sequence[Status] | None = None,
    ) -> list[Row]:
        """Newest first."""
        where = ["api = ?"]
        params: list[object] = [api]
        if since is not None:
            where.append("created_at >= ?")
            params.append(_stamp(since))
        if model is not None:
            where.append("model = ?")
            params.append(model)
        if statuses is not None:
            for status in statuses:
                _check_status(status)
            where.append(f"status IN ({', '.join('?' for _ in statuses)})")
            params.extend(statuses)
        sql = f"SELECT * FROM calls WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC"  # noqa: S608 - placeholders only
        if limit is not None:
            sql += " LIMIT ?"
            params.append(max(0, limit))
        with self._reading() as conn:
            records = conn.execute(sql, params).fetchall()
        return [_to_row(r) for r in records]

    def totals(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        by: Literal["day", "model"] = "day",
    ) -> list[TotalRow]:
        """Per local day (newest first) or per model (by name)."""
        if by not in ("day", "model"):
            raise ValueError(f"by must be 'day' or 'model', got {by!r}")
        groups: dict[str, list[Row]] = {}
        for row in self.rows(api, since=since, model=model):
            key = local_day(row.created_at) if by == "day" else row.model
            groups.setdefault(key, []).append(row)
        totals = [
            TotalRow(
                key=key,
                count=len(rows),
                ok_count=sum(r.status == "ok" for r in rows),
                failed_count=sum(r.status == "failed" for r in rows),
                pending_count=sum(r.status == "pending" for r in rows),
                unknown_count=sum(r.status == "unknown" for r in rows),
                estimate_micros=sum(r.estimate_micros for r in rows),
                charged_micros=sum(r.charged_micros or 0 for r in rows),
                counted_micros=sum(r.counted_micros for r in rows),
            )
            for key, rows in groups.items()
        ]
        totals.sort(key=lambda t: t.key, reverse=by == "day")
        return totals

    def unresolved(self, api: str) -> list[Row]:
        """Pending and unknown rows, newest first: what a reconcile should look up."""
        return self.rows(api, statuses=UNRESOLVED)

    def stale_pending(
        self, api: str, *, now: datetime | None = None, older_than: timedelta = timedelta(hours=1)
    ) -> list[Row]:
        """Pending rows no process will settle (a `kill -9` mid-request leaves one).

        Stale when written on this host by a process that no longer exists, or when older than
        `older_than` whatever the host: another machine's pid cannot be checked, and a pid on
        this one may have been reused. A live call stays pending for at most a few attempts of
        `Timeouts.attempt`, so the default hour leaves a wide margin.
        """
        cutoff = _aware(now or _utcnow()) - older_than

        def gone(row: Row) -> bool:
            return row.hostname == self.hostname and row.pid is not None and not _pid_alive(row.pid)

        return [
            row
            for row in self.rows(api, statuses=("pending",))
            if row.created_at < cutoff or gone(row)
        ]


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]]) -> None:
    target = len(migrations)
    if _user_version(conn) == target:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = _user_version(conn)  # again, under the write lock: another process may have won
        if version > target:
            raise LedgerError(
                f"the spending ledger was written by a newer flux2 (schema {version}, "
                f"this one knows {target})",
                hint="upgrade flux2 (pip install -U flux2-cli)",
            )
        for migration in migrations[version:]:
            for statement in migration:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
