"""Issue 7 item 6: `kill -9` at random points of 100 runs sharing one output dir and one ledger.

Whatever moment the kill lands on (start-up, the budget transaction, waiting for the answer,
writing the temp file, linking it), every file at a final name is a complete image, and every ledger
row is consistent: `ok` rows name files that exist with the recorded sha256, and once the processes
are gone `flux2 history --reconcile` leaves no `pending` row behind.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flux_cli.images import normalise_image
from flux_cli.ledger import Ledger
from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import flux2_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # 100 runs: minutes

RUNS = 100
AT_ONCE = 4
SEED = 20261121


def test_kill_9_at_random_points_of_100_runs(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    work = tmp_path / "work"
    out = work / "out"
    work.mkdir()
    with Sandbox(SandboxConfig(port=0, latency=0.15)) as sandbox:
        env = {
            **os.environ,
            "FLUX2_BASE_URL": sandbox.base_url,
            "OPENROUTER_API_KEY": CANARY_KEY,
            "FLUX2_BUDGET_DAILY_USD": "100",  # the budget transaction runs in every process
        }
        started = finished = killed = 0
        while started < RUNS:
            batch = []
            for _ in range(min(AT_ONCE, RUNS - started)):
                proc = subprocess.Popen(
                    [
                        *flux2_command(),
                        "generate",
                        f"run {started}",
                        "--seed",
                        str(started),
                        "-o",
                        "out/",
                        "-q",
                    ],
                    cwd=work,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                batch.append((proc, time.monotonic() + rng.uniform(0.05, 1.2)))
                started += 1
            for proc, kill_at in batch:
                time.sleep(max(0.0, kill_at - time.monotonic()))
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    killed += 1
                else:
                    finished += 1
                proc.wait(timeout=30)
        posts = len([r for r in sandbox.requests if r.path.endswith("/images")])

        # Every final name holds a complete image; temp files may be left by killed runs.
        finals = [p for p in out.iterdir() if not p.name.startswith(".")] if out.exists() else []
        for path in finals:
            data = path.read_bytes()
            kept, info = normalise_image(data)
            assert kept == data, path  # nothing truncated or padded
            assert (info.width, info.height) == (1024, 1024)
        temps = [p for p in out.iterdir() if p.name.startswith(".")] if out.exists() else []
        assert all(p.name.endswith(".tmp") for p in temps)

        with Ledger.open() as ledger:
            rows = ledger.rows(sandbox.base_url)
        assert len(rows) <= RUNS
        by_status: dict[str, int] = {}
        for row in rows:
            by_status[row.status] = by_status.get(row.status, 0) + 1
            assert row.status in {"pending", "ok", "failed", "unknown"}
            if row.status == "ok":
                assert row.charged_micros == row.estimate_micros == 30_000
                for name, digest in zip(row.paths, row.sha256s, strict=True):
                    file = work / name
                    assert file.exists(), name
                    assert hashlib.sha256(file.read_bytes()).hexdigest() == digest
        assert by_status.get("ok", 0) <= len(
            finals
        )  # a file can outlive its row's update, not the reverse
        assert by_status.get("ok", 0) <= posts
        assert killed > 0, "no run was killed: the test proves nothing"

        # The processes are gone: reconcile settles every pending row.
        reconcile = subprocess.run(
            [*flux2_command(), "history", "--reconcile"],
            cwd=work,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert reconcile.returncode == 0, reconcile.stderr
        with Ledger.open() as ledger:
            after = ledger.rows(sandbox.base_url)
        assert not [r for r in after if r.status == "pending"]
        assert len(after) == len(rows)
        print(
            f"kill -9: {RUNS} runs, {killed} killed, {finished} finished, {len(finals)} files, {posts} requests, rows {by_status}"
        )
