"""`python -m benchmarks [--quick] [--json PATH] [--only SECTION ...]`: run, print a table, save JSON."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from benchmarks import batch_memory, gallery, ledger, response, resume, startup, throughput
from benchmarks.common import Row

DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"
SECTIONS = (
    "startup", "response", "throughput", "memory", "scale", "ledger", "gallery", "resume",
)  # fmt: skip


def table(rows: list[Row]) -> str:
    headers = ("section", "figure", "value", "target", "verdict")
    cells = [(r.section, r.name, r.value, r.target, r.verdict) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)) for cell in cells]
    return "\n".join(s.rstrip() for s in out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="development run: 16 images for throughput, 7 runs instead of 15 (not the spec)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write results")
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only these")
    parser.add_argument(
        "--lines",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        help="batch lengths for memory and scale (default 1000,10000; --quick 100,1000)",
    )
    parser.add_argument(
        "--levels",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        default=(4, 32, 128),
        help="concurrencies for scale (default 4,32,128)",
    )
    args = parser.parse_args(argv)
    chosen = args.only or list(SECTIONS)
    runs, warmup = (7, 1) if args.quick else (15, 2)
    images = 16 if args.quick else 64

    rows: list[Row] = []
    started = time.perf_counter()
    if "startup" in chosen:
        print(f"start-up: {runs} runs after {warmup} warm-ups …", file=sys.stderr)
        rows += startup.run(runs, warmup)
    if "response" in chosen:
        print("client-side cost of one response …", file=sys.stderr)
        rows += response.run(runs, warmup)
    if "throughput" in chosen:
        print(f"throughput: {images} images at 1, 4, 8, 16 (1 s latency) …", file=sys.stderr)
        rows += throughput.run(images)
    if "gallery" in chosen:
        calls, distinct = (1_000, 200) if args.quick else (10_000, 2_000)
        print(
            f"gallery: {calls} calls over {distinct} images, cold and warm; chromium …",
            file=sys.stderr,
        )
        rows += gallery.run(calls, distinct, browser_runs=1 if args.quick else 3)

    lines = args.lines or ((100, 1_000) if args.quick else (1_000, 10_000))
    if "memory" in chosen:
        print(f"batch memory: {' and '.join(map(str, lines))} lines …", file=sys.stderr)
        rows += batch_memory.run((lines[0], lines[-1]))
    if "scale" in chosen:
        print(f"scale: {lines} lines at {args.levels} (200 ms latency) …", file=sys.stderr)
        rows += throughput.scale(lines, args.levels)
    if "ledger" in chosen:
        sizes = (10_000, 100_000) if args.quick else (10_000, 100_000, 1_000_000)
        print(
            f"ledger: history and budgets over {', '.join(f'{n:,}' for n in sizes)} rows …",
            file=sys.stderr,
        )
        rows += ledger.run(sizes)
    if "resume" in chosen:
        batch, ledger_rows = (1_000, 100_000) if args.quick else (10_000, 1_000_000)
        print(
            f"resume: a {batch:,}-line batch against a ledger of {ledger_rows:,} rows …",
            file=sys.stderr,
        )
        rows += resume.run(batch, ledger_rows)

    mode = "QUICK (not the spec)" if args.quick else "full spec"
    print(f"flux2 benchmarks — {mode}; {platform.python_version()} on {platform.platform()}")
    print(table(rows))
    failed = [r for r in rows if r.passed is False]
    print(f"{len(failed)} of {sum(r.passed is not None for r in rows)} targets FAIL")
    report = {
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "elapsed_s": time.perf_counter() - started,
        "rows": [r.as_json() for r in rows],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"results written to {args.json}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
