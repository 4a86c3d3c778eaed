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

from flux_cli.gallery.page import (
    EAGER_THUMBNAILS,
    GENERATOR,
    BuildStats,
    Card,
    build_page,
    is_gallery,
    run_id,
    write_page,
)
from flux_cli.gallery.thumbnails import THUMBNAIL_SIDE, Thumbnail, ThumbnailCache
from flux_cli.gallery.totals import Totals

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
