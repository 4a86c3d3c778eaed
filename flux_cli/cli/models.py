"""`flux2 models`: the image models, what they accept and what they cost (README "flux2 models").

The catalog routes are public: no key is needed or sent. The catalog comes from the cache while
it is fresh, else from the API, else (offline) the embedded FLUX.2 table, and the output says
which. Warnings and per-model notes go to stderr; the table or JSON Lines are the result.
"""

from __future__ import annotations

from datetime import UTC
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
    run_models(ctx.obj, refresh=refresh, json_output=json_output, sandbox=sandbox)


def run_models(app: App, *, refresh: bool, json_output: bool, sandbox: bool) -> None:
    from flux_cli.endpoints import SANDBOX, current_api

    if sandbox:
        catalog = _sandbox_catalog()
        label = SANDBOX
    else:
        from flux_cli.openrouter.catalog import load_catalog

        label, base_url = current_api()
        catalog = load_catalog(base_url, refresh=refresh)
    for warning in catalog.warnings:
        app.warn(warning)
    for note in catalog.notes:
        app.info(f"note: {note}")
    entries = ordered(catalog)
    for entry in entries:
        if entry.note:
            app.info(f"note: {entry.alias or entry.id}: {entry.note}")
    if json_output:
        import json

        for entry in entries:
            app.display(json.dumps(entry_record(entry, catalog), ensure_ascii=False))
        return
    table = _table(app, catalog, entries, label)
    try:
        app.out.print(table)
    except BrokenPipeError:
        app.stdout_closed = True


def _sandbox_catalog() -> Catalog:
    """The built-in sandbox's catalog, read from its own answers; not cached."""
    from flux_cli.openrouter.catalog import sandbox_catalog

    return sandbox_catalog()


def ordered(catalog: Catalog) -> list[CatalogEntry]:
    """The FLUX.2 aliases first (pro, max, flex, klein), then every other model by id."""
    from flux_cli.embedded_catalog import ALIASES

    first = [catalog.entries[i] for i in ALIASES.values() if i in catalog.entries]
    rest = sorted(
        (e for i, e in catalog.entries.items() if i not in ALIASES.values()), key=lambda e: e.id
    )
    return first + rest


def _usd(micros: int) -> float:
    from flux_cli.pricing import micros_to_usd

    return float(micros_to_usd(micros))


def _age_seconds(catalog: Catalog, entry: CatalogEntry) -> int | None:
    from datetime import datetime

    if entry.price_source != "live":
        return None
    fetched = entry.fetched_at or catalog.fetched_at
    if fetched is None:
        return None
    return max(0, int((datetime.now(UTC) - fetched).total_seconds()))


def entry_record(entry: CatalogEntry, catalog: Catalog) -> dict[str, Any]:
    price = entry.price
    return {
        "id": entry.id,
        "alias": entry.alias,
        "name": entry.name,
        "provider": entry.provider,
        "aspect_ratios": list(entry.aspect_ratios),
        "resolutions": list(entry.resolutions),
        "output_formats": list(entry.output_formats),
        "max_references": entry.max_references,
        "min_references": entry.min_references,
        "seed": entry.takes_seed,
        "price_unit": price.unit if price else None,
        "prompt_token_usd": _usd(price.prompt_token) if price and price.prompt_token else None,
        "passthrough": list(entry.passthrough),
        "first_mp_usd": _usd(price.first_output_mp) if price else None,
        "extra_mp_usd": _usd(price.extra_output_mp) if price else None,
        "reference_mp_usd": _usd(price.input_mp) if price else None,
        "price_source": entry.price_source,
        "price_age_s": _age_seconds(catalog, entry),
        "catalog_source": catalog.source,
        "fetched_at": entry.fetched_at.isoformat() if entry.fetched_at else None,
        "note": entry.note,
    }


def age_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def _source_line(catalog: Catalog, label: str) -> str:
    from flux_cli.endpoints import SANDBOX, describe

    where = "an in-process sandbox" if label == SANDBOX else describe(label)
    if catalog.source == "embedded":
        return "catalog: the embedded FLUX.2 table (the live catalog could not be had)"
    age = age_text(catalog.age.total_seconds()) if catalog.age is not None else "at an unknown time"
    if catalog.source == "cache":
        return f"catalog: cached copy from {where}, fetched {age}; --refresh fetches it again"
    return f"catalog: fetched from {where} {age}"


def _table(app: App, catalog: Catalog, entries: list[CatalogEntry], label: str) -> Any:
    from rich.text import Text

    from flux_cli.cli.render import styled_table
    from flux_cli.pricing import format_usd
    from flux_cli.textsafe import strip_control

    table = styled_table(app.out, "Image models · prices per megapixel unless marked per image")
    table.caption = _source_line(catalog, label)
    table.caption_justify = "left"
    from flux_cli.cli.tables import cell_lines, fit_columns, narrow

    table.add_column("model", no_wrap=True)  # ids whole: they are what -m takes
    table.add_column("takes", overflow="fold", max_width=narrow(app.out, 30))
    table.add_column("price", no_wrap=True)
    table.add_column("source", overflow="fold", max_width=narrow(app.out, 12))
    for entry in entries:
        name = strip_control(entry.id)
        if entry.alias:
            name = cell_lines(app.out, entry.alias, name)
        price = entry.price
        if entry.price_source == "live":
            age = _age_seconds(catalog, entry)
            source = "live" + (f", {age_text(age)}" if age is not None and age >= 60 else "")
        else:
            source = entry.price_source or "none"
        if price is not None and price.unit != "megapixel":
            source += f", per {price.unit}"
        refs = str(entry.max_references)
        if entry.min_references:
            refs = f"{entry.min_references}-{entry.max_references}"
        takes = [
            " ".join(entry.aspect_ratios) or "no aspect ratio",
            *([f"resolution {' '.join(entry.resolutions)}"] if entry.resolutions else []),
            f"refs {refs} · " + ("seed" if entry.takes_seed else "no seed"),
            " ".join(entry.output_formats) or "its own format",
        ]
        costs: list[str] = []
        if price is None:
            costs.append("—")
        elif price.unit == "image":
            costs.append(f"{format_usd(price.first_output_mp)} /image")
        else:
            costs.append(f"{format_usd(price.first_output_mp)} 1st MP")
            if price.extra_output_mp != price.first_output_mp:
                costs.append(f"{format_usd(price.extra_output_mp)} +MP")
        if price is not None and entry.max_references:
            costs.append(f"{format_usd(price.input_mp)} ref")
        table.add_row(
            Text(name),
            Text(cell_lines(app.out, *takes)),
            cell_lines(app.out, *costs),
            source,
        )
    fit_columns(app.out, table, ("source", "takes"), wrapped_min=8)
    return table
