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
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from flux_cli import paths
from flux_cli.credentials import validate_base_url
from flux_cli.embedded_catalog import (
    ALIASES,
    MODELS,
    PRICE_UNITS,
    PROVIDER_NAME,
    PROVIDER_SLUG,
    ModelInfo,
    PriceRule,
    resolve_model_id,
)
from flux_cli.errors import Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.pricing import MICROS_PER_USD, TOKENS_PER_MEGAPIXEL
from flux_cli.textsafe import strip_control

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_TTL",
    "Catalog",
    "CatalogEntry",
    "CatalogUnavailable",
    "cache_path",
    "embedded_catalog",
    "fetch_catalog",
    "load_catalog",
    "price_rule_from_lines",
    "resolve",
]

PriceSource = Literal["embedded", "live"]
CatalogSource = Literal["embedded", "live", "cache"]

DEFAULT_TTL = timedelta(hours=24)
DEFAULT_TIMEOUT = 10.0
CACHE_VERSION = 2
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_MODELS = 500
FETCH_WORKERS = 4
#: No image model costs more per megapixel than this; a bigger number is a misreading.
MAX_USD_PER_LINE = Decimal(1000)

# Compiled by `re` on first use, not at import (start-up).
_MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}/[A-Za-z0-9][A-Za-z0-9._:~-]{0,199}"
_PLAIN_VALUE = r"[A-Za-z0-9._:+-]{1,64}"  # enum values and passthrough names

_OUTPUT_LINE = "output_image"
_INPUT_LINES = frozenset({"input_reference", "input_image"})
_EMBEDDED_BY_ID: dict[str, ModelInfo] = {m.id: m for m in MODELS}
_ALIAS_BY_ID: dict[str, str] = {model_id: alias for alias, model_id in ALIASES.items()}

UNMAPPED = "its pricing lines cannot be read as a price"
UNMAPPED_NOTE = "live pricing lines could not be mapped onto a price; using the embedded prices"
ZERO_NOTE = (
    "the live price is $0, but this model is paid (embedded table); budgets use the embedded prices"
)
ZERO = "a live price of $0 is not believed"


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


def _embedded_entry(model: ModelInfo, note: str | None = None) -> CatalogEntry:
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
    return {m.id: _embedded_entry(m) for m in MODELS}


# -- pricing lines ----------------------------------------------------------------------------


def _line_amount(value: object) -> Decimal | None:
    """A line's `cost_usd` as a Decimal, or None unless it is finite, ≥ 0 and sane."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ArithmeticError, ValueError):
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD_PER_LINE:
        return None
    return amount


def _line_micros(value: object) -> int | None:
    """A line's `cost_usd` in whole micro-dollars, or None unless it is exact, finite and sane."""
    amount = _line_amount(value)
    if amount is None:
        return None
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        return None  # finer than a micro-dollar: the integer model cannot hold it exactly
    return int(micros)


def _ceil_micros(amount: Decimal) -> int:
    return int((amount * MICROS_PER_USD).to_integral_value(rounding="ROUND_CEILING"))


