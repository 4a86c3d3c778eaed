"""`flux2 gallery`: an HTML contact sheet of what was made and spent (README.md).

The page is the command's result, but it is a file: its path goes to stdout (or, with `-o -`,
the HTML itself), the summary to stderr. A page flux2 wrote before is replaced (rebuilding it
every night is the point); any other file of that name is kept unless `--force`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from flux_cli.cli.flags import (
    LedgerSandboxOption,
    ModelFilterOption,
    RunFilterOption,
    SinceOption,
)
from flux_cli.gallery_selection import DEFAULT_PAGE, GROUPINGS, STATUSES

if TYPE_CHECKING:
    from flux_cli.cli.context import App


def _complete_statuses(incomplete: str) -> list[str]:
    return [s for s in STATUSES if s.startswith(incomplete)]


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
            autocompletion=lambda incomplete: [b for b in GROUPINGS if b.startswith(incomplete)],
        ),
    ] = "day",
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace FILE even when it is not a page flux2 wrote."),
    ] = False,
    sandbox: LedgerSandboxOption = False,
) -> None:
    """Write a self-contained HTML page of past images: thumbnails, prompts, costs and totals.

    Works offline and can be mailed: thumbnails are embedded, full-size images linked by
    relative path. Relative paths in the ledger are taken from the current directory, e.g.
    cd renders && flux2 gallery -o index.html --since 7d
    """
    from flux_cli.gallery_selection import make_gallery

    gallery = make_gallery(
        sandbox=sandbox,
        output=output,
        since=since,
        model=model,
        run=run,
        statuses=status or [],
        by=by,
        force=force,
    )
    app: App = ctx.obj
    for note in gallery.notes:
        app.info(note)
    if gallery.page is None:
        app.stdout.write(gallery.html)
        app.stdout.flush()
    else:
        gallery.write()
    app.info(gallery.summary())
    if gallery.page is not None:
        app.display(str(gallery.page))
