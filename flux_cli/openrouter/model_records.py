"""The capability descriptors of one model and its endpoints, read strictly.

`GET /images/models` describes each model's parameters (docs/openrouter.md#capability-descriptors);
`GET /images/models/{author}/{slug}/endpoints` lists the providers that serve it, with their
passthrough parameters and pricing lines (docs/openrouter.md#image-catalog). Everything here is
untrusted server data: a type check at every step, and anything that does not have the expected
shape is `Unreadable`, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flux_cli.embedded_catalog import (
    MODELS,
    PROVIDER_NAME,
    PROVIDER_SLUG,
    ModelInfo,
    PriceRule,
)
from flux_cli.openrouter.price_lines import price_rule_from_lines
from flux_cli.textsafe import strip_control

__all__ = [
    "EMBEDDED_BY_ID",
    "UNMAPPED",
    "EndpointInfo",
    "ModelRecord",
    "Unreadable",
    "clean_text",
    "parse_endpoints",
    "parse_model",
    "plain_tokens",
]

# Compiled by `re` on first use, not at import (start-up).
_MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9][A-Za-z0-9._:~-]{0,199}"
_PLAIN_VALUE = r"[A-Za-z0-9._:+-]{1,64}"  # enum values and passthrough names

EMBEDDED_BY_ID: dict[str, ModelInfo] = {m.id: m for m in MODELS}

UNMAPPED = "its pricing lines cannot be read as a price"


class Unreadable(Exception):
    """A record that does not have the expected shape."""


@dataclass(frozen=True)
class ModelRecord:
    id: str
    name: str
    aspect_ratios: tuple[str, ...]
    output_formats: tuple[str, ...]
    max_references: int
    resolutions: tuple[str, ...] = ()
    takes_seed: bool = True
    takes_n: bool = True
    min_references: int = 0


@dataclass(frozen=True)
class EndpointInfo:
    price: PriceRule | None
    passthrough: tuple[str, ...]
    provider: str | None
    problem: str | None  # why there is no price, when there is none
    read: bool = True  # False when the endpoints answer could not be read at all


def clean_text(value: object, limit: int = 200) -> str:
    return strip_control(" ".join(value.split()), limit=limit) if isinstance(value, str) else ""


def plain_tokens(values: object, what: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Unreadable(f"{what} is not a list of strings")
    kept = [v for v in values if re.fullmatch(_PLAIN_VALUE, v)]
    return tuple(dict.fromkeys(kept))


def _enum(params: Mapping[str, Any], name: str) -> tuple[str, ...]:
    descriptor = params.get(name)
    if descriptor is None:
        return ()  # docs/openrouter.md#image-request: an absent key means unsupported
    if not isinstance(descriptor, Mapping) or descriptor.get("type") != "enum":
        raise Unreadable(f"{name} is not an enum descriptor")
    return plain_tokens(descriptor.get("values"), f"{name}.values")


def _range(params: Mapping[str, Any], name: str) -> tuple[int, int]:
    """A range descriptor's (min, max); (0, 0) when absent (unsupported)."""
    descriptor = params.get(name)
    if descriptor is None:
        return 0, 0
    if not isinstance(descriptor, Mapping) or descriptor.get("type") != "range":
        raise Unreadable(f"{name} is not a range descriptor")
    top = descriptor.get("max")
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 64:
        raise Unreadable(f"{name}.max is not a small whole number")
    low = descriptor.get("min", 0)
    if isinstance(low, bool) or not isinstance(low, int) or not 0 <= low <= top:
        raise Unreadable(f"{name}.min is not a whole number up to max")
    return low, top


def parse_model(item: object) -> ModelRecord:
    if not isinstance(item, Mapping):
        raise Unreadable("not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not re.fullmatch(_MODEL_ID, model_id):
        raise Unreadable("no usable id")
    params = item.get("supported_parameters")
    if not isinstance(params, Mapping):
        raise Unreadable(f"{model_id}: no supported_parameters")
    try:
        low, high = _range(params, "input_references")
        n_low, n_high = _range(params, "n")
        return ModelRecord(
            id=model_id,
            name=clean_text(item.get("name")) or model_id,
            aspect_ratios=_enum(params, "aspect_ratio"),
            output_formats=_enum(params, "output_format"),
            max_references=high,
            resolutions=_enum(params, "resolution"),
            takes_seed="seed" in params,
            # flux2 sends n = 1 where n is listed and 1 is in its range, else no n at all.
            takes_n="n" in params and n_low <= 1 <= n_high,
            min_references=low,
        )
    except Unreadable as exc:
        raise Unreadable(f"{model_id}: {exc}") from None


def _is_bfl(endpoint: Mapping[str, Any]) -> bool:
    return (
        endpoint.get("provider_slug") == PROVIDER_SLUG
        or endpoint.get("provider_tag") == PROVIDER_SLUG
        or endpoint.get("provider_name") == PROVIDER_NAME
    )


def _passthrough(endpoint: Mapping[str, Any]) -> tuple[str, ...]:
    value = endpoint.get("allowed_passthrough_parameters")
    if value is None:
        return ()
    return plain_tokens(value, "allowed_passthrough_parameters")


def parse_endpoints(body: object, record: ModelRecord) -> EndpointInfo:
    """`{"id", "endpoints": [...]}` (docs/openrouter.md#image-catalog); the Black Forest Labs
    endpoint when there are several."""
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping):
        body = body["data"]  # tolerate a `data` wrapper
    endpoints = body.get("endpoints") if isinstance(body, Mapping) else None
    if not isinstance(endpoints, list) or not all(isinstance(e, Mapping) for e in endpoints):
        raise Unreadable("the endpoints answer has no list of endpoints")
    if not endpoints:
        return EndpointInfo(None, (), None, "no provider serves it")
    accepts = record.max_references > 0
    embedded = EMBEDDED_BY_ID[record.id].price if record.id in EMBEDDED_BY_ID else None
    chosen = next((e for e in endpoints if _is_bfl(e)), None)
    if chosen is None and len(endpoints) == 1:
        chosen = endpoints[0]
    if chosen is not None:
        price = price_rule_from_lines(
            chosen.get("pricing"), accepts_references=accepts, embedded=embedded
        )
        return EndpointInfo(
            price=price,
            passthrough=_passthrough(chosen),
            provider=clean_text(chosen.get("provider_name"), 80) or None,
            problem=None if price is not None else UNMAPPED,
        )
    # Several providers, none of them Black Forest Labs: OpenRouter may route to any, so a price
    # holds only if all agree, and only the passthrough keys all of them allow are safe.
    rules = {
        price_rule_from_lines(e.get("pricing"), accepts_references=accepts, embedded=embedded)
        for e in endpoints
    }
    allowed = [set(_passthrough(e)) for e in endpoints]
    common = tuple(sorted(set.intersection(*allowed)))
    if len(rules) == 1 and None not in rules:
        return EndpointInfo(rules.pop(), common, None, None)
    return EndpointInfo(None, common, None, "its providers price it differently")
