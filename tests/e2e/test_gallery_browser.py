"""`flux2 gallery` in a real browser: images made by the installed flux2 against the sandbox, the
page opened by headless Chromium. Every thumbnail decodes, the totals are the ledger's, a hostile
prompt stays text, and a screenshot is kept in the test artifacts (not compared to anything).

Without Chromium the test is skipped, unless CI is set: then it fails (`.ci/run` installs it)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger, default_path
from flux_cli.pricing import format_usd
from flux_cli.sandbox import Fault, Sandbox
from tests.e2e.conftest import Flux2

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\"> & fox"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but no chromium is installed (.ci/run installs Debian's chromium)")
    pytest.skip("no chromium on PATH")


def browse(url: str, *extra: str) -> str:
    """Run headless Chromium on `url` with a throwaway profile; its stdout."""
    with tempfile.TemporaryDirectory(prefix="flux2-chromium-") as profile:
        proc = subprocess.run(
            [
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=5000",
                *extra,
                url,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")[-2000:]
    return proc.stdout.decode("utf-8")


def artifacts() -> Path:
    directory = Path(os.environ.get("FLUX2_TEST_ARTIFACTS") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def make_calls(flux2: Flux2, sandbox: Sandbox) -> None:
    prompts = [
        ("a red fox in fresh snow, morning light", "pro", "1"),
        ("a lighthouse on a cliff at dusk, long exposure", "max", "1"),
        (HOSTILE, "klein", "1"),
        ("three paper boats on a pond", "flex", "2"),
        ("a bowl of ramen, top view", "klein", "1"),
    ]
    for prompt, model, count in prompts:
        flux2("generate", prompt, "-m", model, "-n", count, "-q").assert_clean()
    sandbox.push_fault("images", Fault(status=400, message="bad aspect ratio"))
    failed = flux2("generate", "a call the server refuses", "-q")
    assert failed.returncode == 2
    sandbox.push_fault("images", Fault(status=500))
    unknown = flux2("generate", "a call with no answer", "-q", "--retries", "0")
    assert unknown.returncode == 9


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_the_gallery_opens_in_chromium_with_every_thumbnail_and_the_ledgers_totals(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    browser = chromium()
    assert browser
    make_calls(flux2, sandbox)
    result = flux2("gallery", "-o", "site/index.html")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    page = workdir / "site" / "index.html"
    assert result.out == f"{Path('site/index.html')}\n"

    dom = browse(page.as_uri() + "#all", "--dump-dom")

    # The page's own script ran, the hostile one did not.
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None
    attributes = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', body.group(1)))
    assert attributes.get("ready") == "1"
    assert "pwned" not in attributes
    assert "<title>flux2 gallery</title>" in dom
    assert "pwned</title>" not in dom

    # Every image made has a thumbnail, and every thumbnail decoded.
    with Ledger.open(default_path()) as ledger:
        api = sandbox.base_url.rstrip("/")
        rows = ledger.rows(api)
        days = ledger.totals(api, by="day")
    images = sum(len(row.paths) for row in rows)
    assert images == 6
    assert attributes.get("thumbs-ok") == str(images)
    assert "thumbs-broken" not in attributes
    states = re.findall(r'<img [^>]*data-state="([a-z]+)"', dom)
    assert states == ["ok"] * images
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == images
    assert all(0 < w <= 256 for w in widths)

    # The totals shown are the ledger's, for the page and for each day.
    shown = re.search(r'<p class="totals" id="page-totals"[^>]*>(.*?)</p>', dom)
    assert shown is not None
    line = text_of(shown.group(1))
    estimate = sum(t.estimate_micros for t in days)
    charged = sum(t.charged_micros for t in days)
    counted = sum(t.counted_micros for t in days)
    assert f"{len(rows)} calls" in line
    assert f"estimate {format_usd(estimate)}" in line
    assert f"charged {format_usd(charged)}" in line
    assert f"counts as {format_usd(counted)}" in line
    assert "1 failed (not billed)" in line
    assert "1 unknown (may have been billed)" in line
    for day in days:
        group = re.search(
            rf'<section class="group" data-key="{day.key}">.*?<p class="totals group-totals"[^>]*>(.*?)</p>',
            dom,
        )
        assert group is not None
        assert f"estimate {format_usd(day.estimate_micros)}" in text_of(group.group(1))
        assert f"counts as {format_usd(day.counted_micros)}" in text_of(group.group(1))

    # The hostile prompt is shown as written.
    prompts = [text_of(p) for p in re.findall(r'<p class="prompt">(.*?)</p>', dom)]
    assert HOSTILE in prompts
    # Failed and unknown calls are shown as such.
    assert "failed: no image (not billed)" in dom
    assert "outcome unknown: may have been billed" in dom

    # The full-size links lead to the files, relative to the page.
    hrefs = re.findall(r'<a href="([^"]+)"', dom)
    assert len(hrefs) == images
    for href in hrefs:
        assert not href.startswith(("/", "file:"))
        assert (page.parent / html.unescape(href)).resolve().is_file()

    shot = artifacts() / "gallery.png"
    browse(page.as_uri(), "--window-size=1280,900", "--hide-scrollbars", f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 900)
        colours = image.convert("RGB").resize((64, 45)).getcolors(64 * 45) or []
        assert len(colours) > 50  # thumbnails drawn, not a blank page


def test_a_lazy_thumbnail_gets_its_picture_when_scrolled_to(
    flux2: Flux2, workdir: Path, tmp_path: Path
) -> None:
    """Without #all only the first cards carry src; the rest load as they come into view."""
    from flux_cli import gallery

    for n in range(3):
        flux2("generate", f"tile {n}", "-m", "klein", "-q").assert_clean()
    with Ledger.open(default_path()) as ledger:
        rows = ledger.rows(flux2.base_url.rstrip("/") if flux2.base_url else "")
    text, stats = gallery.build_page(
        rows, page_path=workdir / "lazy.html", base_dir=workdir, eager=1
    )
    assert stats.images == 3
    assert text.count("<img src=") == 1
    assert text.count("<img data-src=") == 2
    (workdir / "lazy.html").write_text(text, encoding="utf-8")
    dom = browse((workdir / "lazy.html").as_uri(), "--window-size=1280,4000", "--dump-dom")
    assert re.findall(r'<img [^>]*data-state="([a-z]+)"', dom) == ["ok"] * 3
    assert "data-src=" not in dom
