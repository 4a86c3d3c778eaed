"""1. Start-up: median wall time of flux2 commands beside `python -c "import typer"`.

Every command runs as a fresh subprocess timed with `time.perf_counter` around `subprocess.run`
(stdout/stderr to /dev/null). The commands are interleaved round by round, so the baseline and
flux2 see the same machine state; the first `warmup` rounds are discarded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import Row, isolated_env, median, ms, temp_root, venv_bin

BASELINE = "import typer"


def commands() -> dict[str, tuple[list[str], dict[str, str]]]:
    flux2 = venv_bin("flux2")
    complete = {
        "_FLUX2_COMPLETE": "complete_bash",
        "COMP_WORDS": "flux2 generate -m ",
        "COMP_CWORD": "3",
    }
    return {
        BASELINE: ([sys.executable, "-c", "import typer"], {}),
        "flux2 --version": ([flux2, "--version"], {}),
        "flux2 --help": ([flux2, "--help"], {}),
        "flux2 cost -m pro": ([flux2, "cost", "-m", "pro"], {}),
        "TAB completion (generate -m )": ([flux2], complete),
    }


def _once(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return time.perf_counter() - started, proc.returncode


TARGETS = {"flux2 --version": 1.5, "flux2 cost -m pro": 2.5}


def run(runs: int = 15, warmup: int = 2) -> list[Row]:
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    codes: dict[str, set[int]] = {name: set() for name in cmds}
    with temp_root("startup") as tmp:
        base_env = isolated_env(Path(tmp))
        for round_no in range(warmup + runs):
            for name, (argv, extra) in cmds.items():
                elapsed, code = _once(argv, {**base_env, **extra})
                codes[name].add(code)
                if round_no >= warmup:
                    times[name].append(elapsed)
    base = median(times[BASELINE])
    rows = [
        Row(
            "start-up",
            f'python -c "{BASELINE}"',
            ms(base),
            "baseline",
            None,
            {"median_s": base, "runs_s": times[BASELINE]},
        )
    ]
    for name in cmds:
        if name == BASELINE:
            continue
        value = median(times[name])
        ratio = value / base
        limit = TARGETS.get(name)
        note = "" if codes[name] == {0} else f" (exit {sorted(codes[name])})"
        rows.append(
            Row(
                "start-up",
                name + note,
                f"{ms(value)} = {ratio:.2f}×",
                f"≤ {limit}× typer" if limit else "",
                (ratio <= limit) if limit else None,
                {
                    "median_s": value,
                    "ratio": ratio,
                    "runs_s": times[name],
                    "exit": sorted(codes[name]),
                },
            )
        )
    return rows
