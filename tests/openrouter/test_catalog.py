"""The catalog: pricing lines, the live fetch (sandbox and odd shapes), the cache, lookups."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux_cli.embedded_catalog import MODELS, PriceRule, embedded_model
from flux_cli.errors import UsageError
from flux_cli.openrouter import catalog as C
from flux_cli.openrouter.catalog import (
    UNMAPPED_NOTE,
    Catalog,
    CatalogUnavailable,
    cache_path,
    embedded_catalog,
    fetch_catalog,
    load_catalog,
    price_rule_from_lines,
    resolve,
)
from flux_cli.openrouter.wire import loads
from flux_cli.sandbox import Sandbox, SandboxConfig
from flux_cli.sandbox import catalog as sandbox_catalog
from tests.conftest import CANARY_KEY

BASE = "https://openrouter.test/api/v1"
PRO = "black-forest-labs/flux.2-pro"
KLEIN = "black-forest-labs/flux.2-klein-4b"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def line(billable: str, cost: object, unit: str = "megapixel", **extra: object) -> dict[str, Any]:
    return {"billable": billable, "unit": unit, "cost_usd": cost, **extra}


FIRST = line("output_image", 0.03, variant="first")
ADDITIONAL = line("output_image", 0.015, variant="additional")
REFERENCE = line("input_reference", 0.015)


# -- pricing lines ----------------------------------------------------------------------------------


def test_the_sandbox_lines_map_onto_what_the_sandbox_charges_for_every_model() -> None:
    embedded = {m.id: m.price for m in MODELS}
    for model in sandbox_catalog.SANDBOX_MODELS:
        lines = loads(json.dumps(sandbox_catalog.pricing_lines(model)).encode())
        rule = price_rule_from_lines(
            lines, accepts_references=model.max_references > 0, embedded=embedded.get(model.id)
        )
        assert rule == model.price, model.id


SINGLE = line("output_image", 0.03)  # flux.2-pro as two sources show it


def test_the_single_flux_line_confirms_the_embedded_rule() -> None:
    pro = embedded_model("pro")
    assert pro is not None
    assert price_rule_from_lines([SINGLE], embedded=pro.price) == pro.price
    # A different single price is the live price for every megapixel; references at the
    # embedded input price (no input line says otherwise).
    assert price_rule_from_lines([line("output_image", 0.04)], embedded=pro.price) == PriceRule(
        40_000, 40_000, 15_000
    )
    # Without an embedded rule, references cost the output rate (an upper bound).
    assert price_rule_from_lines([SINGLE]) == PriceRule(30_000, 30_000, 30_000)


@pytest.mark.parametrize(
    ("lines", "rule"),
    [
        ([FIRST, ADDITIONAL, REFERENCE], PriceRule(30_000, 15_000, 15_000)),
        ([REFERENCE, ADDITIONAL, FIRST], PriceRule(30_000, 15_000, 15_000)),  # any order
        (
            [line("output_image", 0.06), line("input_image", 0.06)],
            PriceRule(60_000, 60_000, 60_000),
        ),
        (
            [FIRST, ADDITIONAL, REFERENCE, line("input_text", 0, unit="token")],
            PriceRule(30_000, 15_000, 15_000),
        ),
        (
            [
                line("output_image", "0.014", variant="first"),
                line("output_image", Decimal("0.001"), variant="additional"),
                line("input_reference", 1 / 1000),
            ],
            PriceRule(14_000, 1_000, 1_000),
        ),
        ([line("output_image", 0), line("input_reference", 0)], PriceRule(0, 0, 0)),
        ([FIRST, ADDITIONAL], PriceRule(30_000, 15_000, 30_000)),  # no reference line
        (
            [FIRST, ADDITIONAL, REFERENCE, line("input_text", 0.000001, unit="token")],
            PriceRule(30_000, 15_000, 15_000, prompt_token=1),
        ),
        # The recorded gpt-image-2 lines: 4,096 tokens per megapixel.
        (
            [
                line("input_image", 0.000008, unit="token"),
                line("input_text", 0.000005, unit="token"),
                line("output_image", 0.00003, unit="token"),
            ],
            PriceRule(122_880, 122_880, 32_768, unit="token", prompt_token=5),
        ),
        # The recorded Gemini line: no input line, references at the output rate.
        (
            [line("output_image", 0.00006, unit="token")],
            PriceRule(245_760, 245_760, 245_760, unit="token"),
        ),
        # Sub-micro token prices round up per megapixel (klein's $0.00000342 per token).
        (
            [line("output_image", "0.00000342", unit="token")],
            PriceRule(14_009, 14_009, 14_009, unit="token"),
        ),
        (
            [line("output_image", 0.05, unit="image"), line("input_image", 0.01, unit="image")],
            PriceRule(50_000, 0, 10_000, unit="image"),
        ),
    ],
)
def test_unambiguous_lines(lines: list[dict[str, Any]], rule: PriceRule) -> None:
    assert price_rule_from_lines(lines) == rule


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([line("output_image", 0.03, unit="image"), REFERENCE], id="per image"),
        pytest.param([line("output_image", 0.00000732, unit="token"), REFERENCE], id="per token"),
        pytest.param(
            [FIRST, ADDITIONAL, line("input_reference", 0.015, unit="image")], id="ref per image"
        ),
        pytest.param([FIRST, line("output_image", 0.05, variant="2k"), REFERENCE], id="2k variant"),
        pytest.param(
            [
                line("output_image", 0.03, variant="1k"),
                line("output_image", 0.12, variant="4k"),
                REFERENCE,
            ],
            id="tiers",
        ),
        pytest.param([FIRST, REFERENCE], id="first only"),
        pytest.param([ADDITIONAL, REFERENCE], id="additional only"),
        pytest.param([FIRST, FIRST, ADDITIONAL, REFERENCE], id="duplicate first"),
        pytest.param(
            [FIRST, line("output_image", 0.07, variant="first"), ADDITIONAL, REFERENCE],
            id="conflict",
        ),
        pytest.param(
            [line("output_image", 0.03), line("output_image", 0.03), REFERENCE],
            id="duplicate plain",
        ),
        pytest.param(
            [line("output_image", 0.03), FIRST, ADDITIONAL, REFERENCE], id="plain and variants"
        ),
        pytest.param(
            [FIRST, ADDITIONAL, REFERENCE, line("input_image", 0.015)], id="two input lines"
        ),
        pytest.param(
            [FIRST, ADDITIONAL, line("input_reference", 0.015, variant="first")], id="input variant"
        ),
        pytest.param(
            [FIRST, ADDITIONAL, REFERENCE, line("request", 0.01, unit="request")], id="per request"
        ),
        pytest.param([line("output_image", -0.03), REFERENCE], id="negative"),
        pytest.param([line("output_image", Decimal("NaN")), REFERENCE], id="nan"),
        pytest.param([line("output_image", "Infinity"), REFERENCE], id="infinity"),
        pytest.param([line("output_image", True), REFERENCE], id="bool"),
        pytest.param([line("output_image", None), REFERENCE], id="null cost"),
        pytest.param([line("output_image", "cheap"), REFERENCE], id="words"),
        pytest.param([line("output_image", 0.0000001), REFERENCE], id="sub-micro"),
        pytest.param([line("output_image", 10**9), REFERENCE], id="absurd"),
        pytest.param([line("output_image", Decimal("1e999999999")), REFERENCE], id="overflow"),
        pytest.param([{"billable": "output_image", "cost_usd": 0.03}, REFERENCE], id="no unit"),
        pytest.param([line("output_image", 0.03, variant=1), REFERENCE], id="odd variant"),
        pytest.param(["output_image"], id="not objects"),
        pytest.param([], id="empty"),
    ],
)
def test_ambiguous_lines_give_no_rule(lines: list[Any]) -> None:
    assert price_rule_from_lines(lines) is None


@pytest.mark.parametrize("value", [None, "lines", {"billable": "output_image"}, 3])
def test_pricing_that_is_not_a_list(value: object) -> None:
    assert price_rule_from_lines(value) is None


def test_no_reference_line_is_fine_for_a_model_without_references() -> None:
    assert price_rule_from_lines([line("output_image", 0.02)], accepts_references=False) == (
        PriceRule(20_000, 20_000, 0)
    )


micros = st.integers(min_value=0, max_value=1_000_000_000)


@given(first=micros, extra=micros, reference=micros)
def test_sandbox_dollars_round_trip_to_exact_micros(first: int, extra: int, reference: int) -> None:
    from flux_cli.sandbox.state import usd

    rule = PriceRule(first, extra, reference)
    lines = [
        line("output_image", usd(first), variant="first"),
        line("output_image", usd(extra), variant="additional"),
        line("input_reference", usd(reference)),
    ]
    body = json.dumps(lines).encode()
    assert price_rule_from_lines(loads(body)) == rule  # Decimal, as the client parses it
    assert price_rule_from_lines(json.loads(body)) == rule  # and even from binary floats


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

Handler = Callable[[httpx.Request], httpx.Response]


def _record(model_id: str, **params: Any) -> dict[str, Any]:
    supported: dict[str, Any] = {
        "aspect_ratio": {"type": "enum", "values": ["1:1", "16:9"]},
        "output_format": {"type": "enum", "values": ["png", "jpeg"]},
        "n": {"type": "range", "min": 1, "max": 1},
        "input_references": {"type": "range", "min": 0, "max": 8},
        "seed": {"type": "boolean"},
    }
    supported.update(params)
    return {"id": model_id, "name": f"Model {model_id}", "supported_parameters": supported}


def _endpoint(
    pricing: list[Any], slug: str = "black-forest-labs", passthrough: list[str] | None = None
) -> dict[str, Any]:
    return {
        "provider_name": "Black Forest Labs" if slug == "black-forest-labs" else slug.title(),
        "provider_slug": slug,
        "allowed_passthrough_parameters": passthrough or ["steps"],
        "pricing": pricing,
    }


class FakeApi:
    """A catalog server: the FLUX records by default, with overrides per path."""

    def __init__(self) -> None:
        served = [sandbox_catalog.BY_ID[m.id] for m in MODELS]
        self.models: list[Any] = [sandbox_catalog.image_model_item(m) for m in served]
        self.endpoints: dict[str, Any] = {
            m.id: sandbox_catalog.endpoints(m, size_passthrough=True) for m in served
        }
        self.overrides: dict[str, httpx.Response] = {}
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert "authorization" not in request.headers
        path = request.url.path.removeprefix("/api/v1")
        if path in self.overrides:
            return self.overrides[path]
        if path == "/images/models":
            return httpx.Response(200, json={"data": self.models})
        model_id = path.removeprefix("/images/models/").removesuffix("/endpoints")
        if model_id in self.endpoints:
            return httpx.Response(200, json=self.endpoints[model_id])
        return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def test_a_fifth_model_with_a_megapixel_price(api: FakeApi) -> None:
    api.models.append(
        _record("acme/painter", input_references={"type": "range", "min": 0, "max": 2})
    )
    api.endpoints["acme/painter"] = {
        "id": "acme/painter",
        "endpoints": [_endpoint([line("output_image", 0.02), line("input_image", 0.01)], "acme")],
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
    api.models.append(_record("google/gemini-image"))
    api.endpoints["google/gemini-image"] = {
        "id": "google/gemini-image",
        "endpoints": [_endpoint([line("output_image", 0.00006, unit="token")], "google-ai-studio")],
    }
    entry = fetch_catalog(BASE, transport=api.transport())["google/gemini-image"]
    assert entry.price == PriceRule(245_760, 245_760, 245_760, unit="token")
    assert entry.price_source == "live"


def test_a_fifth_model_priced_per_request_has_no_price(api: FakeApi) -> None:
    api.models.append(_record("acme/vague"))
    api.endpoints["acme/vague"] = {
        "id": "acme/vague",
        "endpoints": [_endpoint([line("output_image", 0.02, unit="request")], "acme")],
    }
    entry = fetch_catalog(BASE, transport=api.transport())["acme/vague"]
    assert entry.price is None
    assert entry.price_source is None
    assert entry.note is not None
    assert "cannot be read as a price" in entry.note


def test_a_zero_live_price_is_not_believed(api: FakeApi) -> None:
    api.endpoints[PRO]["endpoints"][0]["pricing"] = [line("output_image", 0)]
    api.models.append(_record("acme/free"))
    api.endpoints["acme/free"] = {
        "id": "acme/free",
        "endpoints": [_endpoint([line("output_image", 0), line("input_image", 0)], "acme")],
    }
    entries = fetch_catalog(BASE, transport=api.transport())
    pro = embedded_model("pro")
    assert pro is not None
    assert entries[PRO].price == pro.price
    assert entries[PRO].price_source == "embedded"
    assert entries[PRO].note == C.ZERO_NOTE
    assert entries["acme/free"].price is None
    assert "$0" in (entries["acme/free"].note or "")


def test_ambiguous_flux_lines_fall_back_to_embedded_prices(api: FakeApi) -> None:
    api.endpoints[PRO] = {
        "id": PRO,
        "endpoints": [
            _endpoint(
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
            _endpoint(
                [line("output_image", 0.05), line("input_reference", 0.05)], "reseller", ["x"]
            ),
            _endpoint([FIRST, ADDITIONAL, REFERENCE], passthrough=["seed_mode"]),
        ],
    }
    entry = fetch_catalog(BASE, transport=api.transport())[PRO]
    assert entry.price == PriceRule(30_000, 15_000, 15_000)
    assert entry.passthrough == ("seed_mode",)


def test_several_other_providers_that_disagree_give_no_price(api: FakeApi) -> None:
    api.models.append(_record("acme/painter"))
    api.endpoints["acme/painter"] = {
        "id": "acme/painter",
        "endpoints": [
            _endpoint([line("output_image", 0.02), line("input_image", 0.01)], "one", ["a", "b"]),
            _endpoint([line("output_image", 0.03), line("input_image", 0.01)], "two", ["b"]),
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
        _record("acme/broken", aspect_ratio={"type": "range", "min": 1}),
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
    api.models[3] = _record(KLEIN, input_references={"type": "range", "min": 0, "max": 6})
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
    api.models.append(_record("google/gemini-image"))
    api.endpoints["google/gemini-image"] = {
        "id": "g",
        "endpoints": [_endpoint([line("output_image", 1, unit="token")], "google")],
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


# -- lookups -----------------------------------------------------------------------------------------


def test_resolve_aliases_ids_and_case() -> None:
    catalog = Catalog(embedded_catalog(), "embedded")
    assert resolve(catalog, "pro").id == PRO
    assert resolve(catalog, " KLEIN ").id == KLEIN
    assert resolve(catalog, "Black-Forest-Labs/FLUX.2-Max").id == "black-forest-labs/flux.2-max"
    assert resolve(catalog.entries, PRO).id == PRO


def test_resolve_a_model_only_the_live_catalog_knows(api: FakeApi) -> None:
    api.models.append(_record("acme/painter"))
    catalog = load_catalog(BASE, transport=api.transport(), now=NOW)
    assert resolve(catalog, "acme/painter").name == "Model acme/painter"


def test_resolve_unknown_lists_the_known_models() -> None:
    with pytest.raises(UsageError) as caught:
        resolve(Catalog(embedded_catalog(), "embedded"), "flux.3-ultra")
    assert caught.value.message == "unknown model 'flux.3-ultra'"
    assert caught.value.hint is not None
    assert "pro (black-forest-labs/flux.2-pro)" in caught.value.hint
    assert "klein" in caught.value.hint


def test_catalog_module_keeps_heavy_imports_lazy() -> None:
    import subprocess
    import sys

    code = "import sys, flux_cli.openrouter.catalog; print('httpx' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_fetch_timeout_is_passed_through(api: FakeApi) -> None:
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions.get("timeout"))
        return api.handler(request)

    fetch_catalog(BASE, transport=httpx.MockTransport(handler), timeout=3.5)
    assert seen
    assert all(t["read"] == 3.5 for t in seen)


def test_embedded_catalog_matches_models() -> None:
    entries = embedded_catalog()
    assert [e.id for e in entries.values()] == [m.id for m in MODELS]
    assert all(e.price_source == "embedded" and e.fetched_at is None for e in entries.values())
    assert timedelta(hours=24) == C.DEFAULT_TTL
