"""4. The ledger at scale: `history` and the budget check over 10k, 100k and 1M rows, and what a
shared PostgreSQL ledger adds to each paid call.

Ledgers are built here: rows spread evenly over the three years before now (as a studio making
about a thousand images a night would have), four models, 1 % each failed, unknown and (the
newest few) pending. `history` runs as the installed `flux2` in a subprocess (stdout to
/dev/null), timed wall-clock with its peak RSS from `wait4`. The budget check is
`Ledger.spent` in-process; check+reserve is `Ledger.reserve` with a daily budget (one
transaction, the pending row written), alone and from 16 processes at once.

PostgreSQL runs as a throwaway local cluster over loopback (tests/postgres.py; fsync off,
so its figures leave out the disk, while SQLite's reserve waits for it: `synchronous = FULL`).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import Row, isolated_env, ms, temp_root, venv_bin

SECTION = "ledger"
MODELS = (
    ("black-forest-labs/flux.2-pro", 30_000),
    ("black-forest-labs/flux.2-max", 70_000),
    ("black-forest-labs/flux.2-flex", 60_000),
    ("black-forest-labs/flux.2-klein-4b", 14_000),
)
SPAN = timedelta(days=3 * 365)
HISTORY_CASES: dict[str, list[str]] = {
    "table": [],
    "--by day": ["--by", "day"],
    "--by model": ["--by", "model"],
    "--since 7d": ["--since", "7d"],
    "--json": ["--json"],
    "--csv": ["--csv"],
}
RUNS = 3
CHECKS = 1000
WORKERS = 16


def _records(n: int, now: datetime) -> Iterator[tuple[Any, ...]]:
    """Rows in COPY_COLUMNS order, newest first."""
    step = SPAN / n
    for i in range(n):
        moment = (now - (i + 1) * step).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        model, estimate = MODELS[i % 4]
        kind = i % 100
        status, charged, exit_code = "ok", estimate, 0
        if kind == 1:
            status, charged, exit_code = "failed", 0, 7
        elif kind == 2:
            status, charged, exit_code = "unknown", None, 9
        if i < 5:
            status, charged, exit_code = "pending", None, None
        host = f"host{i % 4}"
        yield (
            moment, moment, status, "openrouter", "generate", model, "BFL", "images", i,
            1024, 1024, 1, 0, 0, estimate, charged, f"gen-{i:012d}",
            f'["/out/{i}.png"]', f'["{i:064x}"]', exit_code, f"benchmark prompt {i}",
            1000 + i % 50, host, None, 4.2, None, host, "studio", f"{i:032x}", f"{i:064x}",
            '{"steps":28}' if i % 10 == 0 else None,
        )  # fmt: skip


def _build_sqlite(path: Path, n: int, now: datetime) -> float:
    import sqlite3

    from flux_cli.ledger import Ledger
    from flux_cli.ledger.schema import COPY_COLUMNS

    started = time.perf_counter()
    Ledger.open(path).close()  # the schema
    names = ", ".join(COPY_COLUMNS)
    marks = ", ".join("?" for _ in COPY_COLUMNS)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO calls ({names}) VALUES ({marks})", _records(n, now))
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def _build_postgres(url: str, n: int, now: datetime) -> float:
    import psycopg

    from flux_cli.ledger import Ledger
    from flux_cli.ledger.schema import COPY_COLUMNS

    started = time.perf_counter()
    Ledger.open(url=url).close()  # the schema
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            copy_sql = f"COPY calls ({', '.join(COPY_COLUMNS)}) FROM STDIN"
            with cursor.copy(copy_sql) as copy:
                for record in _records(n, now):
                    copy.write_row(record)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE calls")  # what autovacuum would have done by then
    return time.perf_counter() - started


def _history(env: dict[str, str], args: list[str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one `flux2 history …`."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [venv_bin("flux2"), "history", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"flux2 history {' '.join(args)} exited {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024


def _spread(values: list[float]) -> str:
    return f"{min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f} s"


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _budget_checks(open_ledger: Any) -> tuple[float, float]:
    with open_ledger() as ledger:
        ledger.spent("openrouter")  # warm
        times = []
        for _ in range(CHECKS):
            started = time.perf_counter()
            ledger.spent("openrouter")
            times.append(time.perf_counter() - started)
    return _percentiles(times)


def _reserves(open_ledger: Any, api: str) -> tuple[float, float]:
    from flux_cli.ledger import Budgets, NewEntry

    budgets = Budgets(daily_micros=10**15)
    one = NewEntry(api, "generate", "black-forest-labs/flux.2-pro", 30_000)
    with open_ledger() as ledger:
        ledger.reserve(one, budgets)
        times = []
        for _ in range(CHECKS):
            started = time.perf_counter()
            ledger.reserve(one, budgets)
            times.append(time.perf_counter() - started)
    return _percentiles(times)


_WORKER = """
import json, sys, time
from pathlib import Path
from flux_cli.ledger import Budgets, Ledger, NewEntry
where, api, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
ledger = Ledger.open(url=where) if where.startswith("postgresql") else Ledger.open(Path(where))
one = NewEntry(api, "generate", "black-forest-labs/flux.2-pro", 30000)
budgets = Budgets(daily_micros=10**15)
ledger.reserve(one, budgets)
print("ready", flush=True)
sys.stdin.readline()
times = []
for _ in range(count):
    started = time.perf_counter()
    ledger.reserve(one, budgets)
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"""


def _concurrent_reserves(where: str, api: str, per_worker: int) -> tuple[float, float, float]:
    """(median, p99, wall seconds) of check+reserve with WORKERS processes at once."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, where, api, str(per_worker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    times: list[float] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        times += json.loads(out)
    wall = time.perf_counter() - started
    median, p99 = _percentiles(times)
    return median, p99, wall