def price_rule_from_lines(
    lines: object, *, accepts_references: bool = True, embedded: PriceRule | None = None
) -> PriceRule | None:
    """An endpoint's `pricing[]` as a price rule, or None when the mapping is not certain
    (docs/openrouter.md#pricing-lines, docs/openrouter.md#price-units).

    Mapped:
      * output: `output_image` lines in one unit (`megapixel`, `token`, `image`): a single line
        without a variant (every megapixel, token-megapixel or image costs the same), or the
        variants `first` and `additional` (one each). A token price counts 4,096 tokens per
        megapixel, rounded up to a micro-dollar. A single megapixel line equal to the embedded
        first-megapixel price confirms the embedded rule (the model page's further-megapixel and
        input prices; docs/openrouter-flux2.md#prices-on-openrouter).
      * references: at most one `input_reference` or `input_image` line, in the output's unit.
        Without one, the embedded input price, or for another model the output rate (an upper
        bound); nothing when the model takes no references.
      * `input_text` per token prices the prompt; any other line is ignored only when it is $0.
    None for: other units, unknown variants (`2k`, `4k`), duplicates, several input lines, mixed
    units, non-numeric, negative, NaN or absurd amounts.
    """
    if not isinstance(lines, Sequence) or isinstance(lines, (str, bytes)) or not lines:
        return None
    outputs: dict[str | None, list[Decimal]] = {}
    inputs: list[Decimal] = []
    units: set[str] = set()
    prompt_token = 0
    for line in lines:
        if not isinstance(line, Mapping):
            return None
        billable, unit, variant = line.get("billable"), line.get("unit"), line.get("variant")
        amount = _line_amount(line.get("cost_usd"))
        if amount is None or not isinstance(billable, str) or not isinstance(unit, str):
            return None
        if variant is not None and not isinstance(variant, str):
            return None
        if billable == "input_text" and unit == "token" and variant is None:
            prompt_token = _ceil_micros(amount)
            continue
        if billable != _OUTPUT_LINE and billable not in _INPUT_LINES:
            if amount == 0:
                continue  # free fonts and the like change nothing
            return None
        if unit not in PRICE_UNITS:
            return None
        units.add(unit)
        if billable == _OUTPUT_LINE:
            outputs.setdefault(variant, []).append(amount)
        elif variant is not None:
            return None
        else:
            inputs.append(amount)
    if len(units) != 1 or any(len(costs) != 1 for costs in outputs.values()):
        return None
    (unit,) = units

    def micros(amount: Decimal) -> int | None:
        if unit == "token":
            return _ceil_micros(amount * TOKENS_PER_MEGAPIXEL)
        return _line_micros(amount)

    if set(outputs) == {None}:
        first = extra = micros(outputs[None][0])
    elif set(outputs) == {"first", "additional"}:
        first, extra = micros(outputs["first"][0]), micros(outputs["additional"][0])
    else:
        return None
    if first is None or extra is None or len(inputs) > 1:
        return None
    if unit == "image":
        extra = 0
    if (
        embedded is not None
        and unit == embedded.unit == "megapixel"
        and not inputs
        and set(outputs) == {None}
        and first == embedded.first_output_mp
    ):
        return embedded
    input_mp: int | None
    if inputs:
        input_mp = micros(inputs[0])
    elif not accepts_references:
        input_mp = 0
    elif embedded is not None and embedded.unit == unit:
        input_mp = embedded.input_mp
    else:
        input_mp = first  # no input line: references at the output rate, an upper bound
    if input_mp is None:
        return None
    return PriceRule(
        first_output_mp=first,
        extra_output_mp=extra,
        input_mp=input_mp,
        unit=unit,
        prompt_token=prompt_token,
    )


# -- parsing records --------------------------------------------------------------------------


class _Unreadable(Exception):
    """A record that does not have the expected shape."""


@dataclass(frozen=True)
class _ModelRecord:
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
class _EndpointInfo:
    price: PriceRule | None
    passthrough: tuple[str, ...]
    provider: str | None
    problem: str | None  # why there is no price, when there is none
    read: bool = True  # False when the endpoints answer could not be read at all


def _text(value: object, limit: int = 200) -> str:
    return strip_control(" ".join(value.split()), limit=limit) if isinstance(value, str) else ""


def _tokens(values: object, what: str) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise _Unreadable(f"{what} is not a list of strings")
    kept = [v for v in values if re.fullmatch(_PLAIN_VALUE, v)]
    return tuple(dict.fromkeys(kept))


def _enum(params: Mapping[str, Any], name: str) -> tuple[str, ...]:
    descriptor = params.get(name)
    if descriptor is None:
        return ()  # docs/openrouter.md#image-request: an absent key means unsupported
    if not isinstance(descriptor, Mapping) or descriptor.get("type") != "enum":
        raise _Unreadable(f"{name} is not an enum descriptor")
    return _tokens(descriptor.get("values"), f"{name}.values")


def _range(params: Mapping[str, Any], name: str) -> tuple[int, int]:
    """A range descriptor's (min, max); (0, 0) when absent (unsupported)."""
    descriptor = params.get(name)
    if descriptor is None:
        return 0, 0
    if not isinstance(descriptor, Mapping) or descriptor.get("type") != "range":
        raise _Unreadable(f"{name} is not a range descriptor")
    top = descriptor.get("max")
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 64:
        raise _Unreadable(f"{name}.max is not a small whole number")
    low = descriptor.get("min", 0)
    if isinstance(low, bool) or not isinstance(low, int) or not 0 <= low <= top:
        raise _Unreadable(f"{name}.min is not a whole number up to max")
    return low, top


