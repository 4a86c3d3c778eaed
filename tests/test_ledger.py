"""The spending ledger on real databases: budgets, windows, migrations, many processes at once.

Every test that takes the `ledger` (or `target`) fixture runs twice: on a SQLite file and on a
throwaway PostgreSQL server (tests/postgres.py). The file's own matters (mode, WAL, a corrupt
file) are SQLite's alone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flux_cli import ledger as ledger_module
from flux_cli.errors import BudgetError, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import (
    UNRESOLVED,
    BudgetExceeded,
    Budgets,
    Ledger,
    LedgerError,
    NewEntry,
    default_path,
    parse_since,
    window_starts,
)
from flux_cli.ledger import postgres as postgres_backend
from flux_cli.ledger import sqlite as sqlite_backend

NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)
CENTS_3 = 30_000


@pytest.fixture
def utc_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from _zone(monkeypatch, "UTC0")


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # POSIX rules, so no tz database is needed: UTC-5, UTC-4 in summer (second Sunday of March
    # to first Sunday of November).
    yield from _zone(monkeypatch, "EST5EDT,M3.2.0,M11.1.0")


def _zone(monkeypatch: pytest.MonkeyPatch, tz: str) -> Iterator[None]:
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@dataclass(frozen=True)
class Target:
    """Where a test's ledger lives: a SQLite file's path or a PostgreSQL URL."""

    kind: str
    location: str

    def open(self) -> Ledger:
        if self.kind == "sqlite":
            return Ledger.open(Path(self.location))
        return Ledger.open(url=self.location)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "sqlite":
        return Target("sqlite", str(tmp_path / "ledger.sqlite3"))
    return Target("postgresql", request.getfixturevalue("postgres_url"))


@pytest.fixture
def ledger(target: Target) -> Iterator[Ledger]:
    with target.open() as opened:
        yield opened


def execute(ledger: Ledger, sql: str) -> list[tuple[object, ...]]:
    """A statement straight on the ledger's database (to set up what flux2 itself never writes)."""
    with ledger._db.statement() as session:
        cursor = session.execute(sql)
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


def columns(ledger: Ledger) -> list[str]:
    if ledger.kind == "sqlite":
        return [str(c[1]) for c in execute(ledger, "PRAGMA table_info(calls)")]
    sql = "SELECT column_name FROM information_schema.columns WHERE table_name = 'calls'"
    return [str(c[0]) for c in execute(ledger, sql)]


def backend(target: Target) -> object:
    return sqlite_backend if target.kind == "sqlite" else postgres_backend


OpenLedger = Callable[[], Ledger]


def entry(estimate: int = CENTS_3, api: str = "openrouter", **fields: object) -> NewEntry:
    values: dict[str, object] = {
        "api": api,
        "command": "generate",
        "model": "black-forest-labs/flux.2-pro",
        "estimate_micros": estimate,
        "route": "images",
        "seed": 7,
        "width": 1024,
        "height": 1024,
        "output_mp": 1,
        "prompt": "a red fox",
    }
    values.update(fields)
    return NewEntry(**values)  # type: ignore[arg-type]


# -- the file --------------------------------------------------------------------------------------


def test_default_path_is_in_the_data_dir(isolated_environment: Path) -> None:
    assert default_path() == isolated_environment / "data" / "ledger.sqlite3"


def test_open_creates_a_private_wal_database(isolated_environment: Path) -> None:
    with Ledger.open() as opened:
        opened.reserve(entry(), Budgets())
        path = opened.path
        assert path is not None
        mode = execute(opened, "PRAGMA journal_mode")[0][0]
        assert opened._db.version() == len(ledger_module.MIGRATIONS)
    assert mode == "wal"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_loosened_file_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.touch()
    path.chmod(0o644)
    Ledger.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_file_that_is_not_a_database_is_a_ledger_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 40)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(path)
    assert str(path) in caught.value.message
    assert caught.value.exit_code == ExitCode.OUTPUT


def test_an_unwritable_directory_is_a_ledger_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="cannot create"):
        Ledger.open(blocker / "ledger.sqlite3")


# -- migrations -------------------------------------------------------------------------------------


