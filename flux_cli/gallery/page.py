"""The gallery page: a card per call, grouped by local day or by batch run, each group with its
totals, written atomically."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from flux_cli.gallery.assets import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from flux_cli.gallery.thumbnails import Thumbnail, ThumbnailCache, thumbnail
from flux_cli.gallery.totals import Totals
from flux_cli.pricing import format_usd

if TYPE_CHECKING:
    from flux_cli.ledger import Row

Grouping = Literal["day", "run"]

#: Cards near the top carry their thumbnail in `src`, so they show even without JavaScript.
EAGER_THUMBNAILS = 24
#: Marks a page this module wrote; `write_page` replaces such a page without being forced.
GENERATOR = "flux2 gallery"
_GENERATOR_META = f'<meta name="generator" content="{GENERATOR}">'


def run_id(row: Row) -> str | None:
    """The batch run a row belongs to, where the ledger records one."""
    value = getattr(row, "run_id", None)
    return None if value in (None, "") else str(value)


# -- the page -----------------------------------------------------------------------------------


@dataclass
class Card:
    row: Row
    thumbnails: list[Thumbnail] = field(default_factory=list)


@dataclass
class BuildStats:
    calls: int = 0
    images: int = 0
    thumbnails_made: int = 0
    thumbnails_cached: int = 0
    missing: int = 0
    undecodable: int = 0
    totals: Totals = field(default_factory=Totals)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _model_html(model: str) -> str:
    """`pro` for a known model (its id on hover), else the id."""
    from flux_cli.embedded_catalog import ALIASES

    alias = next((name for name, known in ALIASES.items() if known == model), None)
    return _e(model) if alias is None else f'<span title="{_e(model)}">{_e(alias)}</span>'


def _local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _card_html(card: Card, eager_left: list[int]) -> str:
    row = card.row
    status = row.status
    pieces: list[str] = []
    search = " ".join(
        part for part in (row.prompt or "", row.model, status, " ".join(row.paths)) if part
    ).lower()
    pieces.append(
        f'<figure class="card {_e(status)}" data-status="{_e(status)}" '
        f'data-model="{_e(row.model)}" data-search="{_e(search)}" data-id="{row.id}">'
    )
    pieces.append('<div class="thumbs">')
    if not card.thumbnails:
        what = {
            "failed": "failed: no image (not billed)",
            "unknown": "outcome unknown: may have been billed",
            "pending": "pending: no answer yet",
        }.get(status, "no image file recorded")
        pieces.append(f'<div class="none">{_e(what)}</div>')
    for thumb in card.thumbnails:
        alt = (row.prompt or Path(thumb.path).name)[:200]
        if thumb.data_uri is not None:
            source = "src" if eager_left[0] > 0 else "data-src"
            eager_left[0] -= 1
            img = (
                f'<img {source}="{thumb.data_uri}" alt="{_e(alt)}" width="{thumb.width}" '
                f'height="{thumb.height}" decoding="async">'
            )
        else:
            img = f'<div class="none">{_e(thumb.problem or "no thumbnail")}</div>'
        if thumb.href is not None:
            pieces.append(f'<a href="{_e(thumb.href)}" title="{_e(thumb.path)}">{img}</a>')
        else:
            pieces.append(img)
    pieces.append("</div><figcaption>")
    if row.prompt:
        pieces.append(f'<p class="prompt">{_e(row.prompt)}</p>')
    else:
        pieces.append('<p class="prompt absent">prompt not stored</p>')
    size = f"{row.width}×{row.height}" if row.width and row.height else "?"
    charged = "not reported" if row.charged_micros is None else format_usd(row.charged_micros)
    fields = [
        ("status", f'<span class="status {_e(status)}">{_e(status)}</span>'),
        ("model", _model_html(row.model)),
        ("size", _e(size)),
        ("seed", _e(row.seed) if row.seed is not None else "?"),
        ("estimate", _e(format_usd(row.estimate_micros))),
        ("charged", _e(charged)),
        (
            "time",
            f'<time datetime="{_e(row.created_at.isoformat())}">{_e(_local_time(row.created_at))}</time>',
        ),
    ]
    batch = run_id(row)
    if batch is not None:
        fields.append(("run", _e(batch)))
    problems = [t for t in card.thumbnails if t.problem is not None]
    for thumb in problems:
        fields.append(("file", f"{_e(thumb.path)}: {_e(thumb.problem)}"))
    pieces.append("<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in fields) + "</dl>")
    if row.error and status != "ok":
        pieces.append(f'<p class="error">{_e(row.error)}</p>')
    pieces.append("</figcaption></figure>")
    return "".join(pieces)


def build_page(
    rows: Sequence[Row],
    *,
    page_path: Path,
    cache: ThumbnailCache | None = None,
    by: Grouping = "day",
    title: str = "flux2 gallery",
    subtitle: str = "",
    base_dir: Path | None = None,
    generated_at: datetime | None = None,
    workers: int | None = None,
    eager: int = EAGER_THUMBNAILS,
) -> tuple[str, BuildStats]:
    """The HTML of the page for `rows` (newest first, as the ledger gives them) and what it took.

    Thumbnails are made `workers` at a time (Pillow decodes and resizes outside the GIL)."""
    from flux_cli.ledger import local_day

    cache = cache or ThumbnailCache()
    base_dir = base_dir or Path.cwd()
    page_dir = page_path.absolute().parent
    stats = BuildStats(calls=len(rows))
    # (row index, position in the row, path, sha256)
    jobs = [
        (index, position, path, row.sha256s[position] if position < len(row.sha256s) else None)
        for index, row in enumerate(rows)
        for position, path in enumerate(row.paths)
    ]
    # Jobs for the same image (one file recorded twice, or copies) share one thumbnail: the
    # first makes it, the others take it (two threads must not make the same one at once).
    same: dict[str, list[tuple[int, int, str, str | None]]] = {}
    for job in jobs:
        same.setdefault(job[3] or f"path:{job[2]}", []).append(job)

    def one(group: list[tuple[int, int, str, str | None]]) -> list[tuple[int, int, Thumbnail]]:
        results: list[tuple[int, int, Thumbnail]] = []
        shared: Thumbnail | None = None
        for index, position, path, sha in group:
            thumb = thumbnail(cache, path, sha, base_dir, page_dir, shared)
            if thumb.data_uri is not None and shared is None:
                shared = thumb
            results.append((index, position, thumb))
        return results

    placed: dict[int, dict[int, Thumbnail]] = {}
    cache.kind  # noqa: B018 - decided once, before the threads ask
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for results in pool.map(one, same.values()):
            for index, position, thumb in results:
                placed.setdefault(index, {})[position] = thumb
                stats.images += thumb.data_uri is not None
                stats.thumbnails_made += thumb.origin == "made"
                stats.thumbnails_cached += thumb.origin == "cached"
                stats.missing += thumb.problem == "file missing"
                stats.undecodable += thumb.origin == "undecodable"
    made = {index: [by[k] for k in sorted(by)] for index, by in placed.items()}

    groups: dict[str, list[Card]] = {}
    for index, row in enumerate(rows):
        if by == "run":
            key = run_id(row) or f"{local_day(row.created_at)}, single calls"
        else:
            key = local_day(row.created_at)
        groups.setdefault(key, []).append(Card(row, made.get(index, [])))
    page_totals = Totals.of(rows)
    stats.totals = page_totals

    models = sorted({row.model for row in rows})
    out: list[str] = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        _GENERATOR_META,
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{_e(title)}</h1>",
        f'<p class="totals" id="page-totals" {page_totals.attributes()}>{_e(page_totals.line())}</p>',
        '<div class="filters"><input id="q" type="search" placeholder="filter by prompt, model or file" '
        'aria-label="filter">',
        '<select id="status" aria-label="status"><option value="">every status</option>'
        + "".join(
            f'<option value="{s}">{s}</option>' for s in ("ok", "failed", "unknown", "pending")
        )
        + "</select>",
        '<select id="model" aria-label="model"><option value="">every model</option>'
        + "".join(f'<option value="{_e(m)}">{_e(m)}</option>' for m in models)
        + "</select></div></header><main>",
    ]
    if not rows:
        out.append("<p>No calls match.</p>")
    eager_left = [eager]
    for key, cards in groups.items():
        totals = Totals.of(card.row for card in cards)
        out.append(
            f'<section class="group" data-key="{_e(key)}"><h2>{_e(key)}</h2>'
            f'<p class="totals group-totals" {totals.attributes()}>{_e(totals.line())}</p>'
            '<div class="grid">'
        )
        out.extend(_card_html(card, eager_left) for card in cards)
        out.append("</div></section>")
    when = generated_at or datetime.now().astimezone()
    footer = f"made by flux2 on {_local_time(when)}" + (f" · {subtitle}" if subtitle else "")
    out.append(f"</main><footer>{_e(footer)}</footer><script>{SCRIPT}</script></body></html>\n")
    return "".join(out), stats


def is_gallery(path: Path) -> bool:
    """Whether `path` is a page this module wrote (so a rebuild may replace it)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return _GENERATOR_META.encode("ascii") in head


def write_page(path: Path, text: str) -> None:
    """Write atomically: a reader (a web server, a browser reloading) never sees half a page."""
    directory = path.absolute().parent
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
