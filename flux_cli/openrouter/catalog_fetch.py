"""The live catalog: `GET /images/models` and each model's endpoints, read into catalog entries.

Both routes are public: the API key is never sent to them. The endpoints of the models are
fetched a few at a time; a model whose endpoints fail keeps its record (and, for a FLUX.2 model,
its embedded price). The built-in sandbox's catalog is read from its own bodies, without a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from flux_cli.credentials import validate_base_url
from flux_cli.embedded_catalog import MODELS
from flux_cli.openrouter.catalog import (
    DEFAULT_TIMEOUT,
    Catalog,
    CatalogEntry,
    CatalogUnavailable,
    PriceSource,
    embedded_entry,
)
from flux_cli.openrouter.model_records import (
    EMBEDDED_BY_ID,
    UNMAPPED,
    EndpointInfo,
    ModelRecord,
    Unreadable,
    clean_text,
    parse_endpoints,
    parse_model,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["fetch_catalog", "fetch_live", "sandbox_catalog"]

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_MODELS = 500
FETCH_WORKERS = 4

UNMAPPED_NOTE = "live pricing lines could not be mapped onto a price; using the embedded prices"
ZERO_NOTE = (
    "the live price is $0, but this model is paid (embedded table); budgets use the embedded prices"
)
ZERO = "a live price of $0 is not believed"


def _host(base_url: str) -> str:
    return urlsplit(base_url).hostname or base_url


def _get_json(http: httpx.Client, path: str) -> object:
    import httpx

    from flux_cli.openrouter import errors as E
    from flux_cli.openrouter import wire

    try:
        with http.stream("GET", path) as response:
            if response.status_code != 200:
                raise Unreadable(f"HTTP {response.status_code}")
            content_type = response.headers.get("content-type", "")
            if "json" not in content_type.lower():
                raise Unreadable(f"{clean_text(content_type, 60) or 'no content type'}, not JSON")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise Unreadable(f"larger than {MAX_BODY_BYTES // 2**20} MiB")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise Unreadable(clean_text(str(exc), 120) or type(exc).__name__) from None
    try:
        return wire.loads(b"".join(chunks))
    except E.BadResponseError:
        raise Unreadable("not valid JSON") from None


def fetch_live(
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
            raise Unreadable("HTTP 404")
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
    except Unreadable as exc:
        raise CatalogUnavailable(f"could not fetch the model catalog from {host} ({exc})") from None
    data = listing.get("data") if isinstance(listing, Mapping) else None
    if not isinstance(data, list):
        raise CatalogUnavailable(f"the model catalog from {host} is not a list of models")
    records: list[ModelRecord] = []
    odd: dict[str, str] = {}  # FLUX.2 models whose record could not be read
    for item in data[:MAX_MODELS]:
        try:
            record = parse_model(item)
        except Unreadable as exc:
            notes.append(f"skipped a model the catalog describes oddly ({exc})")
            item_id = item.get("id") if isinstance(item, Mapping) else None
            if isinstance(item_id, str) and item_id in EMBEDDED_BY_ID:
                odd[item_id] = str(exc)
            continue
        if record.id not in {r.id for r in records}:
            records.append(record)

    def endpoint_info(record: ModelRecord) -> EndpointInfo:
        author, slug = record.id.split("/", 1)
        path = f"images/models/{quote(author, safe='')}/{quote(slug, safe='')}/endpoints"
        try:
            return parse_endpoints(get(path), record)
        except Unreadable as exc:
            return EndpointInfo(
                None, (), None, f"its endpoints could not be read ({exc})", read=False
            )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
        infos = list(pool.map(endpoint_info, records))

    entries: dict[str, CatalogEntry] = {}
    for record, info in zip(records, infos, strict=True):
        embedded = EMBEDDED_BY_ID.get(record.id)
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
            entries[model.id] = embedded_entry(
                model, note="its catalog record could not be read; using the embedded record"
            )
        elif model.id not in entries:
            entries[model.id] = embedded_entry(
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
    entries, _ = fetch_live(base_url, transport=transport, timeout=timeout, now=datetime.now(UTC))
    return entries