def test_an_older_database_is_upgraded_in_place(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = backend(target)
    current = len(module.MIGRATIONS)  # type: ignore[attr-defined]
    with target.open() as v1:
        row_id = v1.reserve(entry(), Budgets(), now=NOW)
        assert v1._db.version() == current
    migration = ("ALTER TABLE calls ADD COLUMN note TEXT",)
    monkeypatch.setattr(module, "MIGRATIONS", (*module.MIGRATIONS, migration))  # type: ignore[attr-defined]
    with target.open() as v2:
        assert v2._db.version() == current + 1
        kept = v2.get(row_id)
        assert kept is not None
        assert kept.prompt == "a red fox"
        assert "note" in columns(v2)
    with target.open() as again:  # already current: nothing re-applied
        assert again._db.version() == current + 1


def test_a_failed_migration_leaves_the_old_version(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = backend(target)
    current = len(module.MIGRATIONS)  # type: ignore[attr-defined]
    target.open().close()
    broken = ("ALTER TABLE calls ADD COLUMN fine TEXT", "THIS IS NOT SQL")
    monkeypatch.setattr(module, "MIGRATIONS", (*module.MIGRATIONS, broken))  # type: ignore[attr-defined]
    with pytest.raises(LedgerError):
        target.open()
    monkeypatch.undo()
    with target.open() as opened:
        assert opened._db.version() == current
        assert "fine" not in columns(opened)


def test_a_newer_database_is_refused(target: Target) -> None:
    with target.open() as opened:
        if target.kind == "sqlite":
            execute(opened, "PRAGMA user_version = 99")
        else:
            execute(opened, "UPDATE flux2_schema SET version = 99")
    with pytest.raises(LedgerError, match="newer flux2"):
        target.open()


def test_a_schema_1_file_gains_host_user_run_and_running_totals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, utc_zone: None
) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as conn:  # a file as the first release wrote it
        for statement in sqlite_backend.MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO calls (created_at, updated_at, status, api, command, model, "
            "estimate_micros, hostname) VALUES (?, ?, 'pending', 'openrouter', 'generate', 'm', "
            "30000, 'old-host')",
            (NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),) * 2,
        )
    with Ledger.open(path) as opened:
        assert opened._db.version() == len(sqlite_backend.MIGRATIONS)
        (row,) = opened.rows("openrouter")
        assert (row.host, row.hostname, row.os_user, row.run_id) == (
            "old-host",
            "old-host",
            None,
            None,
        )
        assert opened.spent("openrouter", now=NOW).today_micros == 30_000  # totals backfilled
        (uid,) = execute(opened, "SELECT uid FROM calls")[0]
        assert isinstance(uid, str)
        assert len(uid) == 32


# -- budgets ----------------------------------------------------------------------------------------


def test_budgets_allow_up_to_the_limit_and_refuse_one_micro_over(
    ledger: Ledger, utc_zone: None
) -> None:
    budgets = Budgets(daily_micros=90_000)
    for _ in range(3):
        ledger.reserve(entry(), budgets, now=NOW)  # 0.03 + 0.03 + 0.03 == 0.09: allowed
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(entry(1), budgets, now=NOW)
    refused = caught.value
    assert (refused.budget, refused.limit_micros, refused.spent_micros) == ("daily", 90_000, 90_000)
    assert refused.remaining_micros == 0
    assert refused.estimate_micros == 1
    assert len(ledger.rows("openrouter")) == 3  # the refused call left no row


def test_the_refusal_reads_well(ledger: Ledger, utc_zone: None) -> None:
    ledger.reserve(entry(480_000), Budgets(), now=NOW)
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(entry(), Budgets(daily_micros=500_000), now=NOW)
    error = caught.value
    assert isinstance(error, BudgetError)
    assert error.exit_code == ExitCode.BUDGET
    assert int(error.exit_code) == 7
    assert error.message == (
        "daily budget $0.50: $0.48 spent today, $0.02 left; this call would cost $0.03; "
        "nothing was sent"
    )
    assert error.hint is not None
    assert "FLUX2_BUDGET_DAILY_USD" in error.hint
    assert "budget.daily_usd" in error.hint
    assert "tomorrow" in error.hint
    assert "not known yet" in error.hint  # the 0.48 row is still pending


def test_monthly_budget(ledger: Ledger, utc_zone: None) -> None:
    ledger.reserve(entry(9_990_000), Budgets(), now=NOW - timedelta(days=5))
    with pytest.raises(BudgetExceeded) as caught:
        ledger.reserve(entry(), Budgets(daily_micros=1_000_000, monthly_micros=10_000_000), now=NOW)
    assert caught.value.budget == "monthly"
    assert caught.value.message.startswith("monthly budget $10.00: $9.99 spent this month")
    assert caught.value.hint is not None
    assert "FLUX2_BUDGET_MONTHLY_USD" in caught.value.hint


@pytest.mark.parametrize(
    ("status", "charged", "counted"),
    [
        ("pending", None, CENTS_3),
        ("unknown", None, CENTS_3),  # may have been billed: fail closed
        ("unknown", 45_000, 45_000),
        ("ok", None, CENTS_3),  # charge not reported: the estimate stands in
        ("ok", 14_000, 14_000),
        ("failed", None, 0),
        ("failed", 5_000, 5_000),
    ],
)
def test_what_counts_as_spent(
    ledger: Ledger, utc_zone: None, status: str, charged: int | None, counted: int
) -> None:
    row_id = ledger.reserve(entry(), Budgets(), now=NOW)
    if status != "pending":
        ledger.update(row_id, status=status, charged_micros=charged)  # type: ignore[arg-type]
    spent = ledger.spent("openrouter", now=NOW)
    assert spent.today_micros == spent.month_micros == counted
    assert (spent.pending_count, spent.unknown_count) == (
        int(status == "pending"),
        int(status == "unknown"),
    )
    row = ledger.get(row_id)
    assert row is not None
    assert row.counted_micros == counted


def test_budgets_are_per_api(ledger: Ledger, utc_zone: None) -> None:
    budgets = Budgets(daily_micros=CENTS_3)
    ledger.reserve(entry(api="sandbox"), budgets, now=NOW)
    ledger.reserve(entry(api="openrouter"), budgets, now=NOW)  # sandbox rehearsals do not count
    with pytest.raises(BudgetExceeded):
        ledger.reserve(entry(api="sandbox"), budgets, now=NOW)
    assert ledger.spent("https://example.test/api/v1", now=NOW).month_micros == 0


