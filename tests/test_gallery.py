"""The contact sheet without a browser: escaping, links, the thumbnail cache, totals, the command."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from flux_cli import gallery
from flux_cli.cli.registry import app
from flux_cli.ledger import Budgets, Ledger, NewEntry, Row, Status, default_path
from flux_cli.pricing import format_usd

API = "sandbox"


def jpeg(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def record(
    ledger: Ledger,
    *,
    prompt: str | None,
    status: Status = "ok",
    files: tuple[Path, ...] = (),
    model: str = "black-forest-labs/flux.2-pro",
    estimate: int = 30_000,
    charged: int | None = 30_000,
    error: str | None = None,
    when: datetime | None = None,
) -> int:
    row_id = ledger.reserve(
        NewEntry(
            api=API,
            command="generate",
            model=model,
            estimate_micros=estimate,
            seed=7,
            width=640,
            height=480,
            prompt=prompt,
        ),
        Budgets(),
        now=when,
    )
    ledger.update(
        row_id,
        status=status,
        charged_micros=charged,
        paths=[str(f) for f in files],
        sha256s=[hashlib.sha256(f.read_bytes()).hexdigest() for f in files],
        error=error,
        now=when,
    )
    return row_id


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "renders"
    folder.mkdir()
    return folder


def fill(images: Path) -> list[Row]:
    red = images / "red fox #1?.jpg"  # a name that needs percent-encoding
    red.write_bytes(jpeg((200, 30, 30)))
    blue = images / "blue.jpg"
    blue.write_bytes(jpeg((30, 30, 200), (480, 640)))
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with Ledger.open(default_path()) as ledger:
        record(ledger, prompt="a red fox", files=(red,), when=yesterday)
        record(ledger, prompt="<script>alert('x')</script> & \"quotes\"", files=(blue,))
        record(ledger, prompt="refused", status="failed", charged=None, error="400 bad ratio")
        record(ledger, prompt="lost", status="unknown", charged=None, error="timeout")
        record(ledger, prompt=None, files=(blue,), model="black-forest-labs/flux.2-klein-4b")
        return ledger.rows(API)


def test_hostile_text_is_escaped_and_only_the_pages_own_script_is_allowed(images: Path) -> None:
    rows = fill(images)
    text, _ = gallery.build_page(rows, page_path=images / "index.html", base_dir=images)
    assert "<script>alert" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert text.count("<script>") == 1
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp is not None
    assert "default-src 'none'" in csp.group(1)
    assert "script-src 'sha256-" in csp.group(1)
    assert "unsafe-inline" not in csp.group(1)
    assert "http://" not in text
    assert "https://" not in text  # offline: nothing from elsewhere


def test_links_are_relative_to_the_page_and_percent_encoded(images: Path) -> None:
    rows = fill(images)
    page = images / "site" / "index.html"
    text, _ = gallery.build_page(rows, page_path=page, base_dir=images)
    hrefs = re.findall(r'<a href="([^"]+)"', text)
    assert "../red%20fox%20%231%3F.jpg" in hrefs
    assert "../blue.jpg" in hrefs


def test_failed_and_unknown_calls_are_shown_as_such_with_their_errors(images: Path) -> None:
    text, stats = gallery.build_page(fill(images), page_path=images / "i.html", base_dir=images)
    assert "failed: no image (not billed)" in text
    assert "outcome unknown: may have been billed" in text
    assert "400 bad ratio" in text
    assert "prompt not stored" in text
    assert stats.images == 3


def test_totals_are_the_ledgers_per_day_and_for_the_page(images: Path) -> None:
    rows = fill(images)
    text, stats = gallery.build_page(rows, page_path=images / "i.html", base_dir=images)
    with Ledger.open(default_path()) as ledger:
        days = ledger.totals(API, by="day")
    assert len(days) == 2
    for day in days:
        section = re.search(
            rf'data-key="{day.key}"><h2>[^<]*</h2><p class="totals group-totals" '
            r'data-count="(\d+)" data-images="\d+" data-estimate-micros="(\d+)" '
            r'data-charged-micros="(\d+)" data-counted-micros="(\d+)">([^<]*)</p>',
            text,
        )
        assert section is not None
        assert tuple(int(section.group(i)) for i in range(1, 5)) == (
            day.count,
            day.estimate_micros,
            day.charged_micros,
            day.counted_micros,
        )
        assert f"counts as {format_usd(day.counted_micros)}" in section.group(5)
    assert stats.totals.counted_micros == sum(d.counted_micros for d in days)
    assert stats.totals.estimate_micros == sum(d.estimate_micros for d in days)


def test_thumbnails_are_cached_by_sha256_and_a_rebuild_makes_only_new_ones(
    images: Path, tmp_path: Path
) -> None:
    rows = fill(images)
    cache = gallery.ThumbnailCache(tmp_path / "thumbs")
    _, first = gallery.build_page(rows, page_path=images / "i.html", cache=cache, base_dir=images)
    assert (first.thumbnails_made, first.thumbnails_cached) == (2, 1)  # blue.jpg twice
    _, second = gallery.build_page(rows, page_path=images / "i.html", cache=cache, base_dir=images)
    assert (second.thumbnails_made, second.thumbnails_cached) == (0, 3)
    blue = hashlib.sha256((images / "blue.jpg").read_bytes()).hexdigest()
    thumb = cache.entry(blue)
    with Image.open(thumb) as image:
        assert image.size == (192, 256)  # the longest side is THUMBNAIL_SIDE, shape kept
        assert image.convert("RGB").getpixel((96, 128)) == pytest.approx((30, 30, 200), abs=12)
    thumb.unlink()
    _, third = gallery.build_page(rows, page_path=images / "i.html", cache=cache, base_dir=images)
    assert third.thumbnails_made == 1


def test_missing_changed_and_damaged_files_are_said_not_fatal(images: Path, tmp_path: Path) -> None:
    rows = fill(images)
    (images / "red fox #1?.jpg").unlink()
    (images / "blue.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    text, stats = gallery.build_page(
        rows,
        page_path=images / "i.html",
        cache=gallery.ThumbnailCache(tmp_path / "t"),
        base_dir=images,
    )
    assert stats.missing == 1
    assert stats.undecodable == 2
    assert stats.images == 0
    assert "file missing" in text
    assert "not a PNG, JPEG or WebP image" in text or "not decodable" in text


def test_cards_group_by_batch_run_where_the_ledger_records_one(images: Path) -> None:
    rows = fill(images)
    tagged = [
        dataclasses.replace(r, run_id=run)
        for r, run in zip(rows, ("night-2", "night-2", "night-1", None, None), strict=True)
    ]
    text, _ = gallery.build_page(tagged, page_path=images / "i.html", base_dir=images, by="run")
    keys = re.findall(r'<section class="group" data-key="([^"]+)"', text)
    assert keys[:2] == ["night-2", "night-1"]
    assert all(key.endswith("single calls") for key in keys[2:])
    assert gallery.run_id(tagged[0]) == "night-2"
    assert gallery.run_id(rows[3]) is None  # a single call, not a batch run


# -- the command --------------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["gallery", "--sandbox", *args])
    return result.exit_code, result.stdout, result.stderr


def test_the_command_writes_the_page_and_prints_its_path(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(images)
    monkeypatch.chdir(images)
    code, out, err = invoke("-o", "index.html")
    assert code == 0, err
    assert out == "index.html\n"
    assert "gallery: 5 calls · 3 images" in err
    assert gallery.is_gallery(images / "index.html")
    code, out, err = invoke("-o", "index.html")  # its own page: rebuilt without --force
    assert code == 0, err
    assert "0 thumbnails made, 3 from the cache" in err


def test_the_command_never_replaces_another_file_without_force(
    images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(images)
    monkeypatch.chdir(images)
    (images / "index.html").write_text("<p>my own page</p>")
    code, out, err = invoke("-o", "index.html")
    assert code == 11
    assert out == ""
    assert "exists and is not a page flux2 wrote" in err
    assert (images / "index.html").read_text() == "<p>my own page</p>"
    code, out, _ = invoke("-o", "index.html", "--force")
    assert code == 0
    assert gallery.is_gallery(images / "index.html")


def test_filters_pick_the_calls(images: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(images)
    monkeypatch.chdir(images)
    code, out, err = invoke("-o", "-", "--status", "failed,unknown")
    assert code == 0, err
    assert out.startswith("<!DOCTYPE html>")
    assert 'data-count="2"' in out
    code, out, err = invoke("-o", "-", "-m", "klein", "--since", "12h")
    assert 'id="page-totals" data-count="1"' in out
    code, out, err = invoke("-o", "-", "--run", "night-1")
    assert 'id="page-totals" data-count="0"' in out
    assert "no calls match" in err
    code, _, err = invoke("-o", "-", "--status", "done")
    assert code == 2
    assert "'done' is not a status" in err
