"""The ledger in a shared PostgreSQL database (`ledger.url = "postgresql://…"`), for teams.

psycopg 3 (the `postgres` extra) is imported only here, and this module only when a PostgreSQL
URL is configured. The URL goes to libpq as written, so `sslmode`, `PGPASSFILE` and `~/.pgpass`
work as for psql; flux2 shows it only masked.

Budgets across machines: a check-then-write (the budget check and the `pending` row) runs in one
transaction that first takes `pg_advisory_xact_lock(LOCK_CLASS, hashtext(api))`. Every flux2
on every host that writes to the same API takes the same lock, so their checks and inserts run
one after another, each seeing every row committed before it; the lock goes with the commit or
rollback (a killed process's connection closes, and the server releases it). The key is the API
alone, not the API and a day: hosts in different time zones have different days and months, and
their windows overlap. Settling a row takes no lock: it only ever lowers what is counted or
keeps it. Migrations take a lock of their own, so two hosts starting at once upgrade once.
The PostgreSQL behaviour this relies on, with its sources: docs/postgresql.md.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli.ledger.location import LedgerUrl
from flux_cli.ledger.schema import POSTGRES_MIGRATIONS
from flux_cli.ledger.types import LedgerError

if TYPE_CHECKING:
    import psycopg

MIGRATIONS: tuple[tuple[str, ...], ...] = POSTGRES_MIGRATIONS  # read at open: tests extend it
LOCK_CLASS = 0x466C7832  # "Flx2": the first key of every advisory lock flux2 takes
MIGRATION_LOCK = 0
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT = "30s"

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_translated: dict[str, str] = {}


def _translate(sql: str) -> str:
    """`:name` placeholders (the SQLite form the queries are written in) to psycopg's."""
    done = _translated.get(sql)
    if done is None:
        done = _translated[sql] = _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
    return done


class Session:
    """What `Ledger` runs its statements on: the SQLite connection's `execute`, for psycopg."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: dict[str, Any] | Sequence[Any] = ()) -> Any:
        if not params:
            return self._conn.execute(sql.encode())  # no placeholders: `%` is literal
        if isinstance(params, dict):
            return self._conn.execute(_translate(sql), params)
        return self._conn.execute(sql.replace("?", "%s"), tuple(params))


class PostgresDatabase:
    kind = "postgresql"
    greatest = "GREATEST"

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]], url: LedgerUrl) -> None:
        self._conn = conn
        self._session = Session(conn)
        self._lock = threading.RLock()
        self.url = url
        self.path: Path | None = None
        self.where = url.masked

    @classmethod
    def open(cls, url: LedgerUrl) -> PostgresDatabase:
        try:
            import psycopg
        except ImportError:
            raise LedgerError(
                f"ledger.url names a PostgreSQL database ({url.masked}) but the PostgreSQL "
                "driver is not installed",
                hint="pip install 'flux2-cli[postgres]'",
            ) from None
        options: dict[str, Any] = {"autocommit": True, "application_name": "flux2"}
        if "connect_timeout" not in url.secret:
            options["connect_timeout"] = CONNECT_TIMEOUT_S
        try:
            conn = psycopg.connect(url.secret, **options)
        except psycopg.Error as exc:
            raise _failure(url, exc, "cannot be reached") from None
        try:
            conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT}'")
            _migrate(conn, MIGRATIONS)
        except psycopg.Error as exc:
            conn.close()
            raise _failure(url, exc) from None
        except BaseException:
            conn.close()
            raise
        return cls(conn, url)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def version(self) -> int:
        with self.reading() as session:
            return _version(session._conn)

    @contextmanager
    def _guard(self) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            raise _failure(self.url, exc) from None

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[Session]:
        """One transaction; with `lock` (an API) it first takes that API's advisory lock, so no
        other host's check-then-write for the same API can interleave (see the module doc)."""
        with self._lock, self._guard(), self._conn.transaction():
            if lock is not None:
                self._conn.execute(
                    "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, lock)
                )
            yield self._session

    @contextmanager
    def statement(self, *, synced: bool = True) -> Iterator[Session]:
        """One autocommitted statement. `synced=False` lets the commit return before the WAL is
        flushed (`synchronous_commit = off` for this transaction only)."""
        with self._lock, self._guard():
            if synced:
                yield self._session
            else:
                with self._conn.transaction():
                    self._conn.execute("SET LOCAL synchronous_commit = off")
                    yield self._session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._lock, self._guard():
            yield self._session

    def explain(self, sql: str, params: dict[str, Any]) -> list[str]:
        with self.reading() as session:
            return [str(r[0]) for r in session.execute("EXPLAIN " + sql, params)]


def _failure(url: LedgerUrl, exc: Exception, what: str = "cannot be used") -> LedgerError:
    reason = url.scrub(" ".join(str(exc).split()) or type(exc).__name__)
    return LedgerError(
        f"the shared ledger {url.masked} {what} ({reason}); nothing was sent",
        hint="check the database server, the network and ledger.url (flux2 config show)",
    )


def _version(conn: psycopg.Connection[tuple[Any, ...]]) -> int:
    found = conn.execute("SELECT to_regclass('flux2_schema') IS NOT NULL").fetchone()
    if found is None or not found[0]:
        return 0
    row = conn.execute("SELECT version FROM flux2_schema").fetchone()
    return 0 if row is None else int(row[0])


def _migrate(
    conn: psycopg.Connection[tuple[Any, ...]], migrations: Sequence[Sequence[str]]
) -> None:
    """Every missing migration in one transaction, under an advisory lock: two hosts starting at
    once queue, and the second finds the schema current (PostgreSQL's DDL is transactional)."""
    target = len(migrations)
    if _version(conn) == target:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, MIGRATION_LOCK))
        conn.execute("CREATE TABLE IF NOT EXISTS flux2_schema (version INTEGER NOT NULL)")
        version = _version(conn)
        if version > target:
            raise LedgerError(
                f"the shared ledger was written by a newer flux2 (schema {version}, "
                f"this one knows {target})",
                hint="upgrade flux2 on this machine (pip install -U 'flux2-cli[postgres]')",
            )
        for migration in migrations[version:]:
            for statement in migration:
                conn.execute(statement.encode())  # bytes: no placeholders, `%` is literal
        conn.execute("DELETE FROM flux2_schema")
        conn.execute("INSERT INTO flux2_schema (version) VALUES (%s)", (target,))
