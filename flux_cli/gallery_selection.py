"""What one `flux2 gallery` page shows and where it goes: its filters checked, the calls read from
the ledger, the page's path (a page flux2 wrote before is replaced; any other file is kept unless
forced), the page built and written. The HTML itself is `flux_cli.gallery`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from flux_cli.gallery import BuildStats
    from flux_cli.ledger import Row

DEFAULT_PAGE = "gallery.html"
STATUSES = ("ok", "failed", "unknown", "pending")  # in the order help and hints list them
GROUPINGS = ("day", "run")


@dataclass
class Gallery:
    """A built page: its HTML, where it goes (None: stdout), what building it took, and notes
    for the person who asked."""

    html: str
    page: Path | None
    stats: BuildStats
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """`gallery: 3 calls, … (2 thumbnails made, 1 from the cache, 1 files missing)`."""
        stats = self.stats
        made = f"{stats.thumbnails_made} thumbnails made, {stats.thumbnails_cached} from the cache"
        trouble = [
            f"{n} {what}"
            for n, what in ((stats.missing, "files missing"), (stats.undecodable, "not decodable"))
            if n
        ]
        return f"gallery: {stats.totals.line()} ({', '.join([made, *trouble])})"

    def write(self) -> None:
        """Write the page to its file (atomically); OutputError when it cannot be."""
        from flux_cli.errors import OutputError
        from flux_cli.gallery import write_page

        assert self.page is not None
        try:
            write_page(self.page, self.html)
        except OSError as exc:
            raise OutputError(
                f"cannot write {self.page}: {exc.strerror or type(exc).__name__}"
            ) from None


def wanted_statuses(values: Sequence[str]) -> list[str]:
    """`--status`, repeated or comma-separated, lower-cased; UsageError for one that is not a
    status."""
    from flux_cli.errors import UsageError

    wanted = [s.strip().lower() for item in values for s in item.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise UsageError(
            f"--status {unknown[0]!r} is not a status", hint=f"use {', '.join(STATUSES)}"
        )
    return wanted


def page_path(output: str, *, force: bool) -> Path | None:
    """Where the page goes: None for `-` (stdout), `gallery.html` inside a directory. OutputError
    when it would replace a file flux2 did not write and `force` is not given."""
    from flux_cli.errors import OutputError
    from flux_cli.gallery import is_gallery

    if output == "-":
        return None
    page = Path(output).expanduser()
    if page.is_dir():
        page = page / DEFAULT_PAGE
    if page.exists() and not force and not is_gallery(page):
        raise OutputError(
            f"{page} exists and is not a page flux2 wrote; nothing was written",
            hint="choose another name with -o, or replace it with --force",
        )
    return page


def make_gallery(
    *,
    sandbox: bool,
    output: str,
    since: str | None,
    model: str | None,
    run: str | None,
    statuses: Sequence[str],
    by: str,
    force: bool,
) -> Gallery:
    """The page of the calls made on the current API (or with `--sandbox`) that match the
    filters, as given on the command line; not written yet (`Gallery.write`)."""
    from flux_cli import gallery, ledger
    from flux_cli.embedded_catalog import resolve_model_id
    from flux_cli.endpoints import SANDBOX, current_api, describe
    from flux_cli.errors import UsageError

    if by not in GROUPINGS:
        raise UsageError(f"--by must be day or run, got {by!r}")
    wanted = wanted_statuses(statuses)
    since_at = ledger.parse_since(since, datetime.now(UTC)) if since is not None else None
    model_id = resolve_model_id(model) if model is not None else None
    label = SANDBOX if sandbox else current_api()[0]
    page = page_path(output, force=force)

    notes: list[str] = []
    path = ledger.default_path()
    rows: list[Row] = []
    if path.exists():  # a read-only look creates nothing
        with ledger.Ledger.open(path) as opened:
            rows = opened.rows(
                label,
                since=since_at,
                model=model_id,
                statuses=tuple(dict.fromkeys(wanted)) or None,  # type: ignore[arg-type]
            )
    if run is not None:
        if rows and not any(gallery.run_id(row) for row in rows):
            notes.append("no call here belongs to a batch run: this ledger records no run ids")
        rows = [row for row in rows if gallery.run_id(row) == run]
    if not rows:
        notes.append(f"no calls match for {describe(label)}; the page says so")

    filters = " ".join(
        f"{flag} {value}"
        for flag, value in (
            ("--since", since),
            ("--model", model),
            ("--run", run),
            ("--status", ",".join(wanted)),
        )
        if value
    )
    html, stats = gallery.build_page(
        rows,
        page_path=Path.cwd() / DEFAULT_PAGE if page is None else page,
        by="run" if by == "run" else "day",
        subtitle=" ".join(part for part in (describe(label), filters) if part),
    )
    return Gallery(html, page, stats, notes)