def _range_max(params: Mapping[str, Any], name: str) -> int:
    return _range(params, name)[1]


def _parse_model(item: object) -> _ModelRecord:
    if not isinstance(item, Mapping):
        raise _Unreadable("not an object")
    model_id = item.get("id")
    if not isinstance(model_id, str) or not re.fullmatch(_MODEL_ID, model_id):
        raise _Unreadable("no usable id")
    params = item.get("supported_parameters")
    if not isinstance(params, Mapping):
        raise _Unreadable(f"{model_id}: no supported_parameters")
    try:
        low, high = _range(params, "input_references")
        n_low, n_high = _range(params, "n")
        return _ModelRecord(
            id=model_id,
            name=_text(item.get("name")) or model_id,
            aspect_ratios=_enum(params, "aspect_ratio"),
            output_formats=_enum(params, "output_format"),
            max_references=high,
            resolutions=_enum(params, "resolution"),
            takes_seed="seed" in params,
            # flux2 sends n = 1 where n is listed and 1 is in its range, else no n at all.
            takes_n="n" in params and n_low <= 1 <= n_high,
            min_references=low,
        )
    except _Unreadable as exc:
        raise _Unreadable(f"{model_id}: {exc}") from None


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
    return _tokens(value, "allowed_passthrough_parameters")