def test_remaining(ledger: Ledger, utc_zone: None) -> None:
    ledger.reserve(entry(100_000), Budgets(), now=NOW)
    left = ledger.remaining(Budgets(daily_micros=80_000, monthly_micros=500_000), "openrouter", NOW)
    assert (left.daily_micros, left.monthly_micros) == (0, 400_000)  # never below zero
    assert left.spent.today_micros == 100_000
    none = ledger.remaining(Budgets(), "openrouter", NOW)
    assert (none.daily_micros, none.monthly_micros) == (None, None)


def test_negative_budgets_and_estimates_are_bugs(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="negative"):
        Budgets(daily_micros=-1)
    with pytest.raises(ValueError, match="negative"):
        ledger.reserve(entry(-1), Budgets())


# -- windows in local time --------------------------------------------------------------------------


def test_the_day_starts_at_local_midnight(ledger: Ledger, new_york: None) -> None:
    ledger.zone = "local"  # the machine's zone, as a Ledger opened with zone="local" counts
    # 2026-11-21 04:30 UTC is 23:30 on the 20th in New York (EST, UTC-5).
    late_yesterday = datetime(2026, 11, 21, 4, 30, tzinfo=UTC)
    just_after_midnight = datetime(2026, 11, 21, 5, 0, 1, tzinfo=UTC)
    ledger.reserve(entry(10_000), Budgets(), now=late_yesterday)
    ledger.reserve(entry(20_000), Budgets(), now=just_after_midnight)
    spent = ledger.spent("openrouter", now=datetime(2026, 11, 21, 20, 0, tzinfo=UTC))
    assert spent.today_micros == 20_000
    assert spent.month_micros == 30_000
    # Seen from the evening of the 20th, the first is today's; the second (stamped later, as
    # after a clock step) still counts: nothing newer than "now" escapes a budget.
    before = ledger.spent("openrouter", now=datetime(2026, 11, 21, 4, 50, tzinfo=UTC))
    assert before.today_micros == 30_000


