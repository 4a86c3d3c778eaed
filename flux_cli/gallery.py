"""The contact sheet (README.md): one self-contained HTML page from the ledger.

Each call of the ledger is a card: thumbnails of its images (small WebP or JPEG, embedded as
`data:` URIs so the page can be mailed or copied anywhere), each linked to the full-size file by
a path relative to the page; its prompt, model, size, seed, estimate, charge, status and time.
Cards are grouped by local day or by batch run, each group with its totals and the page with the
totals of everything on it; failed and unknown calls are shown as such, so the page is also a
spending report.

Things a careful reader of the page relies on:

- Hostile text stays text: every prompt, model id, error and file name goes through
  `html.escape`; hrefs are percent-encoded relative paths, so none can carry a scheme. A
  Content-Security-Policy allows only the page's own script and style (by hash) and `data:`
  images, so even text that escaped the escaping could not run or load anything.
- It works offline: no script, font or image from elsewhere; the JavaScript is a few lines for
  filtering and for loading thumbnails as they scroll into view.
- It opens without stalling: a browser decodes every `<img src="data:…">` as the page loads
  (`loading="lazy"` does not defer data URIs), so only the first cards carry `src`; the others
  keep their thumbnail in `data-src` and get `src` from an IntersectionObserver shortly before
  they scroll into view (all at once before printing, or with `#all` in the address).
- Thumbnails are cached by the sha256 of the image in the cache directory, so a nightly
  rebuild makes only the new ones. The ledger's recorded sha256 names the cache entry; the file
  is read only to make a missing thumbnail (and is then checked against that sha256).

Relative paths in the ledger are taken from `base_dir` (the current directory of the command).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import html
import io
import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote

from flux_cli import paths
from flux_cli.pricing import format_usd

if TYPE_CHECKING:
    from flux_cli.ledger import Row

__all__ = [
    "EAGER_THUMBNAILS",
    "GENERATOR",
    "THUMBNAIL_SIDE",
    "BuildStats",
    "Card",
    "Thumbnail",
    "ThumbnailCache",
    "Totals",
    "build_page",
    "is_gallery",
    "run_id",
    "write_page",
]

Grouping = Literal["day", "run"]

#: The longest side of a thumbnail, in pixels (shown at half that on a 2x screen).
THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 70
#: Cards near the top carry their thumbnail in `src`, so they show even without JavaScript.
EAGER_THUMBNAILS = 24
#: Marks a page this module wrote; `write_page` replaces such a page without being forced.
GENERATOR = "flux2 gallery"
_GENERATOR_META = f'<meta name="generator" content="{GENERATOR}">'


def run_id(row: Row) -> str | None:
    """The batch run a row belongs to, where the ledger records one."""
    value = getattr(row, "run_id", None)
    return None if value in (None, "") else str(value)


# -- thumbnails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thumbnail:
    """One image of a card: where the file is, and its thumbnail (None: why there is none)."""

    path: str  # as the ledger has it
    href: str | None  # percent-encoded, relative to the page; None when there is no file
    data_uri: str | None
    width: int = 0
    height: int = 0
    problem: str | None = None  # "file missing", "not decodable", "changed since it was made"
    origin: Literal["cached", "made", "missing", "undecodable", "none"] = "none"


class ThumbnailCache:
    """Thumbnails by sha256 in `directory` (default: the cache dir's `thumbnails/`)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or paths.cache_dir() / "thumbnails"
        self._webp: bool | None = None

    @property
    def kind(self) -> str:
        """webp where this Pillow writes it (a third of JPEG's size), else jpeg."""
        if self._webp is None:
            from PIL import features

            self._webp = bool(features.check("webp"))
        return "webp" if self._webp else "jpeg"

    def entry(self, sha256: str) -> Path:
        return self.directory / f"{sha256[:2]}" / f"{sha256}-{THUMBNAIL_SIDE}.{self.kind}"

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.entry(sha256).read_bytes()
        except OSError:
            return None

    def put(self, sha256: str, data: bytes) -> None:
        """Store atomically; a cache that cannot be written is no error (the page still gets
        the thumbnail, the next build makes it again)."""
        target = self.entry(sha256)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError:
            pass

    def make(self, source: bytes) -> bytes:
        """A thumbnail of image bytes; ValueError when they are no sane PNG, JPEG or WebP."""
        from PIL import Image, ImageOps

        from flux_cli.images import DEFAULT_MAX_PIXELS, MAX_SIDE, sniff_format

        fmt = sniff_format(source)
        if fmt is None:
            raise ValueError("not a PNG, JPEG or WebP image")
        try:
            with Image.open(io.BytesIO(source), formats=[fmt.upper()]) as image:
                width, height = image.size
                if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or (
                    width * height > DEFAULT_MAX_PIXELS
                ):
                    raise ValueError(f"{width}×{height} pixels is too large")
                if fmt == "jpeg":  # decode at 1/2, 1/4 or 1/8 scale: most of the work saved
                    image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
                rgba = upright.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba)
                out = io.BytesIO()
                if self.kind == "webp":
                    flat.convert("RGB").save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=2)
                else:
                    flat.convert("RGB").save(out, "JPEG", quality=THUMBNAIL_QUALITY)
                return out.getvalue()
        except ValueError:
            raise
        except Exception as exc:  # Pillow raises almost anything on a damaged file
            raise ValueError(f"not decodable ({type(exc).__name__})") from exc


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        return int(width), int(height)