def _parse_endpoints(body: object, record: _ModelRecord) -> _EndpointInfo:
    """`{"id", "endpoints": [...]}` (docs/openrouter.md#image-catalog); the Black Forest Labs
    endpoint when there are several."""
    if isinstance(body, Mapping) and isinstance(body.get("data"), Mapping):
        body = body["data"]  # tolerate a `data` wrapper
    endpoints = body.get("endpoints") if isinstance(body, Mapping) else None
    if not isinstance(endpoints, list) or not all(isinstance(e, Mapping) for e in endpoints):
        raise _Unreadable("the endpoints answer has no list of endpoints")
    if not endpoints:
        return _EndpointInfo(None, (), None, "no provider serves it")
    accepts = record.max_references > 0
    embedded = _EMBEDDED_BY_ID[record.id].price if record.id in _EMBEDDED_BY_ID else None
    chosen = next((e for e in endpoints if _is_bfl(e)), None)
    if chosen is None and len(endpoints) == 1:
        chosen = endpoints[0]
    if chosen is not None:
        price = price_rule_from_lines(
            chosen.get("pricing"), accepts_references=accepts, embedded=embedded
        )
        return _EndpointInfo(
            price=price,
            passthrough=_passthrough(chosen),
            provider=_text(chosen.get("provider_name"), 80) or None,
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
        return _EndpointInfo(rules.pop(), common, None, None)
    return _EndpointInfo(None, common, None, "its providers price it differently")


# -- fetching ---------------------------------------------------------------------------------


def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or base_url


def _get_json(http: httpx.Client, path: str) -> object:
    import httpx

    from flux_cli.openrouter import errors as E
    from flux_cli.openrouter import wire

    try:
        with http.stream("GET", path) as response:
            if response.status_code != 200:
                raise _Unreadable(f"HTTP {response.status_code}")
            content_type = response.headers.get("content-type", "")
            if "json" not in content_type.lower():
                raise _Unreadable(f"{_text(content_type, 60) or 'no content type'}, not JSON")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _Unreadable(f"larger than {MAX_BODY_BYTES // 2**20} MiB")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise _Unreadable(_text(str(exc), 120) or type(exc).__name__) from None
    try:
        return wire.loads(b"".join(chunks))
    except E.BadResponseError:
        raise _Unreadable("not valid JSON") from None


def _fetch(
    base_url: str, *, transport: httpx.BaseTransport | None, timeout: float, now: datetime
) -> tuple[dict[str, CatalogEntry], list[str]]:
    import time

    from flux_cli.http_client import deadline, make_client

    base_url = validate_base_url(base_url)
    with (
        deadline(time.monotonic() + timeout),
        make_client(
            base_url=base_url + "/",
            transport=transport,
            headers={"Accept": "application/json"},  # public routes: no Authorization header, ever
            timeout=timeout,
        ) as http,
    ):
        return _read_catalog(lambda path: _get_json(http, path), _host(base_url), now)


def sandbox_catalog() -> Catalog:
    """The built-in sandbox's catalog, read from its own bodies without a request: what a
    `--sandbox` run's sandbox will serve (docs/openrouter.md#image-catalog)."""
    from flux_cli.sandbox import catalog as served

    def get(path: str) -> object:
        if path == "images/models":
            return served.image_models()
        model_id = path.removeprefix("images/models/").removesuffix("/endpoints")
        author, _, slug = model_id.partition("/")
        from urllib.parse import unquote

        found = served.BY_ID.get(f"{unquote(author)}/{unquote(slug)}")
        if found is None:
            raise _Unreadable("HTTP 404")
        return served.endpoints(found, size_passthrough=True)

    now = datetime.now(UTC)
    entries, notes = _read_catalog(get, "the sandbox", now)
    return Catalog(entries, "live", now, timedelta(0), (), tuple(notes))


def _read_catalog(
    get: Callable[[str], object], host: str, now: datetime
) -> tuple[dict[str, CatalogEntry], list[str]]:
    notes: list[str] = []
    try:
        listing = get("images/models")
    except _Unreadable as exc:
        raise CatalogUnavailable(f"could not fetch the model catalog from {host} ({exc})") from None
    data = listing.get("data") if isinstance(listing, Mapping) else None
    if not isinstance(data, list):
        raise CatalogUnavailable(f"the model catalog from {host} is not a list of models")
    records: list[_ModelRecord] = []
    odd: dict[str, str] = {}  # FLUX.2 models whose record could not be read
    for item in data[:MAX_MODELS]:
        try:
            record = _parse_model(item)
        except _Unreadable as exc:
            notes.append(f"skipped a model the catalog describes oddly ({exc})")
            item_id = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(item_id, str) and item_id in _EMBEDDED_BY_ID:
                odd[item_id] = str(exc)
            continue
        if record.id not in {r.id for r in records}:
            records.append(record)

    def endpoint_info(record: _ModelRecord) -> _EndpointInfo:
        author, slug = record.id.split("/", 1)
        path = f"images/models/{quote(author, safe='')}/{quote(slug, safe='')}/endpoints"
        try:
            return _parse_endpoints(get(path), record)
        except _Unreadable as exc:
            return _EndpointInfo(
                None, (), None, f"its endpoints could not be read ({exc})", read=False
            )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        infos = list(pool.map(endpoint_info, records))

    entries: dict[str, CatalogEntry] = {}
    for record, info in zip(records, infos, strict=True):
        embedded = _EMBEDDED_BY_ID.get(record.id)
        price, note = info.price, None
        source: PriceSource = "live"
        passthrough = info.passthrough
        problem = info.problem
        if price is not None and price.first_output_mp == 0:
            # A $0 live price is not believed (docs/openrouter.md#pricing-lines): for a paid
            # FLUX.2 model the embedded price counts, for any other there is no price.
            price, problem = None, ZERO
        if price is None and embedded is not None and problem == ZERO:
            price, source, note = embedded.price, "embedded", ZERO_NOTE
        elif price is None and embedded is not None:
            price, source = embedded.price, "embedded"
            note = (
                UNMAPPED_NOTE
                if problem == UNMAPPED
                else f"no live price ({problem}); using the embedded prices"
            )
            if not info.read:
                passthrough = embedded.passthrough
        elif price is None:
            note = f"no price: {problem}"
        entries[record.id] = CatalogEntry(
            id=record.id,
            name=record.name,
            aspect_ratios=record.aspect_ratios,
            output_formats=record.output_formats,
            max_references=record.max_references,
            passthrough=passthrough,
            price=price,
            price_source=source if price is not None else None,
            fetched_at=now,
            note=note,
            provider=info.provider,
            resolutions=record.resolutions,
            takes_seed=record.takes_seed,
            takes_n=record.takes_n,
            min_references=record.min_references,
        )
    for model in MODELS:
        if model.id in odd:
            entries[model.id] = _embedded_entry(
                model, note="its catalog record could not be read; using the embedded record"
            )
        elif model.id not in entries:
            entries[model.id] = _embedded_entry(
                model, note=f"not in the catalog from {host}; using the embedded record"
            )
    return entries, notes


def fetch_catalog(
    base_url: str,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, CatalogEntry]:
    """The live catalog, every listed model plus the four FLUX.2 ones. Raises CatalogUnavailable
    when the model list itself cannot be had; a model whose endpoints fail keeps its record."""
    entries, _ = _fetch(base_url, transport=transport, timeout=timeout, now=datetime.now(UTC))
    return entries


# -- cache ------------------------------------------------------------------------------------


def cache_path(base_url: str) -> Path:
    digest = hashlib.sha256(validate_base_url(base_url).encode("utf-8")).hexdigest()[:12]
    return paths.cache_dir() / f"catalog-{digest}.json"


def _rule_json(rule: PriceRule | None) -> dict[str, int | str] | None:
    if rule is None:
        return None
    return {
        "first_output_mp": rule.first_output_mp,
        "extra_output_mp": rule.extra_output_mp,
        "input_mp": rule.input_mp,
        "unit": rule.unit,
        "prompt_token": rule.prompt_token,
    }


def _entry_json(entry: CatalogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "name": entry.name,
        "aspect_ratios": list(entry.aspect_ratios),
        "output_formats": list(entry.output_formats),
        "max_references": entry.max_references,
        "passthrough": list(entry.passthrough),
        "price": _rule_json(entry.price),
        "price_source": entry.price_source,
        "fetched_at": entry.fetched_at.isoformat() if entry.fetched_at else None,
        "note": entry.note,
        "provider": entry.provider,
        "resolutions": list(entry.resolutions),
        "takes_seed": entry.takes_seed,
        "takes_n": entry.takes_n,
        "min_references": entry.min_references,
    }


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Unreadable("not a whole number ≥ 0")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Unreadable("not true or false")
    return value


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unreadable("not a string")
    return value


def _stamp(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _Unreadable("not a time with a zone")
    return moment


def _entry_from_json(item: object) -> CatalogEntry:
    if not isinstance(item, Mapping):
        raise _Unreadable("an entry is not an object")
    model_id, name = item.get("id"), item.get("name")
    if not isinstance(model_id, str) or not isinstance(name, str):
        raise _Unreadable("an entry has no id or name")
    price_json = item.get("price")
    price: PriceRule | None = None
    if price_json is not None:
        if not isinstance(price_json, Mapping):
            raise _Unreadable("a price is not an object")
        unit = price_json.get("unit")
        if unit not in PRICE_UNITS:
            raise _Unreadable("a price unit is unknown")
        price = PriceRule(
            first_output_mp=_int(price_json.get("first_output_mp")),
            extra_output_mp=_int(price_json.get("extra_output_mp")),
            input_mp=_int(price_json.get("input_mp")),
            unit=str(unit),
            prompt_token=_int(price_json.get("prompt_token")),
        )
    source = item.get("price_source")
    if source not in ("embedded", "live", None) or (source is None) != (price is None):
        raise _Unreadable("a price source is unknown")
    return CatalogEntry(
        id=model_id,
        name=name,
        aspect_ratios=_tokens(item.get("aspect_ratios"), "aspect_ratios"),
        output_formats=_tokens(item.get("output_formats"), "output_formats"),
        max_references=_int(item.get("max_references")),
        passthrough=_tokens(item.get("passthrough"), "passthrough"),
        price=price,
        price_source=source,
        fetched_at=_stamp(item.get("fetched_at")),
        note=_opt_str(item.get("note")),
        provider=_opt_str(item.get("provider")),
        resolutions=_tokens(item.get("resolutions"), "resolutions"),
        takes_seed=_bool(item.get("takes_seed")),
        takes_n=_bool(item.get("takes_n")),
        min_references=_int(item.get("min_references")),
    )


@dataclass(frozen=True)
class _Cached:
    entries: dict[str, CatalogEntry]
    fetched_at: datetime
    notes: tuple[str, ...]


def _read_cache(path: Path, base_url: str) -> _Cached | None:
    """The cache for this base URL; None when missing. Raises _Unreadable when damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreadable(str(exc)) from None
    try:
        obj = json.loads(text)
    except ValueError:
        raise _Unreadable("not JSON") from None
    if not isinstance(obj, Mapping) or obj.get("version") != CACHE_VERSION:
        raise _Unreadable("an unknown format")
    if obj.get("base_url") != base_url:
        raise _Unreadable("written for another base URL")
    fetched_at = _stamp(obj.get("fetched_at"))
    if fetched_at is None:
        raise _Unreadable("no fetch time")
    items = obj.get("entries")
    if not isinstance(items, list):
        raise _Unreadable("no entries")
    entries = {}
    for item in items:
        entry = _entry_from_json(item)
        entries[entry.id] = entry
    if any(model.id not in entries for model in MODELS):
        raise _Unreadable("the FLUX.2 models are missing")  # every fetch writes all four
    notes = obj.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _Unreadable("notes are not strings")
    return _Cached(entries, fetched_at, tuple(notes))


def _write_cache(
    path: Path,
    base_url: str,
    entries: Mapping[str, CatalogEntry],
    fetched_at: datetime,
    notes: Sequence[str],
) -> None:
    payload = {
        "version": CACHE_VERSION,
        "base_url": base_url,
        "fetched_at": fetched_at.isoformat(),
        "entries": [_entry_json(e) for e in entries.values()],
        "notes": list(notes),
    }
    data = json.dumps(payload, ensure_ascii=False, indent=1).encode("utf-8")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _age_text(age: timedelta) -> str:
    seconds = max(0, int(age.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)} min"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"


def load_catalog(
    base_url: str,
    *,
    refresh: bool = False,
    offline: bool = False,
    ttl: timedelta = DEFAULT_TTL,
    transport: httpx.BaseTransport | None = None,
    now: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Catalog:
    """The catalog to use, never raising for network trouble.

    A fresh cache (younger than `ttl`) is used as is. Otherwise the live catalog is fetched and
    cached; if that fails, a stale cache is used, else the embedded data, with a warning.
    `offline=True` never touches the network: the cache of any age, else the embedded data.
    `refresh=True` fetches even when the cache is fresh (offline wins over refresh).
    """
    base_url = validate_base_url(base_url)
    now = now or datetime.now(UTC)
    path = cache_path(base_url)
    warnings: list[str] = []
    try:
        cached = _read_cache(path, base_url)
    except _Unreadable as exc:
        cached = None
        warnings.append(f"ignored the damaged catalog cache {path} ({exc})")

    def from_cache(extra: Sequence[str] = ()) -> Catalog:
        assert cached is not None
        return Catalog(
            entries=cached.entries,
            source="cache",
            fetched_at=cached.fetched_at,
            age=now - cached.fetched_at,
            warnings=(*warnings, *extra),
            notes=cached.notes,
        )

    if cached is not None:
        fresh = timedelta(0) <= now - cached.fetched_at < ttl
        if offline or (fresh and not refresh):
            return from_cache()
    if offline:
        return Catalog(embedded_catalog(), "embedded", warnings=tuple(warnings))
    try:
        entries, notes = _fetch(base_url, transport=transport, timeout=timeout, now=now)
    except CatalogUnavailable as exc:
        if cached is not None:
            age_text = _age_text(now - cached.fetched_at)
            return from_cache([f"{exc}; using the catalog cached {age_text} ago"])
        warnings.append(f"{exc}; using the embedded FLUX.2 models and prices")
        return Catalog(embedded_catalog(), "embedded", warnings=tuple(warnings))
    try:
        _write_cache(path, base_url, entries, now, notes)
    except OSError as exc:
        warnings.append(f"could not save the catalog cache {path} ({exc.strerror or exc})")
    return Catalog(entries, "live", now, timedelta(0), tuple(warnings), tuple(notes))


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
        f"unknown model {_text(name, 100)!r}",
        hint="known models: " + ", ".join(known) + "; `flux2 models` lists them",
    )