def test_the_month_is_the_local_calendar_month(ledger: Ledger, new_york: None) -> None:
    ledger.zone = "local"
    # 2026-12-01 03:00 UTC is still November 30th in New York.
    ledger.reserve(entry(10_000), Budgets(), now=datetime(2026, 11, 15, 12, 0, tzinfo=UTC))
    ledger.reserve(entry(20_000), Budgets(), now=datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    november = ledger.spent("openrouter", now=datetime(2026, 12, 1, 4, 0, tzinfo=UTC))
    assert (november.today_micros, november.month_micros) == (20_000, 30_000)
    december = ledger.spent("openrouter", now=datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    assert (december.today_micros, december.month_micros) == (0, 0)
    ledger.reserve(entry(40_000), Budgets(), now=datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    december = ledger.spent("openrouter", now=datetime(2026, 12, 1, 7, 0, tzinfo=UTC))
    assert (december.today_micros, december.month_micros) == (40_000, 40_000)


def test_window_starts_follow_daylight_saving(new_york: None) -> None:
    # 2026-11-01 is the day New York falls back: midnight is still EDT (UTC-4).
    day, month = window_starts(datetime(2026, 11, 1, 20, 0, tzinfo=UTC))
    assert day == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    assert month == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    day, month = window_starts(datetime(2026, 11, 21, 12, 0, tzinfo=UTC))
    assert day == datetime(2026, 11, 21, 5, 0, tzinfo=UTC)  # EST by now
    assert month == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def test_a_naive_now_is_local_time(new_york: None) -> None:
    day, _ = window_starts(datetime(2026, 11, 21, 0, 30))
    assert day == datetime(2026, 11, 21, 5, 0, tzinfo=UTC)


# -- settling rows ----------------------------------------------------------------------------------


def test_a_row_from_reserve_to_ok(ledger: Ledger) -> None:
    row_id = ledger.reserve(
        entry(reference_count=2, reference_mp=3, provider=None), Budgets(), now=NOW
    )
    pending = ledger.get(row_id)
    assert pending is not None
    assert pending.status == "pending"
    assert pending.charged_micros is None
    assert pending.created_at == NOW
    assert pending.pid == os.getpid()
    assert pending.hostname
    assert (pending.reference_count, pending.reference_mp) == (2, 3)
    ledger.update(row_id, status="pending", generation_id="gen-img-1-abc")
    ledger.update(
        row_id,
        status="ok",
        charged_micros=75_000,
        provider="Black Forest Labs",
        paths=["/out/a.jpg"],
        sha256s=["ab" * 32],
        exit_code=0,
        elapsed_s=4.25,
        now=NOW + timedelta(seconds=5),
    )
    done = ledger.get(row_id)
    assert done is not None
    assert done.status == "ok"
    assert done.charged_micros == 75_000
    assert done.generation_id == "gen-img-1-abc"  # kept: update did not pass one
    assert done.paths == ("/out/a.jpg",)
    assert done.sha256s == ("ab" * 32,)
    assert done.updated_at == NOW + timedelta(seconds=5)
    assert done.elapsed_s == 4.25
    assert done.provider == "Black Forest Labs"
    assert done.exit_code == 0


def test_prompts_are_not_stored_when_the_caller_says_so(ledger: Ledger) -> None:
    row_id = ledger.reserve(entry(prompt=None), Budgets())
    row = ledger.get(row_id)
    assert row is not None
    assert row.prompt is None


def test_error_text_is_cleaned_and_short(ledger: Ledger) -> None:
    row_id = ledger.reserve(entry(), Budgets())
    ledger.update(row_id, status="unknown", error="\x1b[31mtimed out\x1b[0m " + "x" * 2000)
    row = ledger.get(row_id)
    assert row is not None
    assert row.error is not None
    assert row.error.startswith("timed out ")
    assert "\x1b" not in row.error
    assert len(row.error) <= ledger_module.MAX_ERROR_CHARS


def test_updating_a_missing_row_or_with_a_bad_status_fails(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="no row 42"):
        ledger.update(42, status="ok")
    row_id = ledger.reserve(entry(), Budgets())
    with pytest.raises(ValueError, match="status"):
        ledger.update(row_id, status="done")  # type: ignore[arg-type]


def test_resolve_settles_only_unresolved_rows(ledger: Ledger) -> None:
    unknown = ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.update(unknown, status="unknown", error="no answer")
    ok = ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.update(ok, status="ok", charged_micros=30_000)
    assert [r.id for r in ledger.rows("openrouter", statuses=UNRESOLVED)] == [unknown]
    assert ledger.resolve(unknown, status="ok", charged_micros=31_000, provider="BFL")
    assert not ledger.resolve(ok, status="failed", charged_micros=0)  # already settled
    resolved = ledger.get(unknown)
    assert resolved is not None
    assert (resolved.status, resolved.charged_micros, resolved.provider) == ("ok", 31_000, "BFL")
    assert ledger.rows("openrouter", statuses=UNRESOLVED) == []
    settled = ledger.get(ok)
    assert settled is not None
    assert settled.status == "ok"


# -- history ----------------------------------------------------------------------------------------


def _history(ledger: Ledger) -> None:
    plan = [
        (datetime(2026, 11, 19, 10, 0, tzinfo=UTC), "black-forest-labs/flux.2-pro", "ok", 30_000),
        (datetime(2026, 11, 19, 11, 0, tzinfo=UTC), "black-forest-labs/flux.2-max", "ok", 70_000),
        (datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "black-forest-labs/flux.2-pro", "failed", None),
        (datetime(2026, 11, 21, 8, 0, tzinfo=UTC), "black-forest-labs/flux.2-pro", "unknown", None),
        (datetime(2026, 11, 21, 9, 0, tzinfo=UTC), "black-forest-labs/flux.2-max", "pending", None),
    ]
    for when, model, status, charged in plan:
        estimate = 70_000 if model.endswith("max") else 30_000
        row_id = ledger.reserve(entry(estimate, model=model), Budgets(), now=when)
        if status != "pending":
            ledger.update(row_id, status=status, charged_micros=charged)  # type: ignore[arg-type]
    ledger.reserve(entry(api="sandbox"), Budgets(), now=NOW)


def test_rows_newest_first_with_filters(ledger: Ledger, utc_zone: None) -> None:
    _history(ledger)
    everything = ledger.rows("openrouter")
    assert [r.created_at.day for r in everything] == [21, 21, 20, 19, 19]
    assert everything[0].status == "pending"
    since = ledger.rows("openrouter", since=parse_since("2d", NOW))
    assert len(since) == 3
    assert len(ledger.rows("openrouter", model="black-forest-labs/flux.2-max")) == 2
    assert len(ledger.rows("openrouter", limit=2)) == 2
    assert len(ledger.rows("sandbox")) == 1


def test_totals_by_day_and_by_model(ledger: Ledger, utc_zone: None) -> None:
    _history(ledger)
    by_day = ledger.totals("openrouter", by="day")
    assert [t.key for t in by_day] == ["2026-11-21", "2026-11-20", "2026-11-19"]
    today = by_day[0]
    assert (today.count, today.pending_count, today.unknown_count) == (2, 1, 1)
    assert today.charged_micros == 0
    assert today.estimate_micros == 100_000
    assert today.counted_micros == 100_000
    assert by_day[1].counted_micros == 0
    assert by_day[1].failed_count == 1
    assert by_day[2].charged_micros == 100_000
    assert by_day[2].ok_count == 2
    by_model = ledger.totals("openrouter", by="model")
    assert [(t.key, t.count) for t in by_model] == [
        ("black-forest-labs/flux.2-max", 2),
        ("black-forest-labs/flux.2-pro", 3),
    ]
    recent = ledger.totals("openrouter", since=parse_since("today", NOW), by="model")
    assert sum(t.count for t in recent) == 2
    with pytest.raises(ValueError, match="by must be"):
        ledger.totals("openrouter", by="week")  # type: ignore[arg-type]


def test_totals_group_by_local_day(ledger: Ledger, new_york: None) -> None:
    ledger.reserve(entry(), Budgets(), now=datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    assert [t.key for t in ledger.totals("openrouter")] == ["2026-11-20"]


# -- parse_since ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("30m", NOW - timedelta(minutes=30)),
        ("45 minutes", NOW - timedelta(minutes=45)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        (" 3 days ", NOW - timedelta(days=3)),
        ("today", datetime(2026, 11, 21, 5, 0, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 20, 5, 0, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),  # local midnight, EDT
        ("2026-11-01T10:00", datetime(2026, 11, 1, 15, 0, tzinfo=UTC)),  # EST after 02:00
        ("2026-11-01T10:00Z", datetime(2026, 11, 1, 10, 0, tzinfo=UTC)),
        ("2026-11-01 10:00:30+01:00", datetime(2026, 11, 1, 9, 0, 30, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: datetime, new_york: None) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize(
    "text", ["", "7", "5mo", "-3d", "last week", "2026-13-01", "2026-11-01T25:00"]
)
def test_parse_since_refuses_garbage(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_since(text, NOW)
    assert caught.value.hint is not None
    assert "7d" in caught.value.hint


# -- stale pending rows -----------------------------------------------------------------------------


_OPEN = (
    "import sys\n"
    "from pathlib import Path\n"
    "from flux_cli.ledger import BudgetExceeded, Budgets, Ledger, NewEntry\n"
    "def open_ledger(where):\n"
    "    if where.startswith('postgresql://'):\n"
    "        return Ledger.open(url=where)\n"
    "    return Ledger.open(Path(where))\n"
)


def test_a_row_left_by_kill_9_is_stale(ledger: Ledger, target: Target) -> None:
    script = (
        _OPEN + "with open_ledger(sys.argv[1]) as ledger:\n"
        "    ledger.reserve(NewEntry('openrouter', 'generate', 'm', 30000), Budgets())\n"
        "    print('reserved', flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script, target.location],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "reserved"
        mine = ledger.reserve(entry(), Budgets())  # this process is alive: never stale
        assert ledger.stale_pending("openrouter") == []  # the child is still running
        child.kill()  # SIGKILL: no handler runs, the row stays pending
        child.wait()
    stale = ledger.stale_pending("openrouter")
    assert [r.pid for r in stale] == [child.pid]
    assert mine not in [r.id for r in stale]


def test_old_rows_from_another_host_are_stale(ledger: Ledger) -> None:
    row_id = ledger.reserve(entry(), Budgets(), now=NOW - timedelta(hours=2))
    young = ledger.reserve(entry(), Budgets(), now=NOW - timedelta(minutes=5))
    execute(ledger, "UPDATE calls SET hostname = 'elsewhere', host = 'elsewhere', pid = 1")
    stale = ledger.stale_pending("openrouter", now=NOW, older_than=timedelta(hours=1))
    assert [r.id for r in stale] == [row_id]
    assert young not in [r.id for r in stale]
    ledger.update(row_id, status="unknown")
    assert ledger.stale_pending("openrouter", now=NOW) == []  # only pending rows


def test_an_old_row_with_a_reused_live_pid_is_stale(ledger: Ledger) -> None:
    row_id = ledger.reserve(entry(), Budgets(), now=NOW - timedelta(hours=3))
    stale = ledger.stale_pending("openrouter", now=NOW, older_than=timedelta(hours=1))
    assert [r.id for r in stale] == [row_id]


# -- many processes at once -------------------------------------------------------------------------

_WORKER = (
    _OPEN
    + """
import json
from datetime import datetime
where, now = sys.argv[1], datetime.fromisoformat(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # the starting gun
try:
    with open_ledger(where) as ledger:
        ledger.reserve(
            NewEntry("openrouter", "generate", "black-forest-labs/flux.2-pro", 30000),
            Budgets(daily_micros=300000),
            now=now,
        )
    print(json.dumps("ok"))
except BudgetExceeded:
    print(json.dumps("refused"))
except Exception as exc:
    print(json.dumps(f"{type(exc).__name__}: {exc}"))
"""
)


def test_twenty_processes_cannot_overspend_a_budget(target: Target, utc_zone: None) -> None:
    # Nothing created yet: the workers race to create the file, or the schema on PostgreSQL.
    if target.kind == "sqlite":
        target = Target("sqlite", str(Path(target.location).parent / "fresh" / "ledger.sqlite3"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, target.location, NOW.isoformat()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(20)
    ]
    for worker in workers:  # every one imported and waiting: then all start at once
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write("go\n")
        worker.stdin.flush()
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        outcomes.append(json.loads(out))
    assert sorted(outcomes) == ["ok"] * 10 + ["refused"] * 10, outcomes
    with target.open() as opened:
        rows = opened.rows("openrouter")
        assert len(rows) == 10
        assert opened.spent("openrouter", now=NOW).today_micros == 300_000
        assert len({r.pid for r in rows}) == 10


def test_threads_share_one_ledger(ledger: Ledger, utc_zone: None) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> str:
        try:
            row_id = ledger.reserve(entry(), Budgets(daily_micros=150_000), now=NOW)
        except BudgetExceeded:
            return "refused"
        ledger.update(row_id, status="ok", charged_micros=CENTS_3)
        return "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(16)))
    assert results.count("ok") == 5
    assert results.count("refused") == 11


# -- several rows in one transaction, and settling without waiting for the disk ------------------


def test_reserve_many_checks_each_against_the_ones_before_it(
    ledger: Ledger, utc_zone: None
) -> None:
    ledger.reserve(entry(), Budgets(), now=NOW)  # 0.03 already spent today
    budgets = Budgets(daily_micros=100_000)
    results = ledger.reserve_many(
        [entry(), entry(), entry(), entry(10_000)], budgets, now=NOW, record_refusal=True
    )
    first, second, third, fourth = results
    assert isinstance(first, int)
    assert isinstance(second, int)
    assert isinstance(third, BudgetExceeded)  # + 0.03 would be 0.12
    assert (third.spent_micros, third.pending_count) == (90_000, 3)
    assert isinstance(fourth, int)  # a cheaper one still fits: 0.09 + 0.01
    rows = {row.id: row for row in ledger.rows("openrouter")}
    assert third.row_id is not None
    refusal = rows[third.row_id]
    assert (refusal.status, refusal.charged_micros, refusal.exit_code) == ("failed", 0, 7)
    assert [rows[i].status for i in (first, second, fourth)] == ["pending"] * 3
    assert ledger.spent("openrouter", now=NOW).today_micros == 100_000


def test_reserve_many_without_recording_refusals_writes_only_the_allowed(
    ledger: Ledger, utc_zone: None
) -> None:
    results = ledger.reserve_many([entry(), entry()], Budgets(daily_micros=CENTS_3), now=NOW)
    assert isinstance(results[0], int)
    assert isinstance(results[1], BudgetExceeded)
    assert results[1].row_id is None
    assert len(ledger.rows("openrouter")) == 1
    assert ledger.reserve_many([], Budgets(daily_micros=1), now=NOW) == []
    with pytest.raises(ValueError, match="one API"):
        ledger.reserve_many([entry(), entry(api="sandbox")], Budgets(), now=NOW)


def test_settling_unsynced_keeps_the_row_and_every_other_write_synced(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.sqlite3")

    def synchronous() -> int:
        return int(str(execute(ledger, "PRAGMA synchronous")[0][0]))

    assert synchronous() == 2  # FULL: a pending row is on disk before its request goes
    row_id = ledger.reserve(entry(), Budgets())
    ledger.update(row_id, status="ok", charged_micros=CENTS_3, synced=False)
    assert synchronous() == 2
    with pytest.raises(LedgerError):
        ledger.update(row_id + 1000, status="ok", synced=False)
    assert synchronous() == 2  # also after a failed statement
    with Ledger.open(ledger.path) as other:  # committed: another connection sees it
        (row,) = other.rows("openrouter")
    assert (row.status, row.charged_micros) == ("ok", CENTS_3)
    ledger.close()


def test_settling_unsynced_on_either_database(ledger: Ledger) -> None:
    row_id = ledger.reserve(entry(), Budgets())
    ledger.update(row_id, status="ok", charged_micros=CENTS_3, synced=False)
    with pytest.raises(LedgerError):
        ledger.update(row_id + 1000, status="ok", synced=False)
    row = ledger.get(row_id)
    assert row is not None
    assert (row.status, row.charged_micros) == ("ok", CENTS_3)


# -- who, which run, and the sums the database does --------------------------------------------------


def test_each_row_records_its_host_user_and_run(ledger: Ledger, utc_zone: None) -> None:
    first = ledger.reserve(entry(run_id="run-1"), Budgets(), now=NOW)
    ledger.reserve(entry(run_id="run-2"), Budgets(), now=NOW)
    ledger.reserve(entry(), Budgets(), now=NOW)
    row = ledger.get(first)
    assert row is not None
    assert (row.run_id, row.host, row.hostname) == ("run-1", ledger.hostname, ledger.hostname)
    assert row.os_user == ledger.os_user
    assert row.os_user
    assert [r.id for r in ledger.rows("openrouter", run_id="run-1")] == [first]
    assert ledger.rows("openrouter", run_id="run-3") == []
    assert ledger.summary("openrouter", run_id="run-2").count == 1


def test_totals_by_host_and_by_user(ledger: Ledger, utc_zone: None) -> None:
    ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.reserve(entry(70_000), Budgets(), now=NOW)
    execute(
        ledger,
        "UPDATE calls SET host = 'ci-runner-7', os_user = 'ci' WHERE estimate_micros = 70000",
    )
    by_host = ledger.totals("openrouter", by="host")
    assert [(t.key, t.count, t.counted_micros) for t in by_host] == sorted(
        [("ci-runner-7", 1, 70_000), (ledger.hostname, 2, 60_000)]
    )
    by_user = {t.key: t.count for t in ledger.totals("openrouter", by="user")}
    assert by_user == {"ci": 1, str(ledger.os_user): 2}


def test_the_summary_is_the_sum_of_the_rows(ledger: Ledger, utc_zone: None) -> None:
    _history(ledger)
    ok = ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.update(ok, status="ok")  # no charge reported: counted at the estimate
    rows = ledger.rows("openrouter")
    summary = ledger.summary("openrouter")
    assert summary.count == len(rows) == 6
    assert (summary.failed, summary.pending, summary.unknown, summary.ok_unpriced) == (1, 1, 1, 1)
    assert summary.estimate_micros == sum(r.estimate_micros for r in rows)
    assert summary.charged_micros == sum(r.charged_micros or 0 for r in rows)
    assert summary.counted_micros == sum(r.counted_micros for r in rows)
    assert summary.unsettled_micros == sum(
        r.counted_micros for r in rows if r.status in ("pending", "unknown")
    )
    assert ledger.summary("openrouter", model="black-forest-labs/flux.2-max").count == 2
    assert ledger.summary("openrouter", since=parse_since("2d", NOW)).count == 4


@pytest.mark.parametrize("page", [1, 2, 3, 1000])
def test_rows_a_page_at_a_time_are_the_rows(ledger: Ledger, utc_zone: None, page: int) -> None:
    _history(ledger)
    for same_time in range(3):  # ties on created_at are ordered by id
        ledger.reserve(entry(seed=same_time), Budgets(), now=NOW)
    everything = ledger.rows("openrouter")
    assert list(ledger.iter_rows("openrouter", page=page)) == everything
    assert list(ledger.iter_rows("openrouter", page=page, limit=4)) == everything[:4]
    since = parse_since("2d", NOW)
    assert list(ledger.iter_rows("openrouter", since=since, page=page)) == ledger.rows(
        "openrouter", since=since
    )


def test_running_totals_match_the_rows(
    ledger: Ledger, utc_zone: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inserts, settles, re-settles and a delete: the budget check's running totals stay equal
    to summing the rows themselves."""
    import random

    from flux_cli.ledger import budget

    rng = random.Random(7)
    ids = []
    for i in range(60):
        when = NOW - timedelta(days=rng.randrange(0, 40), minutes=rng.randrange(0, 1440))
        ids.append(ledger.reserve(entry(rng.randrange(0, 90_000)), Budgets(), now=when))
        if i % 3:
            status = rng.choice(["ok", "failed", "unknown", "pending"])
            charged = rng.choice([None, rng.randrange(0, 90_000)])
            ledger.update(ids[-1], status=status, charged_micros=charged)  # type: ignore[arg-type]
    ledger.resolve(ids[0], status="ok", charged_micros=12_345)
    execute(ledger, f"DELETE FROM calls WHERE id = {ids[1]}")
    for moment in (NOW, NOW - timedelta(days=9), NOW + timedelta(days=3)):
        kept = ledger.spent("openrouter", now=moment)
        monkeypatch.setattr(budget, "on_quarter_hour", lambda _moment: False)
        scanned = ledger.spent("openrouter", now=moment)
        monkeypatch.undo()
        assert kept == scanned


def test_a_zone_off_the_quarter_hour_sums_the_rows(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Local midnight at 18:53 UTC: not a bucket boundary, so the check reads the rows.
    yield_zone = _zone(monkeypatch, "<+0507>-5:07")
    next(yield_zone)
    ledger.zone = "local"  # budget days in the machine's zone (the default is UTC)
    ledger.reserve(entry(10_000), Budgets(), now=datetime(2026, 11, 20, 18, 52, tzinfo=UTC))
    ledger.reserve(entry(20_000), Budgets(), now=datetime(2026, 11, 20, 18, 54, tzinfo=UTC))
    spent = ledger.spent("openrouter", now=datetime(2026, 11, 21, 3, 0, tzinfo=UTC))
    assert (spent.today_micros, spent.month_micros) == (20_000, 30_000)
    with pytest.raises(StopIteration):
        next(yield_zone)


def test_the_planner_uses_the_indexes(tmp_path: Path) -> None:
    """SQLite's plans for the queries that must not read the whole table."""
    from flux_cli.ledger.queries import Filter
    from flux_cli.ledger.schema import ROW_COLUMNS

    with Ledger.open(tmp_path / "ledger.sqlite3") as ledger:
        pending = Filter("openrouter", statuses=("pending",))
        stale = ledger.explain(
            f"SELECT {ROW_COLUMNS} FROM calls WHERE {pending.sql} "
            "ORDER BY created_at DESC, id DESC",
            pending.params,
        )
        assert any("calls_unresolved" in step for step in stale), stale
        listing = ledger.explain(
            f"SELECT {ROW_COLUMNS} FROM calls WHERE api = :api "
            "ORDER BY created_at DESC, id DESC LIMIT 50",
            {"api": "openrouter"},
        )
        assert any("calls_api_created" in step for step in listing), listing
        assert not any("TEMP B-TREE" in step for step in listing), listing  # no sort
        budget = ledger.explain(
            "SELECT SUM(counted_micros) FROM spend WHERE api = :api AND bucket >= :month",
            {"api": "openrouter", "month": "2026-11-01T05:00"},
        )
        assert any("PRIMARY KEY" in step for step in budget), budget
        sums = ledger.explain(
            "SELECT COUNT(*), SUM(estimate_micros), SUM(charged_micros) FROM calls "
            "WHERE api = :api AND created_at >= :since",
            {"api": "openrouter", "since": "2026-11-01"},
        )
        assert any("COVERING INDEX calls_api_created" in step for step in sums), sums


def test_sums_from_running_totals_match_the_rows(ledger: Ledger, new_york: None) -> None:
    """Summary and groups, with and without --since (which adds edge rows from the table), are
    what adding up the rows themselves gives."""
    import random

    from flux_cli.ledger import local_day

    rng = random.Random(11)
    models = ("black-forest-labs/flux.2-pro", "black-forest-labs/flux.2-max")
    for _ in range(80):
        when = NOW - timedelta(minutes=rng.randrange(0, 12 * 1440))
        row_id = ledger.reserve(
            entry(rng.randrange(1, 90_000), model=rng.choice(models)), Budgets(), now=when
        )
        status = rng.choice(["ok", "ok", "failed", "unknown", "pending"])
        if status != "pending":
            charged = rng.choice([None, rng.randrange(0, 90_000)])
            ledger.update(row_id, status=status, charged_micros=charged)  # type: ignore[arg-type]
    execute(ledger, "UPDATE calls SET host = 'other', os_user = 'ci' WHERE id % 3 = 0")

    def expected(rows: list, key: Callable[[object], str]) -> dict[str, tuple[int, ...]]:  # type: ignore[type-arg]
        groups: dict[str, list] = {}  # type: ignore[type-arg]
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        return {
            name: (
                len(members),
                sum(r.status == "ok" for r in members),
                sum(r.status == "failed" for r in members),
                sum(r.status == "pending" for r in members),
                sum(r.status == "unknown" for r in members),
                sum(r.estimate_micros for r in members),
                sum(r.charged_micros or 0 for r in members),
                sum(r.counted_micros for r in members),
            )
            for name, members in groups.items()
        }

    def shown(totals: list) -> dict[str, tuple[int, ...]]:  # type: ignore[type-arg]
        return {
            t.key: (
                t.count, t.ok_count, t.failed_count, t.pending_count, t.unknown_count,
                t.estimate_micros, t.charged_micros, t.counted_micros,
            )
            for t in totals
        }  # fmt: skip

    keys: dict[str, Callable[[object], str]] = {
        "day": lambda r: local_day(r.created_at),  # type: ignore[attr-defined]
        "model": lambda r: r.model,  # type: ignore[attr-defined]
        "host": lambda r: r.host,  # type: ignore[attr-defined]
        "user": lambda r: r.os_user,  # type: ignore[attr-defined]
    }
    for since in (None, NOW - timedelta(days=5, minutes=7), NOW - timedelta(hours=30, seconds=1)):
        rows = ledger.rows("openrouter", since=since)
        summary = ledger.summary("openrouter", since=since)
        assert summary.count == len(rows)
        assert summary.counted_micros == sum(r.counted_micros for r in rows)
        assert summary.unsettled_micros == sum(
            r.counted_micros for r in rows if r.status in ("pending", "unknown")
        )
        for by, key in keys.items():
            found = shown(ledger.totals("openrouter", since=since, by=by))  # type: ignore[arg-type]
            assert found == expected(rows, key), (by, since)


# -- batch fingerprints (--resume) --------------------------------------------------------------


def test_the_newest_row_of_each_fingerprint_comes_back_through_its_index(ledger: Ledger) -> None:
    from flux_cli.ledger.core import FINGERPRINTS_PER_QUERY, latest_sql

    assert "fingerprint" in columns(ledger)
    first = ledger.reserve(entry(fingerprint="a" * 64), Budgets(), now=NOW)
    ledger.update(first, status="unknown")
    second = ledger.reserve(entry(fingerprint="a" * 64), Budgets(), now=NOW)
    ledger.update(second, status="ok", charged_micros=CENTS_3, paths=["x.png"], sha256s=["f" * 64])
    other = ledger.reserve(entry(fingerprint="b" * 64), Budgets(), now=NOW)
    ledger.reserve(entry(), Budgets(), now=NOW)  # a single call: no fingerprint
    many = [f"{n:064x}" for n in range(FINGERPRINTS_PER_QUERY + 5)]  # more than one query
    found = ledger.latest_by_fingerprint(["a" * 64, "b" * 64, "c" * 64, *many])
    assert set(found) == {"a" * 64, "b" * 64}
    assert (found["a" * 64].id, found["a" * 64].status, found["a" * 64].paths) == (
        second,
        "ok",
        ("x.png",),
    )
    assert found["b" * 64].id == other
    assert found["b" * 64].fingerprint == "b" * 64
    plan = " ".join(ledger.explain(*latest_sql(["a" * 64, "b" * 64])))
    if ledger.kind == "sqlite":
        assert "calls_fingerprint" in plan
        assert "SCAN calls" not in plan


def test_a_schema_2_file_gains_the_fingerprint_column(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(path) as conn:  # a file as the release before fingerprints wrote it
        for migration in sqlite_backend.MIGRATIONS[:2]:
            for statement in migration:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 2")
    with Ledger.open(path) as opened:
        assert opened._db.version() == len(sqlite_backend.MIGRATIONS)
        row_id = opened.reserve(entry(fingerprint="d" * 64), Budgets(), now=NOW)
        assert opened.latest_by_fingerprint(["d" * 64])["d" * 64].id == row_id


# -- the copy of the local ledger into a shared one (flux2 ledger migrate) ------------------------


def test_migrating_needs_a_shared_ledger_and_copies_nothing_without_a_local_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flux_cli.errors import UsageError
    from flux_cli.ledger import default_path
    from flux_cli.ledger.transfer import migrate_local

    with pytest.raises(UsageError, match="no shared ledger to copy into"):
        migrate_local(None)
    assert not default_path().exists()
    migration = migrate_local("postgresql://someone@db.invalid/flux2")
    assert migration.copied is None
    assert migration.path == default_path()
    assert not default_path().exists()  # nothing created by looking
