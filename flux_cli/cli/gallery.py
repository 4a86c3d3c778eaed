"""`flux2 gallery`: an HTML contact sheet of what was made and spent (README.md).

The page is the command's result, but it is a file: its path goes to stdout (or, with `-o -`,
the HTML itself), the summary to stderr. A page flux2 wrote before is replaced (rebuilding it
every night is the point); any other file of that name is kept unless `--force`.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_cli.cli.flags import ModelFilterOption, RunFilterOption, SinceOption

if TYPE_CHECKING:
    from flux_cli.cli.context import App

DEFAULT_PAGE = "gallery.html"
_STATUSES = ("ok", "failed", "unknown", "pending")


def _complete_statuses(incomplete: str) -> list[str]:
    return [s for s in _STATUSES if s.startswith(incomplete)]


def gallery(
    ctx: typer.Context,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Where to write the page (- for stdout). Links to the images are relative to it.",
        ),
    ] = DEFAULT_PAGE,
    since: SinceOption = None,
    model: ModelFilterOption = None,
    run: RunFilterOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help="Only calls with this status: ok, failed, unknown, pending (repeat or comma-separate).",
            autocompletion=_complete_statuses,
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            "--by",
            metavar="day|run",
            help="Group the cards by local day or by batch run, each group with its totals.",
            autocompletion=lambda incomplete: [
                b for b in ("day", "run") if b.startswith(incomplete)
            ],
        ),
    ] = "day",
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace FILE even when it is not a page flux2 wrote."),
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Show the calls made with --sandbox instead of the current API's."
        ),
    ] = False,
) -> None:
    """Write a self-contained HTML page of past images: thumbnails, prompts, costs and totals.

    Works offline and can be mailed: thumbnails are embedded, full-size images linked by
    relative path. Relative paths in the ledger are taken from the current directory, e.g.
    cd renders && flux2 gallery -o index.html --since 7d
    """
    run_gallery(
        ctx.obj,
        output=output,
        since=since,
        model=model,
        run=run,
        statuses=status or [],
        by=by,
        force=force,
        sandbox=sandbox,
    )


def run_gallery(
    app: App,
    *,
    output: str,
    since: str | None,
    model: str | None,
    run: str | None,
    statuses: list[str],
    by: str,
    force: bool,
    sandbox: bool,
) -> None:
    from datetime import datetime

    from flux_cli import gallery as gallery_module
    from flux_cli import ledger as ledger_module
    from flux_cli.embedded_catalog import resolve_model_id
    from flux_cli.endpoints import SANDBOX, current_api, describe
    from flux_cli.errors import OutputError, UsageError

    if by not in ("day", "run"):
        raise UsageError(f"--by must be day or run, got {by!r}")
    wanted = [s.strip().lower() for item in statuses for s in item.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in _STATUSES]
    if unknown:
        raise UsageError(
            f"--status {unknown[0]!r} is not a status", hint=f"use {', '.join(_STATUSES)}"
        )
    now = datetime.now(UTC)
    since_at = ledger_module.parse_since(since, now) if since is not None else None
    model_id = resolve_model_id(model) if model is not None else None
    label = SANDBOX if sandbox else current_api()[0]

    to_stdout = output == "-"
    page = Path.cwd() / DEFAULT_PAGE if to_stdout else Path(output).expanduser()
    if not to_stdout:
        if page.is_dir():
            page = page / DEFAULT_PAGE
        if page.exists() and not force and not gallery_module.is_gallery(page):
            raise OutputError(
                f"{page} exists and is not a page flux2 wrote; nothing was written",
                hint="choose another name with -o, or replace it with --force",
            )

    path = ledger_module.default_path()
    rows: list[ledger_module.Row] = []
    if path.exists():  # a read-only look creates nothing
        with ledger_module.Ledger.open(path) as ledger:
            rows = ledger.rows(
                label,
                since=since_at,
                model=model_id,
                statuses=tuple(dict.fromkeys(wanted)) or None,  # type: ignore[arg-type]
            )
    if run is not None:
        if rows and not any(gallery_module.run_id(row) for row in rows):
            app.info("no call here belongs to a batch run: this ledger records no run ids")
        rows = [row for row in rows if gallery_module.run_id(row) == run]
    if not rows:
        app.info(f"no calls match for {describe(label)}; the page says so")

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
    html, stats = gallery_module.build_page(
        rows,
        page_path=page,
        by="run" if by == "run" else "day",
        subtitle=" ".join(part for part in (describe(label), filters) if part),
    )
    if to_stdout:
        app.stdout.write(html)
        app.stdout.flush()
    else:
        try:
            gallery_module.write_page(page, html)
        except OSError as exc:
            raise OutputError(
                f"cannot write {page}: {exc.strerror or type(exc).__name__}"
            ) from None
    made = f"{stats.thumbnails_made} thumbnails made, {stats.thumbnails_cached} from the cache"
    trouble = [
        f"{n} {what}"
        for n, what in ((stats.missing, "files missing"), (stats.undecodable, "not decodable"))
        if n
    ]
    app.info(f"gallery: {stats.totals.line()} ({', '.join([made, *trouble])})")
    if not to_stdout:
        app.display(str(page))
