"""`Ledger`: the life of a row (reserve, settle, reconcile) and every question asked of the rows.

One class over two databases (`database.Database`: `sqlite.SqliteDatabase`,
`postgres.PostgresDatabase`); the budget sums are in `budget`, the history queries in `queries`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flux_cli.ledger import budget, queries
from flux_cli.ledger.origin import new_uid, os_user, pid_alive
from flux_cli.ledger.schema import COPY_COLUMNS, ROW_COLUMNS
from flux_cli.ledger.times import DEFAULT_BUDGET_ZONE, aware, stamp, utcnow
from flux_cli.ledger.types import (
    MAX_ERROR_CHARS,
    BudgetExceeded,
    Budgets,
    Grouping,
    LedgerError,
    NewEntry,
    Remaining,
    Row,
    Spent,
    Status,
    Summary,
    TotalRow,
    check_charge,
    check_estimate,
    check_status,
    distrust_charge,
    refusal,
)
from flux_cli.textsafe import strip_control

if TYPE_CHECKING:
    from flux_cli.ledger.database import Database, Session

PAGE_ROWS = queries.PAGE_ROWS


class Ledger:
    """One connection to the ledger; safe to share between threads of one process.

    with Ledger.open() as ledger:
        row_id = ledger.reserve(entry, budgets)   # BudgetExceeded: nothing was sent
        ...send...
        ledger.update(row_id, status="ok", charged_micros=..., paths=[...], sha256s=[...])
    """

    def __init__(self, db: Database, zone: str = DEFAULT_BUDGET_ZONE) -> None:
        self._db = db
        self.zone = zone  # the budget day's time zone (see times.window_starts)
        self.path = db.path  # the SQLite file; None on PostgreSQL
        self.where = db.where  # the file, or the masked URL: for messages
        self.hostname = socket.gethostname()
        self.os_user = os_user()

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: Path | None = None,
        *,
        url: str | None = None,
        busy_timeout: float | None = None,
        zone: str | None = None,
    ) -> Ledger:
        """The SQLite file at `path`, the PostgreSQL database at `url`, or (neither given) the
        configured ledger: `ledger.url` / FLUX2_LEDGER_URL, else the local file. `zone`: where
        budget days begin; by default `budget.timezone` (UTC unless configured)."""
        from flux_cli.ledger import location

        if zone is None:
            from flux_cli.config import configured_budget_zone

            zone = configured_budget_zone()

        if path is None and url is None:
            from flux_cli.config import configured_ledger_url

            url = configured_ledger_url()
        if path is None and url is not None:
            from flux_cli.ledger.postgres import PostgresDatabase

            parsed = url if isinstance(url, location.LedgerUrl) else location.parse_ledger_url(url)
            return cls(PostgresDatabase.open(parsed), zone)
        from flux_cli.ledger import sqlite

        timeout = sqlite.BUSY_TIMEOUT_S if busy_timeout is None else busy_timeout
        return cls(sqlite.SqliteDatabase.open(path or location.default_path(), timeout), zone)

    @property
    def kind(self) -> str:
        """`sqlite` or `postgresql`."""
        return self._db.kind

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- budgets --------------------------------------------------------------------------------

    def _spent(self, session: Session, api: str, now: datetime) -> Spent:
        return budget.spent(session, api, now, self.zone, self._db.greatest)

    def spent(self, api: str, *, now: datetime | None = None) -> Spent:
        with self._db.reading() as session:
            return self._spent(session, api, now or utcnow())

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
        now: datetime | None = None,
        record_refusal: bool = False,
    ) -> int:
        """Check the budgets and write the `pending` row in one transaction; the row's id.

        Allowed when spent + this estimate ≤ the budget, for each budget set. Otherwise raises
        BudgetExceeded; with `record_refusal` the refusal is written in the same transaction as
        a `failed` row (charged 0, exit code 7, nothing sent), so the ledger logs every call that
        was attempted, and the exception carries its `row_id`.
        """
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
            check_estimate(entry)
            if entry.api != entries[0].api:
                raise ValueError("reserve_many takes calls to one API")
        if not entries:
            return []
        now = now or utcnow()
        moment = stamp(now)
        results: list[int | BudgetExceeded] = []
        # Without budgets nothing is read first, and one INSERT alone is the transaction.
        alone = not budgets.any and len(entries) == 1
        api = entries[0].api
        with self._db.statement() if alone else self._db.transaction(lock=api) as session:
            spent = self._spent(session, api, now) if budgets.any else None
            allowed_micros = allowed_count = 0
            for entry in entries:
                refused = None
                if spent is not None:
                    refused = refusal(budgets, spent, allowed_micros, allowed_count, entry)
                if refused is not None and not record_refusal:
                    results.append(refused)
                    continue
                row_id = self._insert(session, entry, moment, refused)
                if refused is None:
                    allowed_micros += entry.estimate_micros
                    allowed_count += 1
                    results.append(row_id)
                else:
                    refused.row_id = row_id
                    results.append(refused)
        return results

    def _insert(
        self, session: Session, entry: NewEntry, moment: str, refused: BudgetExceeded | None
    ) -> int:
        values: dict[str, Any] = {
            "created_at": moment,
            "updated_at": moment,
            "status": "pending" if refused is None else "failed",
            "api": entry.api,
            "command": entry.command,
            "model": entry.model,
            "provider": entry.provider,
            "route": entry.route,
            "seed": entry.seed,
            "width": entry.width,
            "height": entry.height,
            "output_mp": entry.output_mp,
            "reference_count": entry.reference_count,
            "reference_mp": entry.reference_mp,
            "estimate_micros": entry.estimate_micros,
            "prompt": entry.prompt,
            "pid": os.getpid(),
            "hostname": self.hostname,
            "charged_micros": None if refused is None else 0,
            "exit_code": None if refused is None else int(refused.exit_code),
            "error": None if refused is None else strip_control(refused.message, MAX_ERROR_CHARS),
            "run_id": entry.run_id,
            "host": self.hostname,
            "os_user": self.os_user,
            "uid": new_uid(),
            "fingerprint": entry.fingerprint,
            "model_options": entry.model_options,
        }
        names = ", ".join(values)
        marks = ", ".join(f":{name}" for name in values)
        record = session.execute(
            f"INSERT INTO calls ({names}) VALUES ({marks}) RETURNING id",  # noqa: S608 - ours
            values,
        ).fetchone()
        return int(record[0])

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

        `synced=False` commits without waiting for the disk: the row is safe if flux2 is killed
        and becomes durable with the next synced write; only a power cut in between could undo
        it, leaving the row as it was (`pending`, which counts at its estimate and
        `history --reconcile` settles). For settling a call, never for reserving one."""
        check_status(status)
        check_charge(charged_micros)
        fields: dict[str, object] = {"status": status, "updated_at": stamp(now or utcnow())}
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

    def _set(
        self, row_id: int, fields: dict[str, object], where: str = "", *, synced: bool = True
    ) -> bool:
        assignments = ", ".join(f"{name} = :{name}" for name in fields)
        with self._db.statement(synced=synced) as session:
            cursor = session.execute(
                f"UPDATE calls SET {assignments} WHERE id = :row_id {where}",  # noqa: S608 - names are ours
                {**fields, "row_id": row_id},
            )
            changed = bool(cursor.rowcount > 0)
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
        check_status(status, ("ok", "failed", "unknown"))
        check_charge(charged_micros)
        fields: dict[str, object] = {"status": status, "updated_at": stamp(now or utcnow())}
        if charged_micros is not None:
            fields["charged_micros"] = charged_micros
        if provider is not None:
            fields["provider"] = provider
        return self._set(row_id, fields, where="AND status IN ('pending', 'unknown')")

    # -- queries --------------------------------------------------------------------------------

    def get(self, row_id: int) -> Row | None:
        with self._db.reading() as session:
            record = session.execute(
                f"SELECT {ROW_COLUMNS} FROM calls WHERE id = :id",  # noqa: S608 - constant
                {"id": row_id},
            ).fetchone()
        return None if record is None else queries.to_row(record)

    def rows(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        limit: int | None = None,
        statuses: Sequence[Status] | None = None,
        run_id: str | None = None,
    ) -> list[Row]:
        """Newest first."""
        return queries.rows(self._db, queries.Filter(api, since, model, run_id, statuses), limit)

    def iter_rows(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        limit: int | None = None,
        run_id: str | None = None,
        page: int = queries.PAGE_ROWS,
    ) -> Iterator[Row]:
        """`rows`, newest first, fetched a page at a time (constant memory at any size)."""
        chosen = queries.Filter(api, since, model, run_id)
        return queries.iter_rows(self._db, chosen, limit, page)

    def summary(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        run_id: str | None = None,
    ) -> Summary:
        """Totals over every row the filter selects, summed by the database."""
        return queries.summary(self._db, queries.Filter(api, since, model, run_id))

    def totals(
        self,
        api: str,
        *,
        since: datetime | None = None,
        model: str | None = None,
        by: Grouping = "day",
        run_id: str | None = None,
    ) -> list[TotalRow]:
        """Per local day (newest first), or per model, host or OS user (by name)."""
        return queries.totals(self._db, queries.Filter(api, since, model, run_id), by)

    def stale_pending(
        self, api: str, *, now: datetime | None = None, older_than: timedelta = timedelta(hours=1)
    ) -> list[Row]:
        """Pending rows no process will settle (a `kill -9` mid-request leaves one).

        Stale when written on this host by a process that no longer exists, or when older than
        `older_than` whatever the host: another machine's pid cannot be checked, and a pid on
        this one may have been reused. A live call stays pending for at most a few attempts of
        `Timeouts.attempt`, so the default hour leaves a wide margin.
        """
        cutoff = aware(now or utcnow()) - older_than

        def gone(row: Row) -> bool:
            return row.hostname == self.hostname and row.pid is not None and not pid_alive(row.pid)

        return [
            row
            for row in self.rows(api, statuses=("pending",))
            if row.created_at < cutoff or gone(row)
        ]

    def latest_by_fingerprint(self, fingerprints: Sequence[str]) -> dict[str, Row]:
        """The newest row of each fingerprint that has one (`generate --batch --resume`),
        through the `calls_fingerprint` index: one query per FINGERPRINTS_PER_QUERY of them."""
        found: dict[str, Row] = {}
        wanted = sorted(set(fingerprints))
        with self._db.reading() as session:
            for start in range(0, len(wanted), FINGERPRINTS_PER_QUERY):
                chunk = wanted[start : start + FINGERPRINTS_PER_QUERY]
                sql, params = latest_sql(chunk)
                for record in session.execute(sql, params).fetchall():
                    row = queries.to_row(record)
                    if row.fingerprint is not None:
                        found[row.fingerprint] = row
        return found

    # -- copying between ledgers (`flux2 ledger migrate`) ---------------------------------------

    def export_records(self, after_id: int = 0, limit: int = PAGE_ROWS) -> list[tuple[Any, ...]]:
        """(id, *COPY_COLUMNS) of the rows after `after_id`, oldest first."""
        columns = ", ".join(COPY_COLUMNS)
        with self._db.reading() as session:
            return [
                tuple(r)
                for r in session.execute(
                    f"SELECT id, {columns} FROM calls WHERE id > :after ORDER BY id LIMIT :n",  # noqa: S608
                    {"after": after_id, "n": limit},
                ).fetchall()
            ]

    def import_records(self, records: Sequence[Sequence[Any]]) -> int:
        """Insert rows exported by another ledger, in one transaction; a row whose `uid` is
        already here is skipped. How many were inserted."""
        names = ", ".join(COPY_COLUMNS)
        marks = ", ".join(f":{name}" for name in COPY_COLUMNS)
        sql = (
            f"INSERT INTO calls ({names}) VALUES ({marks}) "  # noqa: S608 - ours
            "ON CONFLICT (uid) DO NOTHING RETURNING id"
        )
        inserted = 0
        with self._db.transaction() as session:
            for record in records:
                values = dict(zip(COPY_COLUMNS, record[1:], strict=True))
                values["uid"] = values["uid"] or new_uid()
                distrust_charge(values)
                if session.execute(sql, values).fetchone() is not None:
                    inserted += 1
        return inserted

    def explain(self, sql: str, params: dict[str, Any]) -> list[str]:
        """The database's plan for `sql` (benchmarks and tests look at it)."""
        return self._db.explain(sql, params)


# Bound parameters per statement: below SQLite's oldest limit (999); one query of 10,000 is
# slower than 20 of 500 (the IN list of one big statement is sorted into a temporary b-tree).
FINGERPRINTS_PER_QUERY = 500


def latest_sql(fingerprints: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The query `latest_by_fingerprint` runs for one chunk (benchmarks explain it)."""
    params = {f"f{n}": value for n, value in enumerate(fingerprints)}
    marks = ", ".join(f":{name}" for name in params)
    sql = (
        f"SELECT {ROW_COLUMNS} FROM calls WHERE id IN ("  # noqa: S608 - ours
        f"SELECT MAX(id) FROM calls WHERE fingerprint IN ({marks}) GROUP BY fingerprint)"
    )
    return sql, params
