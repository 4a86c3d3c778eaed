"""The image models as `flux2 models` (and the MCP `list_models` tool) lists them: in which
order, one JSON record each, and the plain-text cells of the table: what a model takes, what it
costs, where its price came from and how old it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flux_cli.endpoints import SANDBOX, describe

if TYPE_CHECKING:
    from flux_cli.openrouter.catalog import Catalog, CatalogEntry


def listed_catalog(*, sandbox: bool, refresh: bool) -> tuple[Catalog, str]:
    """The catalog `flux2 models` lists and the label of the API it describes: the built-in
    sandbox's own answers (not cached), or the current API's catalog (`load_catalog`: the fresh
    cache, the live catalog, or the embedded one; `refresh` skips the cache)."""
    if sandbox:
        from flux_cli.openrouter.catalog_fetch import sandbox_catalog

        return sandbox_catalog(), SANDBOX
    from flux_cli.endpoints import current_api
    from flux_cli.openrouter.catalog_cache import load_catalog

    label, base_url = current_api()
    return load_catalog(base_url, refresh=refresh), label


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


def age_seconds(catalog: Catalog, entry: CatalogEntry) -> int | None:
    """How old a live price is, in seconds; None for any other price or an unknown time."""
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
        "price_age_s": age_seconds(catalog, entry),
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


def source_line(catalog: Catalog, label: str) -> str:
    """Where the catalog came from, for the table's caption."""
    where = "an in-process sandbox" if label == SANDBOX else describe(label)
    if catalog.source == "embedded":
        return "catalog: the embedded FLUX.2 table (the live catalog could not be had)"
    age = age_text(catalog.age.total_seconds()) if catalog.age is not None else "at an unknown time"
    if catalog.source == "cache":
        return f"catalog: cached copy from {where}, fetched {age}; --refresh fetches it again"
    return f"catalog: fetched from {where} {age}"


def price_source(catalog: Catalog, entry: CatalogEntry) -> str:
    """`live, 3 h ago`, `embedded, per image`: where a model's price came from."""
    price = entry.price
    if entry.price_source == "live":
        age = age_seconds(catalog, entry)
        source = "live" + (f", {age_text(age)}" if age is not None and age >= 60 else "")
    else:
        source = entry.price_source or "none"
    if price is not None and price.unit != "megapixel":
        source += f", per {price.unit}"
    return source


def takes(entry: CatalogEntry) -> list[str]:
    """What a model takes: aspect ratios, resolutions, references and seed, output formats."""
    refs = str(entry.max_references)
    if entry.min_references:
        refs = f"{entry.min_references}-{entry.max_references}"
    return [
        " ".join(entry.aspect_ratios) or "no aspect ratio",
        *([f"resolution {' '.join(entry.resolutions)}"] if entry.resolutions else []),
        f"refs {refs} · " + ("seed" if entry.takes_seed else "no seed"),
        " ".join(entry.output_formats) or "its own format",
    ]


def costs(entry: CatalogEntry) -> list[str]:
    """What a model costs: per image, or the first and further megapixels; and per reference."""
    from flux_cli.pricing import format_usd

    price = entry.price
    parts: list[str] = []
    if price is None:
        parts.append("—")
    elif price.unit == "image":
        parts.append(f"{format_usd(price.first_output_mp)} /image")
    else:
        parts.append(f"{format_usd(price.first_output_mp)} 1st MP")
        if price.extra_output_mp != price.first_output_mp:
            parts.append(f"{format_usd(price.extra_output_mp)} +MP")
    if price is not None and entry.max_references:
        parts.append(f"{format_usd(price.input_mp)} ref")
    return parts
