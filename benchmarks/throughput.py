"""3. Throughput: N images through `flux2 generate --batch FILE --concurrency K -q -o DIR`.

The sandbox (`flux_cli.sandbox.Sandbox`, latency 1 s, port 0) runs in this process; flux2 is the
real CLI as a subprocess pointed at it with FLUX2_BASE_URL, a well-formed fake key, and its
data/cache/config/state dirs in a temp dir. Timed: the subprocess's wall time (perf_counter),
which includes flux2's own start-up. Ideal: ceil(N / K) × latency. Target: within 10 %.
"""

from __future__ import annotations

import math
import subprocess
import time
from pathlib import Path

from benchmarks.common import FAKE_KEY, Row, isolated_env, temp_root, venv_bin

LATENCY = 1.0


def run(images: int = 64, levels: tuple[int, ...] = (1, 4, 8, 16)) -> list[Row]:
    from flux_cli.sandbox import Sandbox, SandboxConfig

    rows: list[Row] = []
    with (
        temp_root("throughput") as tmp_name,
        Sandbox(SandboxConfig(port=0, latency=LATENCY, balance_usd="100000.00")) as sandbox,
    ):
        tmp = Path(tmp_name)
        batch = tmp / "batch.txt"
        batch.write_text("".join(f"benchmark image number {i}\n" for i in range(images)))
        env = isolated_env(
            tmp / "home", FLUX2_BASE_URL=sandbox.base_url, OPENROUTER_API_KEY=FAKE_KEY
        )
        for k in levels:
            outdir = tmp / f"out-c{k}"
            outdir.mkdir()
            argv = [
                venv_bin("flux2"), "generate", "--batch", str(batch),
                "--concurrency", str(k), "-q", "-o", f"{outdir}/",
            ]  # fmt: skip
            started = time.perf_counter()
            proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
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
                    },
                )
            )
    return rows
