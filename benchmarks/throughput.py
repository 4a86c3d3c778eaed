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
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import FAKE_KEY, Row, isolated_env, temp_root, venv_bin

LATENCY = 1.0


@contextmanager
def sandbox_process(env: dict[str, str]) -> Iterator[str]:
    """`flux2 sandbox` on a free port; yields its base URL."""
    argv = [
        venv_bin("flux2"), "sandbox", "--port", "0", "--latency", str(LATENCY),
        "--balance", "100000", "-q",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"flux2 sandbox did not start (printed {url!r})")
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
        outdir = tmp / f"out-c{k}"
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
