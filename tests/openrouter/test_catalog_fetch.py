"""The live catalog fetch: against the sandbox, and odd shapes through MockTransport."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from flux_cli.embedded_catalog import MODELS, PriceRule, embedded_model
from flux_cli.openrouter import catalog_fetch
from flux_cli.openrouter.catalog import CatalogUnavailable, embedded_catalog
from flux_cli.openrouter.catalog_cache import cache_path, load_catalog
from flux_cli.openrouter.catalog_fetch import UNMAPPED_NOTE, fetch_catalog
from flux_cli.sandbox import Sandbox, SandboxConfig
from flux_cli.sandbox import catalog as sandbox_catalog
from tests.conftest import CANARY_KEY
from tests.openrouter.catalog_server import (
    ADDITIONAL,
    BASE,
    FIRST,
    KLEIN,
    NOW,
    PRO,
    REFERENCE,
    FakeApi,
    endpoint,
    line,
    record,
)

# -- the live fetch against the sandbox -------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


def test_fetch_from_the_sandbox(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)  # present, and still never sent
    entries = fetch_catalog(sandbox.base_url)
    assert list(entries) == [m.id for m in sandbox_catalog.SANDBOX_MODELS]
    for served in sandbox_catalog.SANDBOX_MODELS:
        # Every model has a live price, the one the sandbox charges.
        entry = entries[served.id]
        assert entry.price == served.price, served.id
        assert entry.price_source == "live"
        assert entry.resolutions == served.resolutions
        assert entry.takes_seed == served.takes_seed
        assert entry.min_references == served.reference_range[0]
    flux3 = entries["black-forest-labs/flux-3-image"]
    assert flux3.resolutions == ("768", "1K", "1.5K", "2K", "4K")
    assert not flux3.takes_seed
    assert len(flux3.aspect_ratios) == 16
    assert flux3.max_references == 10
    assert entries["meta/muse-image"].takes_n is False
    assert entries["meta/muse-image"].max_references == 0
    assert entries["inclusionai/ming-image-0.1-design-layer"].min_references == 1
    assert entries["openai/gpt-image-2"].price is not None
    assert entries["openai/gpt-image-2"].price.unit == "token"
    for model in MODELS:
        entry = entries[model.id]
        assert entry.price == model.price
        assert entry.price_source == "live"
        assert entry.aspect_ratios == model.aspect_ratios
        assert entry.output_formats == model.output_formats
        assert entry.max_references == model.max_references
        assert entry.passthrough == model.passthrough
        assert entry.provider == "Black Forest Labs"
        assert entry.note is None
        assert entry.fetched_at is not None
        assert entry.alias == model.alias
    routes = [r.route for r in sandbox.requests]
    assert routes.count("image-models") == 1
    assert routes.count("endpoints") == len(sandbox_catalog.SANDBOX_MODELS)
    assert all("authorization" not in r.headers for r in sandbox.requests)


def test_passthrough_follows_the_endpoint() -> None:
    with Sandbox(SandboxConfig(port=0, size_passthrough=False)) as sb:
        entry = fetch_catalog(sb.base_url)[PRO]
    assert "width" not in entry.passthrough
    assert "prompt_upsampling" in entry.passthrough


def test_load_catalog_live_then_cached(sandbox: Sandbox) -> None:
    first = load_catalog(sandbox.base_url, now=NOW)
    assert first.source == "live"
    assert first.warnings == ()
    assert first.age == timedelta(0)
    assert cache_path(sandbox.base_url).is_file()
    count = len(sandbox.requests)
    second = load_catalog(sandbox.base_url, now=NOW + timedelta(hours=23))
    assert second.source == "cache"
    assert second.age == timedelta(hours=23)
    assert len(sandbox.requests) == count  # fresh: no network
    assert second.entries == first.entries
    third = load_catalog(sandbox.base_url, now=NOW + timedelta(hours=24))
    assert third.source == "live"
    assert len(sandbox.requests) > count


# -- odd shapes through MockTransport --------------------------------------------------------------


def test_a_fifth_model_with_a_megapixel_price(api: FakeApi) -> None:
    api.models.append(
        record("acme/painter", input_references={"type": "range", "min": 0, "max": 2})
    )
    api.endpoints["acme/painter"] = {
        "id": "acme/painter",
        "endpoints": [endpoint([line("output_image", 0.02), line("input_image", 0.01)], "acme")],
    }
    entries = fetch_catalog(BASE, transport=api.transport())
    painter = entries["acme/painter"]
    assert painter.price == PriceRule(20_000, 20_000, 10_000)
    assert painter.price_source == "live"
    assert painter.max_references == 2
    assert painter.aspect_ratios == ("1:1", "16:9")
    assert painter.provider == "Acme"
    assert painter.alias is None
    assert len(entries) == 5


def test_a_fifth_model_priced_per_token(api: FakeApi) -> None:
    api.models.append(record("google/gemini-image"))
    api.endpoints["google/gemini-image"] = {
        "id": "google/gemini-image",
        "endpoints": [endpoint([line("output_image", 0.00006, unit="token")], "google-ai-studio")],
    }
    entry = fetch_catalog(BASE, transport=api.transport())["google/gemini-image"]
    assert entry.price == PriceRule(245_760, 245_760, 245_760, unit="token")
    assert entry.price_source == "live"


def test_a_fifth_model_priced_per_request_has_no_price(api: FakeApi) -> None:
    api.models.append(record("acme/vague"))
    api.endpoints["acme/vague"] = {
        "id": "acme/vague",
        "endpoints": [endpoint([line("output_image", 0.02, unit="request")], "acme")],
    }
    entry = fetch_catalog(BASE, transport=api.transport())["acme/vague"]
    assert entry.price is None
    assert entry.price_source is None
    assert entry.note is not None
    assert "cannot be read as a price" in entry.note


def test_a_zero_live_price_is_not_believed(api: FakeApi) -> None:
    api.endpoints[PRO]["endpoints"][0]["pricing"] = [line("output_image", 0)]
    api.models.append(record("acme/free"))
    api.endpoints["acme/free"] = {
        "id": "acme/free",
        "endpoints": [endpoint([line("output_image", 0), line("input_image", 0)], "acme")],
    }
    entries = fetch_catalog(BASE, transport=api.transport())
    pro = embedded_model("pro")
    assert pro is not None
    assert entries[PRO].price == pro.price
    assert entries[PRO].price_source == "embedded"
    assert entries[PRO].note == catalog_fetch.ZERO_NOTE
    assert entries["acme/free"].price is None
    assert "$0" in (entries["acme/free"].note or "")


def test_ambiguous_flux_lines_fall_back_to_embedded_prices(api: FakeApi) -> None:
    api.endpoints[PRO] = {
        "id": PRO,
        "endpoints": [
            endpoint(
                [
                    line("output_image", 0.03, variant="1k"),
                    line("output_image", 0.045, variant="2k"),
                ]
            )
        ],
    }
    entry = fetch_catalog(BASE, transport=api.transport())[PRO]
    assert entry.price == embedded_model(PRO).price  # type: ignore[union-attr]
    assert entry.price_source == "embedded"
    assert entry.note == UNMAPPED_NOTE
    assert entry.passthrough == ("steps",)  # the endpoint itself was readable


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(httpx.Response(500, json={"error": {"code": 500, "message": "x"}}), id="500"),
        pytest.param(
            httpx.Response(200, text="<html>hi</html>", headers={"content-type": "text/html"}),
            id="html",
        ),
        pytest.param(
            httpx.Response(
                200,
                content=b'{"id":"x","endpoints":[{"pricing":[{"billable":"output_image","unit":"megapixel","cost_usd":NaN}]}]}',
                headers={"content-type": "application/json"},
            ),
            id="nan",
        ),
        pytest.param(httpx.Response(200, json={"id": PRO}), id="no endpoints"),
        pytest.param(httpx.Response(200, json=["not", "an", "object"]), id="list"),
    ],
)
def test_unreadable_flux_endpoints_keep_the_embedded_record(
    api: FakeApi, response: httpx.Response
) -> None:
    api.overrides[f"/images/models/{KLEIN}/endpoints"] = response
    entries = fetch_catalog(BASE, transport=api.transport())
    klein = entries[KLEIN]
    embedded = embedded_model(KLEIN)
    assert embedded is not None
    assert klein.price == embedded.price
    assert klein.price_source == "embedded"
    assert klein.passthrough == embedded.passthrough
    assert klein.note is not None
    assert "using the embedded prices" in klein.note
    assert entries[PRO].price_source == "live"  # the others are unaffected


def test_several_endpoints_choose_black_forest_labs(api: FakeApi) -> None:
    api.endpoints[PRO] = {
        "id": PRO,
        "endpoints": [
            endpoint(
                [line("output_image", 0.05), line("input_reference", 0.05)], "reseller", ["x"]
            ),
            endpoint([FIRST, ADDITIONAL, REFERENCE], passthrough=["seed_mode"]),
        ],
    }
    entry = fetch_catalog(BASE, transport=api.transport())[PRO]
    assert entry.price == PriceRule(30_000, 15_000, 15_000)
    assert entry.passthrough == ("seed_mode",)


def test_several_other_providers_that_disagree_give_no_price(api: FakeApi) -> None:
    api.models.append(record("acme/painter"))
    api.endpoints["acme/painter"] = {
        "id": "acme/painter",
        "endpoints": [
            endpoint([line("output_image", 0.02), line("input_image", 0.01)], "one", ["a", "b"]),
            endpoint([line("output_image", 0.03), line("input_image", 0.01)], "two", ["b"]),
        ],
    }
    entry = fetch_catalog(BASE, transport=api.transport())["acme/painter"]
    assert entry.price is None
    assert entry.passthrough == ("b",)
    assert entry.provider is None
    api.endpoints["acme/painter"]["endpoints"][1]["pricing"][0]["cost_usd"] = 0.02
    agreed = fetch_catalog(BASE, transport=api.transport())["acme/painter"]
    assert agreed.price == PriceRule(20_000, 20_000, 10_000)


def test_odd_model_records_are_skipped_with_a_note(api: FakeApi) -> None:
    api.models += [
        "a string",
        {"name": "no id"},
        {"id": "../../key", "supported_parameters": {}},
        record("acme/broken", aspect_ratio={"type": "range", "min": 1}),
        {"id": "acme/noparams"},
    ]
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert set(catalog.entries) == {m.id for m in MODELS}
    assert len(catalog.notes) == 5
    assert catalog.warnings == ()
    assert not any("key" in str(r.url) for r in api.requests)


def test_an_unreadable_flux_record_keeps_the_embedded_one(api: FakeApi) -> None:
    api.models[0] = {"id": PRO, "name": "FLUX.2 Pro", "supported_parameters": "all of them"}
    entry = fetch_catalog(BASE, transport=api.transport())[PRO]
    assert entry.price_source == "embedded"
    assert entry.max_references == 8
    assert entry.note is not None
    assert "could not be read" in entry.note


def test_a_flux_model_missing_from_the_list_is_kept(api: FakeApi) -> None:
    api.models = api.models[:1]
    entries = fetch_catalog(BASE, transport=api.transport())
    assert set(entries) == {m.id for m in MODELS}
    klein = entries[KLEIN]
    assert klein.note is not None
    assert "not in the catalog" in klein.note


def test_live_capabilities_win_over_the_embedded_ones(api: FakeApi) -> None:
    api.models[3] = record(KLEIN, input_references={"type": "range", "min": 0, "max": 6})
    del api.models[3]["supported_parameters"]["output_format"]  # absent key = unsupported
    entry = fetch_catalog(BASE, transport=api.transport())[KLEIN]
    assert entry.max_references == 6
    assert entry.output_formats == ()


def test_server_text_is_cleaned(api: FakeApi) -> None:
    api.models[0] = {**api.models[0], "name": "\x1b[31mPro\x1b[0m\nFLUX"}
    api.models[0]["supported_parameters"]["aspect_ratio"]["values"] = ["1:1", "\x1b]8;;x\x07"]
    entry = fetch_catalog(BASE, transport=api.transport())[PRO]
    assert entry.name == "Pro FLUX"
    assert entry.aspect_ratios == ("1:1",)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"error": {"code": 500, "message": "Internal Server Error"}}),
        httpx.Response(200, text="<html>maintenance</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, json={"models": []}),
        httpx.Response(
            200, content=b'{"data": [NaN]}', headers={"content-type": "application/json"}
        ),
        httpx.Response(301, headers={"location": "https://elsewhere.test/"}),
    ],
)
def test_a_broken_model_list_is_unavailable(api: FakeApi, response: httpx.Response) -> None:
    api.overrides["/images/models"] = response
    with pytest.raises(CatalogUnavailable) as caught:
        fetch_catalog(BASE, transport=api.transport())
    assert "openrouter.test" in caught.value.message
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert catalog.source == "embedded"
    assert catalog.entries == embedded_catalog()
    assert len(catalog.warnings) == 1
    assert "embedded" in catalog.warnings[0]


def test_a_network_failure_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    catalog = load_catalog(BASE, transport=httpx.MockTransport(refuse), now=NOW)
    assert catalog.source == "embedded"
    assert "connection refused" in catalog.warnings[0]


def test_fetch_timeout_is_passed_through(api: FakeApi) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions.get("timeout"))
        return api.handler(request)

    fetch_catalog(BASE, transport=httpx.MockTransport(handler), timeout=3.5)
    assert seen
    assert all(t["read"] == 3.5 for t in seen)
