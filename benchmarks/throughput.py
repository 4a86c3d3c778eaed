"""3. Throughput: N images through `flux2 generate --batch FILE --concurrency K -q -o DIR`.

The sandbox is `flux2 sandbox --latency 1 --port 0` in its own process, as a user rehearses
against it (and as the real API is another machine): it does not share this process's GIL or
flux2's. Each generation's answer leaves 1 s after its request arrived (rendering included).
flux2 is the real CLI as a subprocess pointed at it with FLUX2_BASE_URL, a well-formed fake key,
and its data/cache/config/state dirs in a temp dir; one single-image run first fills the model
catalog cache, as any earlier run would have. Timed: the subprocess's wall time (perf_counter),
which includes flux2's own start-up. Ideal: ceil(N / K) × latency. Target: within 10 %.
Shown beside it (information, not the target): when the sandbox took in the first request,
and the time after that, which is the pipeline alone.

`scale` runs long batches (1,000 and 10,000 lines by default) at several concurrencies against a
sandbox with 200 ms latency and reports, per run: wall time against the ideal, the client's CPU
time per image, and its peak RSS. flux2 runs its interpreter lock on one core, so its CPU time is
a floor too: the target is 1.25 × whichever of the ideal and that CPU floor is larger.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import FAKE_KEY, Row, isolated_env, temp_root, venv_bin

LATENCY = 1.0
SCALE_LATENCY = 0.2
SCALE_TARGET = 1.25


SANDBOX_PIDS: dict[str, int] = {}  # base URL → pid, to read the sandbox's CPU time


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process so far (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox_process(env: dict[str, str], latency: float = LATENCY) -> Iterator[str]:
    """`flux2 sandbox` on a free port; yields its base URL."""
    argv = [
        venv_bin("flux2"), "sandbox", "--port", "0", "--latency", str(latency),
        "--balance", "100000000", "-q",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"flux2 sandbox did not start (printed {url!r})")
        SANDBOX_PIDS[url] = proc.pid
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run(images: int = 64, levels: tuple[int, ...] = (1, 4, 8, 16)) -> list[Row]:
    rows: list[Row] = []
    with temp_root("throughput") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp / "home", OPENROUTER_API_KEY=FAKE_KEY)
        with sandbox_process(env) as base_url:
            env["FLUX2_BASE_URL"] = base_url
            rows = _levels(tmp, env, images, levels)
    return rows


def _levels(tmp: Path, env: dict[str, str], images: int, levels: tuple[int, ...]) -> list[Row]:
    rows: list[Row] = []
    batch = tmp / "batch.txt"
    batch.write_text("".join(f"benchmark image number {i}\n" for i in range(images)))
    warm = [venv_bin("flux2"), "generate", "warm-up", "-q", "-o", str(tmp / "warm.jpg")]
    subprocess.run(warm, env=env, capture_output=True, check=True)
    for k in levels:
        outdir = tmp / f"out-c{k}-{time.monotonic_ns()}"
        outdir.mkdir()
        argv = [
            venv_bin("flux2"), "generate", "--batch", str(batch),
            "--concurrency", str(k), "-q", "-o", f"{outdir}/",
        ]  # fmt: skip
        started = time.perf_counter()
        started_mono = time.monotonic()  # the sandbox stamps arrivals with the same clock
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        first = _first_arrival(env["FLUX2_BASE_URL"], started_mono)
        written = len(list(outdir.iterdir()))
        ideal = math.ceil(images / k) * LATENCY
        ok = proc.returncode == 0 and written == images and wall <= ideal * 1.10
        note = "" if proc.returncode == 0 else f" exit {proc.returncode}"
        rows.append(
            Row(
                "throughput",
                f"{images} images, concurrency {k}{note}",
                f"{wall:.2f} s = {wall / ideal:.3f}× ideal ({written} files)",
                f"≤ 1.10 × {ideal:.0f} s = {ideal * 1.1:.1f} s",
                ok,
                {
                    "images": images,
                    "concurrency": k,
                    "wall_s": wall,
                    "ideal_s": ideal,
                    "ratio": wall / ideal,
                    "written": written,
                    "exit": proc.returncode,
                    "stderr_tail": proc.stderr[-2000:],
                    "first_request_s": first,
                },
            )
        )
        if first is not None:
            after = wall - first
            rows.append(
                Row(
                    "throughput",
                    f"  after start-up (first request at {first * 1000:.0f} ms)",
                    f"{after:.2f} s = {after / ideal:.3f}× ideal",
                    "",
                    None,
                    {"after_startup_s": after, "ratio": after / ideal},
                )
            )
    return rows


def _first_arrival(base_url: str, since: float) -> float | None:
    """Seconds from `since` to the first generation request the sandbox took in, or None."""
    control = base_url.rsplit("/api/v1", 1)[0] + "/_sandbox/requests"
    with urllib.request.urlopen(control, timeout=10) as answer:
        recorded = json.load(answer)["requests"]
    times = [r["time"] for r in recorded if r["path"].endswith("/images") and r["time"] >= since]
    urllib.request.urlopen(urllib.request.Request(control, method="DELETE"), timeout=10).close()
    return min(times) - since if times else None


@dataclass
class BatchRun:
    """One `flux2 generate --batch` subprocess: its wall time and what the kernel says it used."""

    lines: int
    concurrency: int
    wall_s: float
    cpu_s: float
    peak_rss: int  # bytes
    sandbox_cpu_s: float | None  # what the sandbox spent meanwhile (its own process)
    written: int
    exit: int
    stderr_tail: str


def run_batch(
    tmp: Path, env: dict[str, str], lines: int, concurrency: int, *, extra: tuple[str, ...] = ()
) -> BatchRun:
    """A batch of `lines` prompts at `concurrency`, timed, with the child's rusage (os.wait4)."""
    batch = tmp / f"batch-{lines}.txt"
    if not batch.exists():
        batch.write_text("".join(f"benchmark image number {i}\n" for i in range(lines)))
    outdir = tmp / f"out-{lines}-c{concurrency}-{time.monotonic_ns()}"
    outdir.mkdir()
    argv = [
        venv_bin("flux2"), "generate", "--batch", str(batch), "--concurrency", str(concurrency),
        "-q", "-o", f"{outdir}/", "--metadata", "minimal", *extra,
    ]  # fmt: skip
    sandbox_pid = SANDBOX_PIDS.get(env.get("FLUX2_BASE_URL", ""))
    sandbox_before = process_cpu_s(sandbox_pid) if sandbox_pid else None
    with (tmp / "stderr.txt").open("w+") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        tail = stderr.read()[-2000:]
    sandbox_after = process_cpu_s(sandbox_pid) if sandbox_pid else None
    sandbox_cpu = (
        sandbox_after - sandbox_before
        if sandbox_after is not None and sandbox_before is not None
        else None
    )
    written = sum(1 for _ in outdir.iterdir())
    for path in outdir.iterdir():
        path.unlink()
    outdir.rmdir()
    return BatchRun(
        lines,
        concurrency,
        wall,
        usage.ru_utime + usage.ru_stime,
        usage.ru_maxrss * 1024,
        sandbox_cpu,
        written,
        proc.returncode,
        tail,
    )