def _plans(ledger: Any) -> dict[str, list[str]]:
    from flux_cli.ledger.queries import Filter
    from flux_cli.ledger.schema import ROW_COLUMNS

    pending = Filter("openrouter", statuses=("pending",))
    since = (datetime.now(UTC) - timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    queries = {
        "table (newest 50)": (
            f"SELECT {ROW_COLUMNS} FROM calls WHERE api = :api "
            "ORDER BY created_at DESC, id DESC LIMIT 50",
            {"api": "openrouter"},
        ),
        "stale pending": (
            f"SELECT {ROW_COLUMNS} FROM calls WHERE {pending.sql} "
            "ORDER BY created_at DESC, id DESC",
            pending.params,
        ),
        "totals --since 7d": (
            "SELECT COUNT(*), SUM(estimate_micros), SUM(charged_micros) FROM calls "
            "WHERE api = :api AND created_at >= :since",
            {"api": "openrouter", "since": since},
        ),
        "budget check": (
            "SELECT SUM(counted_micros) FROM spend WHERE api = :api AND bucket >= :month",
            {"api": "openrouter", "month": since[:16]},
        ),
    }
    return {name: ledger.explain(sql, params) for name, (sql, params) in queries.items()}


@contextmanager
def _postgres() -> Iterator[Any]:
    """A throwaway cluster, or None when the server or psycopg is not installed."""
    repo = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(repo))
    from tests.postgres import available, running_cluster

    bin_dir = available()
    if bin_dir is None:
        yield None
        return
    with running_cluster(bin_dir) as cluster:
        yield cluster


