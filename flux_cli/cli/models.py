"""`flux2 models`: the image models, what they accept and what they cost (README "flux2 models").

The catalog routes are public: no key is needed or sent. The catalog comes from the cache while
it is fresh, else from the API, else (offline) the embedded FLUX.2 table, and the output says
which. Warnings and per-model notes go to stderr; the table or JSON Lines are the result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.openrouter.catalog import Catalog, CatalogEntry


def models(
    ctx: typer.Context,
    refresh: Annotated[
        bool,
        typer.Option("--refresh", help="Fetch the catalog now, even if the cached copy is fresh."),
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per model on stdout (JSON Lines).")
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Ask a built-in local stand-in for OpenRouter instead (the recorded catalog).",
        ),
    ] = False,
) -> None:
    """List the image models with their aspect ratios, resolutions, reference limits, formats and prices.

    Prices are per megapixel (a token price counted at 4,096 tokens per megapixel) or per image,
    with where they came from and how old they are; no key needed.
    """
    from flux_cli.model_list import entry_record, listed_catalog, ordered

    app: App = ctx.obj
    catalog, label = listed_catalog(sandbox=sandbox, refresh=refresh)
    for warning in catalog.warnings:
        app.warn(warning)
    for note in catalog.notes:
        app.info(f"note: {note}")
    entries = ordered(catalog)
    for entry in entries:
        if entry.note:
            app.info(f"note: {entry.alias or entry.id}: {entry.note}")
    if json_output:
        for entry in entries:
            app.display_json(entry_record(entry, catalog))
        return
    app.show(_table(app, catalog, entries, label))


def _table(app: App, catalog: Catalog, entries: list[CatalogEntry], label: str) -> Any:
    from rich.text import Text

    from flux_cli.cli.tables import cell_lines, fit_columns, narrow, styled_table
    from flux_cli.model_list import costs, price_source, source_line, takes
    from flux_cli.textsafe import strip_control

    table = styled_table(app.out, "Image models · prices per megapixel unless marked per image")
    table.caption = source_line(catalog, label)
    table.caption_justify = "left"
    table.add_column("model", no_wrap=True)  # ids whole: they are what -m takes
    table.add_column("takes", overflow="fold", max_width=narrow(app.out, 30))
    table.add_column("price", no_wrap=True)
    table.add_column("source", overflow="fold", max_width=narrow(app.out, 12))
    for entry in entries:
        name = strip_control(entry.id)
        if entry.alias:
            name = cell_lines(app.out, entry.alias, name)
        table.add_row(
            Text(name),
            Text(cell_lines(app.out, *takes(entry))),
            cell_lines(app.out, *costs(entry)),
            price_source(catalog, entry),
        )
    fit_columns(app.out, table, ("source", "takes"), wrapped_min=8)
    return table