# -- totals -------------------------------------------------------------------------------------


@dataclass
class Totals:
    """What a set of calls cost, as `flux2 history` counts it."""

    count: int = 0
    images: int = 0
    ok: int = 0
    failed: int = 0
    pending: int = 0
    unknown: int = 0
    estimate_micros: int = 0
    charged_micros: int = 0  # what the server reported
    counted_micros: int = 0  # what the calls count for against a budget

    def add(self, row: Row) -> None:
        self.count += 1
        self.images += sum(1 for p in row.paths if p and p != "-")
        self.ok += row.status == "ok"
        self.failed += row.status == "failed"
        self.pending += row.status == "pending"
        self.unknown += row.status == "unknown"
        self.estimate_micros += row.estimate_micros
        self.charged_micros += row.charged_micros or 0
        self.counted_micros += row.counted_micros

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Totals:
        totals = cls()
        for row in rows:
            totals.add(row)
        return totals

    def line(self) -> str:
        parts = [
            _plural(self.count, "call"),
            _plural(self.images, "image"),
            f"estimate {format_usd(self.estimate_micros)}",
            f"charged {format_usd(self.charged_micros)}",
        ]
        if self.failed:
            parts.append(f"{self.failed} failed (not billed)")
        unsettled = [
            (n, name) for n, name in ((self.pending, "pending"), (self.unknown, "unknown")) if n
        ]
        if unsettled:
            parts.append(
                " and ".join(f"{n} {name}" for n, name in unsettled) + " (may have been billed)"
            )
        parts.append(f"counts as {format_usd(self.counted_micros)}")
        return " · ".join(parts)

    def attributes(self) -> str:
        """The figures as data attributes, for scripts that read the page."""
        return (
            f'data-count="{self.count}" data-images="{self.images}" '
            f'data-estimate-micros="{self.estimate_micros}" '
            f'data-charged-micros="{self.charged_micros}" '
            f'data-counted-micros="{self.counted_micros}"'
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


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


_STYLE = """
:root{color-scheme:light dark;--bg:#f6f5f2;--fg:#1d1d1f;--muted:#6b6b70;--card:#fff;--line:#dddbd5;
--ok:#1f7a3a;--failed:#a33;--unknown:#a66a00;--pending:#555}
@media (prefers-color-scheme:dark){:root{--bg:#18181a;--fg:#ececec;--muted:#a0a0a8;--card:#242427;
--line:#38383c;--ok:#6fcf8a;--failed:#ff8a80;--unknown:#ffcc66;--pending:#bbb}}
*{box-sizing:border-box}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;background:var(--bg);color:var(--fg)}
header{position:sticky;top:0;z-index:1;background:var(--bg);border-bottom:1px solid var(--line);padding:12px 20px}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:16px;margin:24px 0 4px}
.totals{color:var(--muted);margin:0}
.filters{display:flex;gap:8px;margin-top:8px;flex-wrap:wrap}
.filters input,.filters select{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:6px;
background:var(--card);color:var(--fg)}
.filters input{flex:1;min-width:200px}
main{padding:0 20px 40px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden;margin:0;
display:flex;flex-direction:column}
.card.failed,.card.unknown,.card.pending{border-style:dashed}
.thumbs{display:flex;flex-wrap:wrap;background:#0001}
.thumbs a{flex:1 1 100%;display:block;aspect-ratio:1/1;overflow:hidden}
.thumbs img{width:100%;height:100%;object-fit:contain;display:block}
.thumbs img[data-state=broken],.none{display:flex;align-items:center;justify-content:center;
aspect-ratio:1/1;color:var(--muted);font-size:13px;text-align:center;padding:8px;width:100%}
figcaption{padding:8px 10px;display:flex;flex-direction:column;gap:4px}
.prompt{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;max-height:8.4em;overflow:auto}
.prompt.absent{color:var(--muted);font-style:italic}
dl{display:grid;grid-template-columns:auto 1fr;gap:0 8px;margin:0;color:var(--muted);font-size:12px}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
.status{font-weight:600}
.status.ok{color:var(--ok)}.status.failed{color:var(--failed)}
.status.unknown{color:var(--unknown)}.status.pending{color:var(--pending)}
.error{color:var(--failed);font-size:12px;margin:0;overflow-wrap:anywhere}
[hidden]{display:none!important}
footer{color:var(--muted);padding:0 20px 20px;font-size:12px}
"""

# Plain JavaScript, no framework. Filtering by text, status and model; thumbnails move from
# data-src to src near the viewport; each image records whether it decoded (data-state), so a
# broken one shows its alt text as a placeholder and a test can count them.
_SCRIPT = """
(function(){
"use strict";
var cards=Array.prototype.slice.call(document.querySelectorAll(".card"));
var groups=Array.prototype.slice.call(document.querySelectorAll("section.group"));
var q=document.getElementById("q"),st=document.getElementById("status"),md=document.getElementById("model");
function filter(){
  var text=q.value.trim().toLowerCase(),s=st.value,m=md.value;
  cards.forEach(function(c){
    var hit=(!s||c.dataset.status===s)&&(!m||c.dataset.model===m)&&
      (!text||c.dataset.search.indexOf(text)!==-1);
    c.hidden=!hit;
  });
  groups.forEach(function(g){g.hidden=!g.querySelector(".card:not([hidden])");});
}
[q,st,md].forEach(function(el){el.addEventListener("input",filter);});
function mark(img){
  var done=function(ok){
    img.dataset.state=ok?"ok":"broken";
    img.dataset.naturalWidth=String(img.naturalWidth);
    var n=document.body.dataset;n[ok?"thumbsOk":"thumbsBroken"]=String(Number(n[ok?"thumbsOk":"thumbsBroken"]||0)+1);
  };
  if(img.complete&&img.naturalWidth){done(true);return;}
  img.addEventListener("load",function(){done(img.naturalWidth>0);},{once:true});
  img.addEventListener("error",function(){done(false);},{once:true});
}
function show(img){if(img.dataset.src){img.src=img.dataset.src;delete img.dataset.src;}mark(img);}
var lazy=Array.prototype.slice.call(document.querySelectorAll("img[data-src]"));
Array.prototype.forEach.call(document.querySelectorAll("img:not([data-src])"),mark);
function all(){lazy.forEach(show);lazy=[];}
if(location.hash==="#all"||!("IntersectionObserver" in window)){all();}
else{
  var io=new IntersectionObserver(function(entries){
    entries.forEach(function(e){if(e.isIntersecting){io.unobserve(e.target);show(e.target);}});
  },{rootMargin:"1200px 0px"});
  lazy.forEach(function(img){io.observe(img);});
}
window.addEventListener("beforeprint",all);
window.addEventListener("hashchange",function(){if(location.hash==="#all"){all();}});
document.body.dataset.ready="1";
})();
"""


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; "
    f"style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _href(path: Path, page_dir: Path) -> str:
    try:
        relative = os.path.relpath(path, page_dir)
    except ValueError:  # another drive (Windows): only an absolute file URI can reach it
        return path.resolve().as_uri()
    return quote(relative.replace(os.sep, "/"), safe="/")


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


def _thumbnail(
    cache: ThumbnailCache,
    path_text: str,
    sha256: str | None,
    base_dir: Path,
    page_dir: Path,
    shared: Thumbnail | None = None,
) -> Thumbnail:
    """The thumbnail of one recorded image; `shared`: one already made for the same sha256."""
    if not path_text or path_text == "-":
        return Thumbnail(path=path_text, href=None, data_uri=None, problem="written to stdout")
    path = Path(path_text)
    if not path.is_absolute():
        path = base_dir / path
    href = _href(path, page_dir)
    if shared is not None and shared.data_uri is not None:
        problem = None if path.exists() else "file missing"
        return dataclasses.replace(
            shared, path=path_text, href=href, problem=problem, origin="cached"
        )
    data = cache.get(sha256) if sha256 else None
    problem = None
    origin: Literal["cached", "made"] = "cached"
    if data is not None:
        if not path.exists():
            problem = "file missing"
    else:
        try:
            source = path.read_bytes()
        except OSError:
            return Thumbnail(path_text, None, None, problem="file missing", origin="missing")
        actual = hashlib.sha256(source).hexdigest()
        if sha256 and actual != sha256:
            problem = "changed since it was made"
        try:
            data = cache.make(source)
        except ValueError as exc:
            return Thumbnail(path_text, href, None, problem=str(exc), origin="undecodable")
        cache.put(actual, data)
        origin = "made"
    width, height = _image_size(data)
    uri = f"data:image/{cache.kind};base64," + base64.b64encode(data).decode("ascii")
    return Thumbnail(path_text, href, uri, width, height, problem, origin)


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
            thumb = _thumbnail(cache, path, sha, base_dir, page_dir, shared)
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
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
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
    out.append(f"</main><footer>{_e(footer)}</footer><script>{_SCRIPT}</script></body></html>\n")
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
