"""4. Gallery: `flux2 gallery` over a ledger of N calls, and the page in headless Chromium.

Set-up (not timed): D distinct 1024×1024 JPEG images (gradients and shapes, ~60-100 KB, as
quick to decode as a FLUX JPEG of that size give or take) and a ledger of N `ok` calls cycling
over them, written with the ledger's own API into a temp data dir. Timed, each as the wall time
of the real `flux2 gallery` subprocess (start-up and reading the ledger included):

    cold    an empty thumbnail cache: D thumbnails made, N cards written
    warm    the same again: every thumbnail from the cache (the nightly rebuild)

Browser: Debian's chromium, headless, on a copy of the page with a small probe appended that
records the page's own clock (Navigation Timing: DOMContentLoaded, end of the load event) and the
longest main-thread task (Long Tasks API), read back with `--dump-dom`; the page as written (only
the first cards carry `src`, the rest load near the viewport) and, for comparison, the same page
with every thumbnail in `src`. Skipped when no chromium is on PATH.

Targets: the warm rebuild of 10,000 calls within 10 s; the first cards on screen within 1 s
(the browser parses and shows the page as it reads it; the rest of a 10,000-card page keeps
arriving after that, which the other figures show).
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import Row, isolated_env, temp_root, venv_bin

WARM_TARGET_S = 10.0
FIRST_PAINT_TARGET_S = 1.0
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip


def _image(seed: int) -> bytes:
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((1024, 1024)).rotate(rng.randrange(360))
    scales = [rng.random() for _ in "rgb"]
    image = Image.merge("RGB", [base.point([int(v * k) for v in range(256)]) for k in scales])
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y, r = rng.randrange(1024), rng.randrange(1024), rng.randrange(20, 200)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in "rgb"))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def _fill(env: dict[str, str], folder: Path, calls: int, distinct: int) -> None:
    import os

    os.environ.update({k: v for k, v in env.items() if k.startswith("FLUX2_")})
    from flux_cli.ledger import Budgets, Ledger, NewEntry, default_path

    files = []
    for n in range(distinct):
        data = _image(n)
        path = folder / f"image-{n:05d}.jpg"
        path.write_bytes(data)
        files.append((path.name, hashlib.sha256(data).hexdigest()))
    start = datetime.now(UTC) - timedelta(days=30)
    with Ledger.open(default_path()) as ledger:
        for first in range(0, calls, 500):
            entries = [
                NewEntry(
                    api="sandbox",
                    command="generate",
                    model="black-forest-labs/flux.2-pro",
                    estimate_micros=30_000,
                    seed=n,
                    width=1024,
                    height=1024,
                    output_mp=1,
                    prompt=f"benchmark prompt number {n}: a scene with a few shapes",
                )
                for n in range(first, min(calls, first + 500))
            ]
            moments = [start + timedelta(minutes=4 * n) for n in range(first, first + len(entries))]
            ids = ledger.reserve_many(entries, Budgets(), now=moments[0])
            for offset, row_id in enumerate(ids):
                assert isinstance(row_id, int)
                name, sha = files[(first + offset) % distinct]
                ledger.update(
                    row_id, status="ok", charged_micros=30_000, paths=[name], sha256s=[sha],
                    now=moments[offset], synced=False,
                )  # fmt: skip


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Appended to a copy of the page (its CSP removed so it may run): the page's own clock at its
# first contentful paint (the top cards on screen), at DOMContentLoaded and at the load event.
_PROBE = """<script>
(function(){
addEventListener("load",function(){
  var n=performance.getEntriesByType("navigation")[0];
  document.body.dataset.dcl=n.domContentLoadedEventEnd.toFixed(0);
  document.body.dataset.loaded=performance.now().toFixed(0);
  var paint=performance.getEntriesByName("first-contentful-paint")[0];
  document.body.dataset.fcp=paint?paint.startTime.toFixed(0):"-1";
});
})();
</script>"""


def _probed(page: Path, target: Path, *, eager: bool) -> Path:
    import re

    text = page.read_text(encoding="utf-8")
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text, count=1)
    if eager:
        text = text.replace("<img data-src=", "<img src=")
    target.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    return target


def _load_time(browser: str, page: Path, runs: int) -> dict[str, float]:
    """Medians over `runs` of the page's own timings (ms) and the browser's wall time (s)."""
    import re
    import statistics

    samples: dict[str, list[float]] = {"fcp": [], "dcl": [], "loaded": [], "wall": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="flux2-bench-chromium-") as profile:
            argv = [
                browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                "--dump-dom", page.as_uri(),
            ]  # fmt: skip
            started = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, timeout=300, check=False)
            samples["wall"].append(time.perf_counter() - started)
        body = re.search(rb"<body([^>]*)>", proc.stdout)
        found = dict(re.findall(rb'data-([a-z]+)="(-?[0-9.]+)"', body.group(1) if body else b""))
        if proc.returncode != 0 or b"loaded" not in found:
            raise RuntimeError(f"chromium failed on {page}: {proc.stderr[-500:]!r}")
        for key in ("fcp", "dcl", "loaded"):
            samples[key].append(float(found[key.encode()]))
    return {key: statistics.median(values) for key, values in samples.items()}


def run(calls: int = 10_000, distinct: int = 2_000, browser_runs: int = 3) -> list[Row]:
    rows: list[Row] = []
    with temp_root("gallery") as tmp_name:
        tmp = Path(tmp_name)
        env = isolated_env(tmp / "home")
        folder = tmp / "renders"
        folder.mkdir()
        _fill(env, folder, calls, distinct)
        argv = [venv_bin("flux2"), "gallery", "--sandbox", "-o", "index.html"]
        figures = {}
        for label in ("cold", "warm"):
            started = time.perf_counter()
            proc = subprocess.run(
                argv, env=env, cwd=folder, capture_output=True, text=True, check=False
            )
            figures[label] = time.perf_counter() - started
            if proc.returncode != 0:
                raise RuntimeError(f"flux2 gallery failed: {proc.stderr}")
        page = folder / "index.html"
        size_mb = page.stat().st_size / 1e6
        rows.append(
            Row(
                "gallery",
                f"cold build: {calls:,} calls, {distinct:,} thumbnails made",
                f"{figures['cold']:.2f} s ({figures['cold'] / distinct * 1000:.1f} ms per image)",
                data={"seconds": figures["cold"], "calls": calls, "distinct": distinct},
            )
        )
        rows.append(
            Row(
                "gallery",
                f"warm rebuild: {calls:,} calls, every thumbnail cached ({size_mb:.1f} MB page)",
                f"{figures['warm']:.2f} s",
                f"≤ {WARM_TARGET_S:.0f} s" if calls >= 10_000 else "",
                figures["warm"] <= WARM_TARGET_S if calls >= 10_000 else None,
                {"seconds": figures["warm"], "calls": calls, "page_bytes": page.stat().st_size},
            )
        )
        browser = _chromium()
        if browser is None:
            rows.append(Row("gallery", "page load in chromium", "skipped: no chromium"))
            return rows
        lazy = _load_time(browser, _probed(page, tmp / "lazy.html", eager=False), browser_runs)
        eager = _load_time(browser, _probed(page, tmp / "eager.html", eager=True), browser_runs)
        for name, figures, target in (
            ("lazy thumbnails (as written)", lazy, True),
            ("every thumbnail in src (for comparison)", eager, False),
        ):
            first_paint_s = figures["fcp"] / 1000
            rows.append(
                Row(
                    "gallery",
                    f"page in chromium, {calls:,} cards, {name}",
                    f"first paint {first_paint_s:.2f} s; whole page parsed "
                    f"{figures['dcl'] / 1000:.2f} s, load event {figures['loaded'] / 1000:.2f} s",
                    f"first paint ≤ {FIRST_PAINT_TARGET_S:.0f} s" if target else "",
                    0 <= first_paint_s <= FIRST_PAINT_TARGET_S if target else None,
                    figures,
                )
            )
    return rows
