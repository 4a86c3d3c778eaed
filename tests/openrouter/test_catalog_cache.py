"""The catalog cache and `load_catalog`: offline, stale, damaged, per base URL, atomic."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from flux_cli.errors import UsageError
from flux_cli.openrouter.catalog import embedded_catalog
from flux_cli.openrouter.catalog_cache import cache_path, load_catalog
from tests.openrouter.catalog_server import BASE, KLEIN, NOW, PRO, FakeApi, endpoint, line, record

# -- the cache ---------------------------------------------------------------------------------------


def _no_network(request: httpx.Request) -> httpx.Response:
    pytest.fail(f"the network was used: {request.method} {request.url}")


NO_NETWORK = httpx.MockTransport(_no_network)


def test_offline_without_a_cache_is_embedded() -> None:
    catalog = load_catalog(BASE, offline=True, transport=NO_NETWORK)
    assert catalog.source == "embedded"
    assert catalog.warnings == ()
    assert catalog.entries == embedded_catalog()


def test_offline_uses_a_cache_of_any_age(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    later = NOW + timedelta(days=40)
    catalog = load_catalog(BASE, offline=True, transport=NO_NETWORK, now=later)
    assert catalog.source == "cache"
    assert catalog.age == timedelta(days=40)
    assert catalog.fetched_at == NOW


def test_offline_wins_over_refresh(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    catalog = load_catalog(BASE, refresh=True, offline=True, transport=NO_NETWORK, now=NOW)
    assert catalog.source == "cache"


def test_a_failed_refresh_uses_the_stale_cache(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    api.overrides["/images/models"] = httpx.Response(503, json={"error": {"code": 503}})
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW + timedelta(days=3))
    assert catalog.source == "cache"
    assert catalog.warnings == (
        "could not fetch the model catalog from openrouter.test (HTTP 503); "
        "using the catalog cached 3 days ago",
    )
    assert catalog.entries[PRO].price_source == "live"


def test_refresh_fetches_even_when_fresh(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    count = len(api.requests)
    catalog = load_catalog(BASE, refresh=True, transport=api.transport(), now=NOW)
    assert catalog.source == "live"
    assert len(api.requests) == 2 * count


def test_a_cache_from_the_future_is_stale(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW - timedelta(hours=1))
    assert catalog.source == "live"


def test_the_ttl_is_configurable(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    later = NOW + timedelta(minutes=10)
    assert (
        load_catalog(BASE, transport=api.transport(), now=later, ttl=timedelta(minutes=5)).source
        == "live"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"[]",
        b'{"version": 99}',
        b'{"version": 1, "base_url": "https://other.test/api/v1"}',
    ],
)
def test_a_damaged_cache_is_ignored_with_a_warning(api: FakeApi, content: bytes) -> None:
    path = cache_path(BASE)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert catalog.source == "live"
    assert len(catalog.warnings) == 1
    assert "damaged catalog cache" in catalog.warnings[0]
    assert load_catalog(BASE, transport=NO_NETWORK, now=NOW).warnings == ()  # rewritten


def test_a_cache_entry_with_a_bad_price_is_damage(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    path = cache_path(BASE)
    data = json.loads(path.read_text())
    data["entries"][0]["price"]["input_mp"] = -5
    path.write_text(json.dumps(data))
    catalog = load_catalog(BASE, offline=True, transport=NO_NETWORK, now=NOW)
    assert catalog.source == "embedded"
    assert "damaged" in catalog.warnings[0]


def test_the_cache_round_trips_every_field(api: FakeApi) -> None:
    api.models.append(record("google/gemini-image"))
    api.endpoints["google/gemini-image"] = {
        "id": "g",
        "endpoints": [endpoint([line("output_image", 1, unit="token")], "google")],
    }
    api.overrides[f"/images/models/{KLEIN}/endpoints"] = httpx.Response(500)
    live = load_catalog(BASE, transport=api.transport(), now=NOW)
    cached = load_catalog(BASE, offline=True, transport=NO_NETWORK, now=NOW)
    assert cached.entries == live.entries
    assert cached.notes == live.notes


def test_caches_are_per_base_url(api: FakeApi, isolated_environment: Path) -> None:
    other = "http://127.0.0.1:9/api/v1"
    assert cache_path(BASE) != cache_path(other)
    assert cache_path(BASE).parent == isolated_environment / "cache"
    assert cache_path(BASE + "/") == cache_path(BASE)  # the same URL, normalised
    load_catalog(BASE, transport=api.transport(), now=NOW)
    assert load_catalog(other, offline=True, transport=NO_NETWORK).source == "embedded"


def test_the_cache_is_written_atomically(api: FakeApi) -> None:
    load_catalog(BASE, transport=api.transport(), now=NOW)
    files = sorted(p.name for p in cache_path(BASE).parent.iterdir())
    assert files == [cache_path(BASE).name]  # no temporary file left behind
    assert json.loads(cache_path(BASE).read_text())["fetched_at"] == NOW.isoformat()


def test_an_unwritable_cache_is_a_warning(api: FakeApi, isolated_environment: Path) -> None:
    (isolated_environment / "cache").write_text("a file where the cache dir should be")
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert catalog.source == "live"
    assert any("could not save the catalog cache" in w for w in catalog.warnings)


def test_a_plain_http_base_url_must_be_loopback() -> None:
    with pytest.raises(UsageError):
        load_catalog("http://openrouter.test/api/v1", transport=NO_NETWORK)
