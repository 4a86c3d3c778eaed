"""The ledger in a local SQLite file (the default): one connection, WAL, every commit synced.

A check-then-write is one `BEGIN IMMEDIATE` transaction, so concurrent processes (two cron
jobs, `-n 8` threads) queue on SQLite's write lock and cannot both slip under the same budget.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from flux_cli.ledger.schema import SQLITE_MIGRATIONS
from flux_cli.ledger.types import LedgerError

BUSY_TIMEOUT_S = 30.0
MIGRATIONS: tuple[tuple[str, ...], ...] = SQLITE_MIGRATIONS  # read at open: tests extend it

_T = TypeVar("_T")


class SqliteDatabase:
    kind = "sqlite"
    greatest = "MAX"

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self._lock = threading.RLock()
        self.path: Path | None = path
        self.where = str(path)

    @classmethod
    def open(cls, path: Path, busy_timeout: float = BUSY_TIMEOUT_S) -> SqliteDatabase:
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
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            # Every commit waits for the disk (a `pending` row must exist before its request
            # goes), whatever this SQLite build's default; settling may opt out (`statement`).
            conn.execute("PRAGMA synchronous = FULL")
            opened = conn
            _retry_while_locked(
                lambda: opened.execute("PRAGMA journal_mode = WAL").fetchone(), busy_timeout
            )
            _migrate(conn, MIGRATIONS)
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise _failure(path, exc) from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def version(self) -> int:
        with self.reading() as conn:
            return _user_version(conn)

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[sqlite3.Connection]:
        """`BEGIN IMMEDIATE`: take the write lock first (waiting up to busy_timeout), so the
        reads inside see the latest data and the writes can never hit a busy snapshot. One lock
        for the whole file, so `lock` (the API) needs no lock of its own."""
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
                raise _failure(self.path, exc) from None

    @contextmanager
    def statement(self, *, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write statement in SQLite's autocommit mode: a single statement is a transaction
        of its own (atomic, synced on commit), so it needs no BEGIN/COMMIT round trips. For
        writes that read nothing first; anything that checks and then writes uses `transaction`.

        `synced=False` commits without waiting for the disk (`synchronous = NORMAL`)."""
        with self._lock:
            try:
                if not synced:
                    self._conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    yield self._conn
                finally:
                    if not synced:
                        self._conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise _failure(self.path, exc) from None

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise _failure(self.path, exc) from None

    def explain(self, sql: str, params: dict[str, Any]) -> list[str]:
        """The query plan, one line per step (for benchmarks and tests)."""
        with self.reading() as conn:
            return [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]


def _failure(path: Path | None, exc: sqlite3.Error) -> LedgerError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return LedgerError(
            f"the spending ledger {path} stayed locked by another flux2 process for more than "
            f"{BUSY_TIMEOUT_S:g} s",
            hint="check for a hung flux2 process (ps), then run again",
        )
    where = path.parent if path is not None else "its directory"
    return LedgerError(
        f"the spending ledger {path} cannot be used ({text})",
        hint=f"check the permissions and free space of {where}",
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


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]]) -> None:
    """Bring the file to the newest schema in one transaction, under the write lock: whichever
    process opens an older file first upgrades it, the others find it done."""
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
