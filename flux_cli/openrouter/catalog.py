"""Model capabilities and live prices (README "flux2 models"): fetched, cached, or embedded.

`GET /images/models` lists the image models with their capability descriptors
(docs/openrouter.md#capability-descriptors); `GET /images/models/{author}/{slug}/endpoints` gives
each provider's `allowed_passthrough_parameters` and `pricing[]` lines
(docs/openrouter.md#pricing-lines). Both routes are public: the API key is never sent to them.

Live prices are used when the pricing lines map onto a rule without guessing, in megapixels,
tokens or images (see `price_rule_from_lines`); otherwise the four FLUX.2 models keep their
embedded prices, with a note saying so, and any other model has no price. A live $0 for a paid
FLUX.2 model is not believed, nor a $0 output price for any other model. Everything read from the
server is untrusted: strict JSON, a type check at every step, and a model that does not parse is
skipped with a note, never a crash.

The catalog is cached per base URL as JSON in the cache dir for `DEFAULT_TTL`.

This module holds what a catalog is (`Catalog`, `CatalogEntry`), the embedded one, and the lookup
of a model by alias or id. The rest is one module per job:

- `price_lines.py`: an endpoint's `pricing[]` lines as a price rule (pure);
- `model_records.py`: the capability descriptors of one model and its endpoints, read strictly;
- `catalog_fetch.py`: the live fetch (and the built-in sandbox's catalog, without a request);
- `catalog_cache.py`: the cache per base URL, and `load_catalog`, which picks the catalog to use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from flux_cli.embedded_catalog import (
    ALIASES,
    MODELS,
    PROVIDER_NAME,
    ModelInfo,
    PriceRule,
    resolve_model_id,
)
from flux_cli.errors import Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter.model_records import clean_text

__all__ = [
    "DEFAULT_TIMEOUT",
    "Catalog",
    "CatalogEntry",
    "CatalogUnavailable",
    "embedded_catalog",
    "embedded_entry",
    "resolve",
]

DEFAULT_TIMEOUT = 10.0  # seconds for the whole fetch of the catalog

PriceSource = Literal["embedded", "live"]
CatalogSource = Literal["embedded", "live", "cache"]

_ALIAS_BY_ID: dict[str, str] = {model_id: alias for alias, model_id in ALIASES.items()}


class CatalogUnavailable(Flux2Error):
    """The model list could not be fetched (network, HTTP error, not a catalog)."""

    exit_code = ExitCode.UNAVAILABLE


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    aspect_ratios: tuple[str, ...]
    output_formats: tuple[str, ...]
    max_references: int
    passthrough: tuple[str, ...]  # the endpoint's allowed_passthrough_parameters
    price: PriceRule | None
    price_source: PriceSource | None  # None when there is no price
    fetched_at: datetime | None = None  # None for embedded entries
    note: str | None = None
    provider: str | None = None
    resolutions: tuple[str, ...] = ()
    takes_seed: bool = True
    takes_n: bool = True
    min_references: int = 0

    @property
    def alias(self) -> str | None:
        return _ALIAS_BY_ID.get(self.id)


@dataclass(frozen=True)
class Catalog:
    entries: Mapping[str, CatalogEntry]
    source: CatalogSource
    fetched_at: datetime | None = None
    age: timedelta | None = None
    #: Why the catalog is not the live one, or could not be saved; meant for the user.
    warnings: tuple[str, ...] = ()
    #: Details of the fetch (models skipped as unreadable); for `flux2 models`, not every run.
    notes: tuple[str, ...] = field(default=())


# -- embedded ---------------------------------------------------------------------------------


def embedded_entry(model: ModelInfo, note: str | None = None) -> CatalogEntry:
    return CatalogEntry(
        id=model.id,
        name=model.name,
        aspect_ratios=model.aspect_ratios,
        output_formats=model.output_formats,
        max_references=model.max_references,
        passthrough=model.passthrough,
        price=model.price,
        price_source="embedded",
        note=note,
        provider=PROVIDER_NAME,
    )


def embedded_catalog() -> dict[str, CatalogEntry]:
    return {m.id: embedded_entry(m) for m in MODELS}


# -- lookup -----------------------------------------------------------------------------------


def resolve(catalog: Catalog | Mapping[str, CatalogEntry], name: str) -> CatalogEntry:
    """An alias (`pro`) or a model id, case-insensitively; UsageError listing the known ones."""
    entries = catalog.entries if isinstance(catalog, Catalog) else catalog
    model_id = resolve_model_id(name)
    found = entries.get(model_id)
    if found is None:
        lowered = model_id.lower()
        found = next((e for key, e in entries.items() if key.lower() == lowered), None)
    if found is not None:
        return found
    known = [f"{alias} ({model_id})" for alias, model_id in ALIASES.items()]
    others = sorted(key for key in entries if key not in _ALIAS_BY_ID)
    known += others[:12] + (["…"] if len(others) > 12 else [])
    raise UsageError(
        f"unknown model {clean_text(name, 100)!r}",
        hint="known models: " + ", ".join(known) + "; `flux2 models` lists them",
    )