def scale(
    lines: tuple[int, ...] = (1_000, 10_000),
    levels: tuple[int, ...] = (4, 32, 128),
    latency: float = SCALE_LATENCY,
) -> list[Row]:
    """Long batches: wall time against the ideal or the CPU floor, CPU per image, peak RSS."""
    rows: list[Row] = []
    with temp_root("scale") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp / "home", OPENROUTER_API_KEY=FAKE_KEY)
        with sandbox_process(env, latency) as base_url:
            env["FLUX2_BASE_URL"] = base_url
            warm = [venv_bin("flux2"), "generate", "warm-up", "-q", "-o", str(tmp / "warm.jpg")]
            subprocess.run(warm, env=env, capture_output=True, check=True)
            for k in levels:
                runs = [run_batch(tmp, env, n, k) for n in lines]
                rows += [_scale_row(run, latency) for run in runs]
                if len(runs) > 1:
                    rows.append(memory_row(runs[0], runs[-1]))
    return rows


def _scale_row(run: BatchRun, latency: float) -> Row:
    ideal = math.ceil(run.lines / run.concurrency) * latency
    # Floors: the ideal; the client's CPU time (one interpreter lock); the sandbox's CPU time
    # (another process, another lock); and both together spread over the machine's cores.
    cores = os.cpu_count() or 1
    server = run.sandbox_cpu_s or 0.0
    floors = {
        "ideal": ideal,
        "client CPU floor": run.cpu_s,
        "sandbox CPU floor": server,
        f"machine CPU floor ({cores} cores)": (run.cpu_s + server) / cores,
    }
    which = max(floors, key=lambda name: floors[name])
    floor = floors[which]
    ok = run.exit == 0 and run.written == run.lines and run.wall_s <= SCALE_TARGET * floor
    return Row(
        "scale",
        f"{run.lines:,} lines, concurrency {run.concurrency}"
        + ("" if run.exit == 0 else f" exit {run.exit}"),
        f"{run.wall_s:.1f} s = {run.wall_s / ideal:.2f}× ideal {ideal:.1f} s; "
        f"CPU {run.cpu_s / max(run.lines, 1) * 1000:.2f} ms/image"
        + (
            f" (sandbox {server / max(run.lines, 1) * 1000:.2f})"
            if run.sandbox_cpu_s is not None
            else ""
        )
        + "; "
        f"peak RSS {run.peak_rss / 2**20:.0f} MiB",
        f"≤ {SCALE_TARGET} × {which} {floor:.1f} s",
        ok,
        {
            "lines": run.lines,
            "concurrency": run.concurrency,
            "wall_s": run.wall_s,
            "ideal_s": ideal,
            "cpu_s": run.cpu_s,
            "sandbox_cpu_s": run.sandbox_cpu_s,
            "floor": which,
            "ratio_to_floor": run.wall_s / floor,
            "peak_rss_bytes": run.peak_rss,
            "written": run.written,
            "exit": run.exit,
            "stderr_tail": run.stderr_tail,
        },
    )


def memory_row(small: BatchRun, large: BatchRun, limit: float = 1.5) -> Row:
    """Peak RSS of the longer batch against the shorter one, at the same concurrency."""
    ratio = large.peak_rss / small.peak_rss
    return Row(
        "memory",
        f"peak RSS {large.lines:,} / {small.lines:,} lines, concurrency {small.concurrency}",
        f"{large.peak_rss / 2**20:.0f} / {small.peak_rss / 2**20:.0f} MiB = {ratio:.2f}×",
        f"≤ {limit}× (flat: a small record per line)",
        ratio <= limit and small.exit == 0 and large.exit == 0,
        {"small": small.peak_rss, "large": large.peak_rss, "ratio": ratio},
    )