def run(sizes: tuple[int, ...], postgres: bool = True) -> list[Row]:
    rows: list[Row] = []
    now = datetime.now(UTC)
    with ExitStack() as stack:
        root = Path(stack.enter_context(temp_root("ledger")))
        cluster = stack.enter_context(_postgres()) if postgres else None
        if postgres and cluster is None:
            rows.append(Row(SECTION, "PostgreSQL", "skipped: server or psycopg not installed"))
        for n in sizes:
            backends: list[tuple[str, dict[str, str], Any]] = []
            home = root / f"sqlite-{n}"
            env = isolated_env(home)
            path = Path(env["FLUX2_DATA_DIR"]) / "ledger.sqlite3"
            built = _build_sqlite(path, n, now)
            rows.append(Row(SECTION, f"build SQLite {n:,} rows", f"{built:.1f} s"))
            backends.append(("SQLite", env, lambda p=path: _open_sqlite(p)))
            if n == max(sizes):
                for version, what in ((3, "adds model_options, sums totals"), (4, "sums totals")):
                    upgrade = _upgrade_seconds(path, root / "upgrade.sqlite3", version)
                    label = f"SQLite {n:,}: open a schema {version} file ({what})"
                    rows.append(Row(SECTION, label, upgrade))
            if cluster is not None and n == max(sizes):
                url = cluster.new_database()
                built = _build_postgres(url, n, now)
                rows.append(Row(SECTION, f"build PostgreSQL {n:,} rows", f"{built:.1f} s"))
                pg_env = isolated_env(root / f"postgres-{n}", FLUX2_LEDGER_URL=url)
                backends.append(("PostgreSQL", pg_env, lambda u=url: _open_postgres(u)))
            for label, backend_env, open_ledger in backends:
                for case, args in HISTORY_CASES.items():
                    results = [_history(backend_env, args) for _ in range(RUNS)]
                    seconds = [r[0] for r in results]
                    peak = max(r[1] for r in results)
                    target, passed = "", None
                    if n >= 1_000_000 and case in ("table", "--by day", "--by model"):
                        target, passed = "< 1 s", statistics.median(seconds) < 1.0
                    rows.append(
                        Row(
                            SECTION,
                            f"{label} {n:,}: history {case} (min/med/max)",
                            f"{_spread(seconds)}, peak RSS {peak / 2**20:.0f} MiB",
                            target,
                            passed,
                            {"seconds": seconds, "peak_rss": peak},
                        )
                    )
                median, p99 = _budget_checks(open_ledger)
                target, passed = ("< 1 ms", median < 0.001) if n >= 1_000_000 else ("", None)
                rows.append(
                    Row(
                        SECTION,
                        f"{label} {n:,}: budget check, median / p99 of {CHECKS}",
                        f"{ms(median)} / {ms(p99)}",
                        target,
                        passed,
                    )
                )
                if n == max(sizes):
                    with open_ledger() as ledger:
                        plans = _plans(ledger)
                    for name, plan in plans.items():
                        rows.append(
                            Row(SECTION, f"{label} {n:,}: plan of {name}", " | ".join(plan))
                        )
        rows += _reserve_rows(root, cluster)
    return rows


def _reserve_rows(root: Path, cluster: Any) -> list[Row]:
    """Check+reserve latency on a small ledger: what each paid call waits for."""
    rows = []
    where_sqlite = str(root / "reserve" / "ledger.sqlite3")
    targets = [("SQLite", where_sqlite, lambda: _open_sqlite(Path(where_sqlite)))]
    if cluster is not None:
        url = cluster.new_database()
        targets.append(("PostgreSQL", url, lambda: _open_postgres(url)))
    for label, where, open_ledger in targets:
        median, p99 = _reserves(open_ledger, "bench-alone")
        rows.append(
            Row(
                SECTION,
                f"{label}: check+reserve, median / p99 of {CHECKS}",
                f"{ms(median)} / {ms(p99)}",
            )
        )
        median, p99, wall = _concurrent_reserves(where, "bench-16", CHECKS // WORKERS * 4)
        rows.append(
            Row(
                SECTION,
                f"{label}: check+reserve from {WORKERS} processes, median / p99",
                f"{ms(median)} / {ms(p99)} ({WORKERS * (CHECKS // WORKERS * 4) / wall:.0f} calls/s)",
            )
        )
    return rows


def _upgrade_seconds(built: Path, copy: Path, version: int) -> str:
    """How long the first open of a ledger of schema `version` takes: 3 was written before model
    options (the migration adds a column), 4 before charges were checked (the running totals
    are summed again from the rows); the file is `built` taken back to that schema."""
    import shutil
    import sqlite3

    shutil.copyfile(built, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    if version <= 3:
        conn.execute("ALTER TABLE calls DROP COLUMN model_options")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    started = time.perf_counter()
    _open_sqlite(copy).close()
    return ms(time.perf_counter() - started)


def _open_sqlite(path: Path) -> Any:
    from flux_cli.ledger import Ledger

    return Ledger.open(path)


def _open_postgres(url: str) -> Any:
    from flux_cli.ledger import Ledger

    return Ledger.open(url=url)
