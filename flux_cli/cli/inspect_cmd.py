"""`flux2 inspect FILE`: what an image made by flux2 carries (`flux_cli.inspection`).

Its format, size, recipe and credentials are the command's result, so they go to stdout; "no
flux2 metadata" is a note on stderr, and still exit 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_cli.cli.flags import PreviewProtocolOption

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.inspection import Inspection


def inspect_command(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A PNG, JPEG or WebP image.", show_default=False),
    ],
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object on stdout: path, format, width, height, recipe (null when "
            "the image carries none), sidecar and content_credentials.",
        ),
    ] = False,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="Also draw the image in the terminal (on stderr, only when it is a terminal).",
        ),
    ] = False,
    preview_protocol: PreviewProtocolOption = None,
) -> None:
    """Show what an image carries: flux2's recipe and its content credentials (C2PA).

    The recipe: prompt, model, seed, size, cost and generation id.

    Reads the recipe flux2 embeds in every image it writes (see --metadata), or the XMP sidecar
    next to an image whose content credentials it kept, e.g.
    flux2 inspect fox.png --json
    """
    from flux_cli.inspection import inspect_file, inspection_record

    app: App = ctx.obj
    inspection = inspect_file(file)
    for note in inspection.notes:
        app.info(note)
    if json_output:
        from flux_cli.metadata import json_text

        app.display(json_text(inspection_record(inspection)))
    else:
        app.show(_table(app, inspection))
    if preview or preview_protocol is not None:
        from flux_cli.cli.preview import show_preview

        show_preview(app, inspection.image_bytes)


def _table(app: App, inspection: Inspection) -> Any:
    from rich.text import Text

    from flux_cli.cli.tables import facts_table
    from flux_cli.inspection import facts
    from flux_cli.textsafe import strip_control

    table = facts_table(app.out, "")
    for fact in facts(inspection):
        if not fact.untrusted:
            table.add_row(fact.what, fact.value)
            continue
        # Untrusted: no markup, no control characters, nothing a terminal cannot encode.
        value = Text(strip_control(fact.value).encode("utf-8", "replace").decode("utf-8"))
        if fact.shortened:
            value.append(" … (shortened to fit in the file)", style="dim")
        table.add_row(fact.what, value)
    return table
