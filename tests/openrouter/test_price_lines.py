"""Pricing lines: an endpoint's `pricing[]` as a price rule, or none when it is not certain."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux_cli.embedded_catalog import MODELS, PriceRule, embedded_model
from flux_cli.openrouter.price_lines import price_rule_from_lines
from flux_cli.openrouter.wire import loads
from flux_cli.sandbox import catalog as sandbox_catalog
from tests.openrouter.catalog_server import ADDITIONAL, FIRST, REFERENCE, line

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
