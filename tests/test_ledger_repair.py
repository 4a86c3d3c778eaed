"""Ledgers written before reported charges were checked: rows holding charges no call can have
($5 × 10^12, negative) overflowed the 64-bit sums, and every later budgeted call failed. The
schema migration (SQLite 5, PostgreSQL 4) makes each such row count at its estimate, keeps the
figure in its `error`, and sums the running totals again; on both databases."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from flux_cli.ledger import BudgetExceeded, Budgets, LedgerError, budget
from flux_cli.ledger import postgres as postgres_backend
from flux_cli.ledger import sqlite as sqlite_backend
from flux_cli.ledger.times import stamp
from flux_cli.ledger.types import DISTRUSTED_CHARGE, MAX_CHARGE_MICROS
from tests import test_ledger
from tests.test_ledger import NOW, Target, entry

target = test_ledger.target
PRO = "black-forest-labs/flux.2-pro"
ABSURD = 5 * 10**18  # two of them pass 2^63 - 1
# (hour of NOW's day, status, model, estimate, charge): three absurd charges between two that
# can be, each in its own quarter hour and model, so that the old triggers could take them.
OLD_ROWS = (
    (9, "ok", PRO, 30_000, 30_000),
    (10, "ok", "m/huge-one", 30_000, ABSURD),
    (11, "unknown", "m/huge-two", 30_000, ABSURD),
    (12, "failed", "m/negative", 30_000, -ABSURD),
    (13, "ok", "m/edge", 30_000, MAX_CHARGE_MICROS),  # the largest charge believed
)


Old = tuple[tuple[int, str, str, int, int], ...]


def _on_the_hour(hour: int) -> datetime:
    return NOW.replace(hour=hour, minute=0)


def _inserts(
    api: str = "openrouter", rows: Old = OLD_ROWS, at: Callable[[int], datetime] = _on_the_hour
) -> list[str]:
    """The rows as an older flux2 stored them: straight SQL, no check on the way; `at` turns
    a row's first field into its time."""
    statements = []
    for number, (hour, status, model, estimate, charged) in enumerate(rows):
        moment = stamp(at(hour))
        statements.append(
            "INSERT INTO calls (created_at, updated_at, status, api, command, model, "
            "estimate_micros, charged_micros, uid, host, os_user) VALUES "
            f"('{moment}', '{moment}', '{status}', '{api}', 'generate', '{model}', {estimate}, "
            f"{charged}, 'old-{number}', 'h', 'u')"
        )
    return statements


def old_sqlite_file(
    path: Path,
    api: str = "openrouter",
    rows: Old = OLD_ROWS,
    at: Callable[[int], datetime] = _on_the_hour,
) -> None:
    """A schema 4 file (the release before) holding the rows."""
    with sqlite3.connect(path) as conn:
        for migration in sqlite_backend.MIGRATIONS[:4]:
            for statement in migration:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 4")
        for statement in _inserts(api, rows, at):
            conn.execute(statement)
    conn.close()


def _old_postgres_database(url: str, rows: Old) -> None:
    """A schema 3 database (the release before) holding the rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        postgres_backend._migrate(conn, postgres_backend.MIGRATIONS[:3])
        for statement in _inserts(rows=rows):
            conn.execute(statement.encode())
        assert postgres_backend._version(conn) == 3


def _build(target: Target, rows: Old = OLD_ROWS) -> int:
    """The old ledger at `target`; the schema version the release before wrote."""
    if target.kind == "sqlite":
        old_sqlite_file(Path(target.location), rows=rows)
        return 4
    _old_postgres_database(target.location, rows)
    return 3


def _as_before(target: Target, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Open ledgers with the schema of the release before (until `monkeypatch.undo()`)."""
    backend = sqlite_backend if target.kind == "sqlite" else postgres_backend
    monkeypatch.setattr(backend, "MIGRATIONS", backend.MIGRATIONS[:version])


def test_the_current_migrations_are_one_more_on_each_database() -> None:
    assert len(sqlite_backend.MIGRATIONS) == 5
    assert len(postgres_backend.MIGRATIONS) == 4


def test_the_release_before_cannot_check_a_budget_on_such_a_ledger(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the migration repairs: opened by the previous schema, no budgeted call can go
    (SQLite's integer SUM overflows; PostgreSQL's sums say $5 × 10^12 was spent)."""
    _as_before(target, _build(target), monkeypatch)
    failure = LedgerError if target.kind == "sqlite" else BudgetExceeded
    with target.open() as ledger, pytest.raises(failure):
        ledger.reserve(entry(), Budgets(daily_micros=1_000_000), now=NOW)


def test_an_old_ledger_is_repaired_and_budgets_work_again(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    _build(target)
    with target.open() as ledger:
        assert ledger._db.version() == (5 if target.kind == "sqlite" else 4)
        rows = {row.model: row for row in ledger.rows("openrouter")}
        for model, figure in (
            ("m/huge-one", ABSURD),
            ("m/huge-two", ABSURD),
            ("m/negative", -ABSURD),
        ):
            assert rows[model].charged_micros is None
            assert rows[model].error == DISTRUSTED_CHARGE.format(figure)
        # what can be a charge is left as it was
        assert (rows[PRO].charged_micros, rows[PRO].error) == (30_000, None)
        assert (rows["m/edge"].charged_micros, rows["m/edge"].error) == (MAX_CHARGE_MICROS, None)
        counted = {model: row.counted_micros for model, row in rows.items()}
        assert counted == {
            PRO: 30_000,
            "m/huge-one": 30_000,  # ok: its estimate
            "m/huge-two": 30_000,  # unknown: its estimate
            "m/negative": 0,  # failed, no charge known: nothing
            "m/edge": MAX_CHARGE_MICROS,
        }

        # The running totals agree with the rows: quarter hours (the budget check, the summary)
        # and days per model (history --by model).
        expected_today = sum(counted.values())
        spent = ledger.spent("openrouter", now=NOW)
        assert (spent.today_micros, spent.month_micros, spent.unknown_count) == (
            expected_today,
            expected_today,
            1,
        )
        monkeypatch.setattr(budget, "on_quarter_hour", lambda _moment: False)
        assert ledger.spent("openrouter", now=NOW) == spent  # summed from the rows themselves
        monkeypatch.undo()
        summary = ledger.summary("openrouter")
        assert (summary.count, summary.counted_micros) == (5, expected_today)
        assert summary.charged_micros == 30_000 + MAX_CHARGE_MICROS
        by_model = {t.key: t.counted_micros for t in ledger.totals("openrouter", by="model")}
        assert by_model == counted

        # A budgeted call goes again, and the budget is counted right: $0.12 above what is
        # already counted allows exactly four more calls of $0.03.
        budgets = Budgets(daily_micros=expected_today + 120_000)
        for _ in range(4):
            ledger.reserve(entry(), budgets, now=NOW)
        with pytest.raises(BudgetExceeded):
            ledger.reserve(entry(), budgets, now=NOW)
        assert ledger.spent("openrouter", now=NOW).today_micros == expected_today + 120_000


def test_a_ledger_without_absurd_charges_keeps_its_rows_and_totals(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    believable = (OLD_ROWS[0], OLD_ROWS[-1], (14, "pending", PRO, 45_000, 0))
    _as_before(target, _build(target, believable), monkeypatch)

    def look() -> tuple[object, ...]:
        with target.open() as ledger:
            return (
                ledger.rows("openrouter"),
                ledger.summary("openrouter"),
                ledger.spent("openrouter", now=NOW),
                ledger.totals("openrouter", by="model"),
            )

    before = look()
    monkeypatch.undo()
    assert look() == before
