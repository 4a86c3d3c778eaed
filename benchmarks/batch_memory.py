"""Batch memory: peak RSS of `flux2 generate --batch` for a short and a long batch file at the
same concurrency, and their ratio. A finished line keeps only a small record, and image bytes
are held only for the requests in flight and the answers waiting to be saved, so the ratio
stays near 1 however long the file is. The sandbox answers at once (latency 0): the run is as
short as the machine allows, and memory is what is measured.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.common import FAKE_KEY, Row, isolated_env, temp_root, venv_bin
from benchmarks.throughput import memory_row, run_batch, sandbox_process

CONCURRENCY = 32


def run(lines: tuple[int, int] = (1_000, 10_000), concurrency: int = CONCURRENCY) -> list[Row]:
    with temp_root("memory") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp / "home", OPENROUTER_API_KEY=FAKE_KEY)
        with sandbox_process(env, 0.0) as base_url:
            env["FLUX2_BASE_URL"] = base_url
            warm = [venv_bin("flux2"), "generate", "warm-up", "-q", "-o", str(tmp / "warm.jpg")]
            subprocess.run(warm, env=env, capture_output=True, check=True)
            small, large = (run_batch(tmp, env, n, concurrency) for n in lines)
    return [
        Row(
            "memory",
            f"{run.lines:,} lines, concurrency {concurrency}"
            + ("" if run.exit == 0 else f" exit {run.exit}"),
            f"peak RSS {run.peak_rss / 2**20:.1f} MiB, {run.wall_s:.1f} s, {run.written} files",
            "",
            None,
            {"lines": run.lines, "peak_rss_bytes": run.peak_rss, "wall_s": run.wall_s},
        )
        for run in (small, large)
    ] + [memory_row(small, large)]
