"""7. `--batch --resume` at scale: a 10,000-line batch resumed against a ledger of 1,000,000 rows.

A first run makes 90 % of the lines (against the sandbox on loopback, no added latency); the
ledger is then filled up to its size with rows of other batches (their fingerprints distinct),
spread over three years as in the ledger section. Timed, wall-clock: the installed `flux2`
from its start to the first request the sandbox receives, for the whole batch with `--resume`
(every line planned and fingerprinted, the ledger asked once per 500 fingerprints; the files of
the lines made earlier are read and hashed after the new lines, not before) and, for
comparison, the same batch into a fresh directory without `--resume`. In-process:
`Ledger.latest_by_fingerprint` for the 10,000 fingerprints alone, and SQLite's plan for its query.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.common import FAKE_KEY, Row, isolated_env, ms, temp_root, venv_bin
from benchmarks.ledger import _records

SECTION = "resume"
MADE = 0.9
CONCURRENCY = 32
TARGET_S = 1.0


def _first_request(command: list[str], cwd: Path, env: dict[str, str], sandbox: object) -> float:
    """Seconds from starting `command` to the sandbox's first image request; then it is killed."""
    sandbox.clear_requests()  # type: ignore[attr-defined]  # its log keeps only the newest
    started = time.perf_counter()
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        while not [r for r in sandbox.requests if r.path.endswith("/images")]:  # type: ignore[attr-defined]
            if proc.poll() is not None:
                raise RuntimeError(f"flux2 exited {proc.returncode} before sending anything")
            time.sleep(0.001)
        return time.perf_counter() - started
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(1.0)  # requests it had in flight reach the sandbox's log before the next run


def _fill(path: Path, rows: int) -> None:
    from flux_cli.ledger.schema import COPY_COLUMNS

    names = ", ".join(COPY_COLUMNS)
    marks = ", ".join("?" for _ in COPY_COLUMNS)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    conn.executemany(
        f"INSERT INTO calls ({names}) VALUES ({marks})",
        _records(rows, datetime.now(UTC)),
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def run(lines: int = 10_000, rows: int = 1_000_000) -> list[Row]:
    from flux_cli.ledger import Ledger
    from flux_cli.ledger.core import FINGERPRINTS_PER_QUERY, latest_sql
    from flux_cli.sandbox import Sandbox, SandboxConfig

    made = int(lines * MADE)
    out: list[Row] = []
    with (
        temp_root("resume") as tmp,
        Sandbox(SandboxConfig(port=0, balance_usd="1000000.00")) as sandbox,
    ):
        root = Path(tmp)
        env = isolated_env(root, FLUX2_BASE_URL=sandbox.base_url, OPENROUTER_API_KEY=FAKE_KEY)
        work = root / "work"
        work.mkdir()
        prompts = [f"benchmark picture {i}" for i in range(lines)]
        (work / "first.txt").write_text("\n".join(prompts[:made]) + "\n")
        (work / "batch.txt").write_text("\n".join(prompts) + "\n")
        flux2 = venv_bin("flux2")
        print(f"  resume: making {made:,} images first …", file=sys.stderr)
        subprocess.run(
            [flux2, "generate", "--batch", "first.txt", "-o", "out/", "-q", "--concurrency", "32"],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True,
        )  # fmt: skip
        ledger_path = root / "data" / "ledger.sqlite3"
        print(f"  resume: filling the ledger to {rows:,} rows …", file=sys.stderr)
        _fill(ledger_path, max(0, rows - made))

        with sqlite3.connect(ledger_path) as conn:
            total = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
            fingerprints = [
                r[0]
                for r in conn.execute(
                    "SELECT fingerprint FROM calls WHERE api = ? AND fingerprint IS NOT NULL",
                    (sandbox.base_url,),
                )
            ]
        conn.close()
        # The lines not made yet have fingerprints the ledger does not know.
        fingerprints += [f"{n:064x}".replace("0", "f", 1) for n in range(lines - len(fingerprints))]

        command = [flux2, "generate", "--batch", "batch.txt", "-q"]
        command += ["--concurrency", str(CONCURRENCY)]
        resumed = _first_request([*command, "-o", "out/", "--resume"], work, env, sandbox)
        fresh = _first_request([*command, "-o", "fresh/"], work, env, sandbox)

        with Ledger.open(ledger_path) as ledger:
            started = time.perf_counter()
            found = ledger.latest_by_fingerprint(fingerprints)
            query_s = time.perf_counter() - started
            plan = ledger.explain(*latest_sql(fingerprints[:FINGERPRINTS_PER_QUERY]))

    scale = f"{lines:,} lines, {made:,} made, ledger {total:,} rows"
    out.append(
        Row(
            SECTION,
            f"--resume: start to first request ({scale})",
            ms(resumed),
            f"< {TARGET_S:.0f} s",
            resumed < TARGET_S,
            {"seconds": resumed, "lines": lines, "made": made, "rows": total},
        )
    )
    out.append(
        Row(
            SECTION,
            f"without --resume: start to first request ({lines:,} lines)",
            ms(fresh),
            data={"seconds": fresh},
        )
    )
    out.append(
        Row(
            SECTION,
            f"latest_by_fingerprint: {len(fingerprints):,} fingerprints, {len(found):,} found",
            ms(query_s),
            data={"seconds": query_s, "plan": plan},
        )
    )
    out.append(Row(SECTION, "query plan (SQLite)", " | ".join(plan), data={"plan": plan}))
    return out
