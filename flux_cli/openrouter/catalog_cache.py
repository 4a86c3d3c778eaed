"""The catalog cache per base URL, and `load_catalog`: which catalog a command uses.

The cache is JSON in the cache dir, one file per base URL, fresh for `DEFAULT_TTL`. It is read as
strictly as the server's answers: a damaged cache is ignored with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli import paths
from flux_cli.credentials import validate_base_url
from flux_cli.embedded_catalog import MODELS, PRICE_UNITS, PriceRule
from flux_cli.openrouter.catalog import (
    DEFAULT_TIMEOUT,
    Catalog,
    CatalogEntry,
    CatalogUnavailable,
    embedded_catalog,
)
from flux_cli.openrouter.model_records import Unreadable, plain_tokens

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TTL", "cache_path", "load_catalog"]

DEFAULT_TTL = timedelta(hours=24)
CACHE_VERSION = 2


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
        raise Unreadable("not a whole number ≥ 0")
    return value


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise Unreadable("not true or false")
    return value


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Unreadable("not a string")
    return value


def _stamp(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Unreadable("not a time with a zone")
    return moment


def _entry_from_json(item: object) -> CatalogEntry:
    if not isinstance(item, Mapping):
        raise Unreadable("an entry is not an object")
    model_id, name = item.get("id"), item.get("name")
    if not isinstance(model_id, str) or not isinstance(name, str):
        raise Unreadable("an entry has no id or name")
    price_json = item.get("price")
    price: PriceRule | None = None
    if price_json is not None:
        if not isinstance(price_json, Mapping):
            raise Unreadable("a price is not an object")
        unit = price_json.get("unit")
        if unit not in PRICE_UNITS:
            raise Unreadable("a price unit is unknown")
        price = PriceRule(
            first_output_mp=_int(price_json.get("first_output_mp")),
            extra_output_mp=_int(price_json.get("extra_output_mp")),
            input_mp=_int(price_json.get("input_mp")),
            unit=str(unit),
            prompt_token=_int(price_json.get("prompt_token")),
        )
    source = item.get("price_source")
    if source not in ("embedded", "live", None) or (source is None) != (price is None):
        raise Unreadable("a price source is unknown")
    return CatalogEntry(
        id=model_id,
        name=name,
        aspect_ratios=plain_tokens(item.get("aspect_ratios"), "aspect_ratios"),
        output_formats=plain_tokens(item.get("output_formats"), "output_formats"),
        max_references=_int(item.get("max_references")),
        passthrough=plain_tokens(item.get("passthrough"), "passthrough"),
        price=price,
        price_source=source,
        fetched_at=_stamp(item.get("fetched_at")),
        note=_opt_str(item.get("note")),
        provider=_opt_str(item.get("provider")),
        resolutions=plain_tokens(item.get("resolutions"), "resolutions"),
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
    """The cache for this base URL; None when missing. Raises Unreadable when damaged."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise Unreadable(str(exc)) from None
    try:
        obj = json.loads(text)
    except ValueError:
        raise Unreadable("not JSON") from None
    if not isinstance(obj, Mapping) or obj.get("version") != CACHE_VERSION:
        raise Unreadable("an unknown format")
    if obj.get("base_url") != base_url:
        raise Unreadable("written for another base URL")
    fetched_at = _stamp(obj.get("fetched_at"))
    if fetched_at is None:
        raise Unreadable("no fetch time")
    items = obj.get("entries")
    if not isinstance(items, list):
        raise Unreadable("no entries")
    entries = {}
    for item in items:
        entry = _entry_from_json(item)
        entries[entry.id] = entry
    if any(model.id not in entries for model in MODELS):
        raise Unreadable("the FLUX.2 models are missing")  # every fetch writes all four
    notes = obj.get("notes", [])
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise Unreadable("notes are not strings")
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
    except Unreadable as exc:
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
    from flux_cli.openrouter.catalog_fetch import fetch_live  # only when going online

    try:
        entries, notes = fetch_live(base_url, transport=transport, timeout=timeout, now=now)
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
