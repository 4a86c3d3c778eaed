"""The megapixel pricing rule, table-driven from docs/openrouter-flux2.md#worked-examples and README.md#what-it-costs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from flux_cli.embedded_catalog import MODELS, embedded_model
from flux_cli.pricing import (
    billed_megapixels,
    estimate,
    format_usd,
    image_tokens,
    micros_to_usd,
    usd_to_micros,
)

# docs/openrouter-flux2.md#worked-examples, output only. flex is OpenRouter's $0.06/MP (the "6c, launch" column).
WORKED = [
    # size,        pro,     max,     flex,    klein-4b
    ((512, 512), "0.030", "0.070", "0.060", "0.014"),
    ((1024, 768), "0.030", "0.070", "0.060", "0.014"),
    ((1024, 1024), "0.030", "0.070", "0.060", "0.014"),
    ((1536, 1024), "0.045", "0.100", "0.120", "0.015"),
    ((1920, 1080), "0.045", "0.100", "0.120", "0.015"),
    ((1440, 1440), "0.045", "0.100", "0.120", "0.015"),
    ((1536, 1536), "0.060", "0.130", "0.180", "0.016"),
    ((2048, 1152), "0.060", "0.130", "0.180", "0.016"),
    ((2048, 2048), "0.075", "0.160", "0.240", "0.017"),
]


@pytest.mark.parametrize(("size", "pro", "max_", "flex", "klein"), WORKED)
def test_worked_examples(size: tuple[int, int], pro: str, max_: str, flex: str, klein: str) -> None:
    for alias, expected in (("pro", pro), ("max", max_), ("flex", flex), ("klein", klein)):
        model = embedded_model(alias)
        assert model is not None
        got = micros_to_usd(estimate(model.price, size).total_micros)
        assert got == Decimal(expected), (alias, size)


def test_issue_example_max_with_two_references() -> None:
    model = embedded_model("max")
    assert model is not None
    est = estimate(model.price, (2048, 2048), [(1024, 1024), (1536, 1024)])
    assert [format_usd(line.micros) for line in est.lines] == ["$0.160", "$0.030", "$0.060"]
    assert format_usd(est.total_micros) == "$0.250"


def test_count_multiplies_whole_calls() -> None:
    model = embedded_model("pro")
    assert model is not None
    est = estimate(model.price, (1024, 1024), [(1024, 1024)], count=3)
    assert est.total_micros == 3 * (30_000 + 15_000)
    assert est.output_micros == 90_000
    assert est.reference_micros == 45_000


@pytest.mark.parametrize(
    ("w", "h", "mp"),
    [(1, 1, 1), (1024, 1024, 1), (1024, 1025, 2), (2048, 2048, 4), (2048, 2049, 5), (64, 64, 1)],
)
def test_billed_megapixels_round_up(w: int, h: int, mp: int) -> None:
    assert billed_megapixels(w, h) == mp
    assert image_tokens(w, h) == 4096 * mp


def test_nonpositive_size_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        billed_megapixels(0, 10)


@pytest.mark.parametrize(
    ("value", "micros"),
    [("0.03", 30_000), (Decimal("0.014"), 14_000), ("0.0000005", 1), (0, 0), ("1.5", 1_500_000)],
)
def test_usd_to_micros(value: str | Decimal | int, micros: int) -> None:
    assert usd_to_micros(value) == micros


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity", "1e999999", "abc"])
def test_usd_to_micros_refuses_non_finite(bad: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        usd_to_micros(bad)


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (30_000, "$0.030"),
        (14_500, "$0.0145"),
        (0, "$0.000"),
        (-15_000, "-$0.015"),
        (1, "$0.000001"),
    ],
)
def test_format_usd(micros: int, text: str) -> None:
    assert format_usd(micros) == text


def test_every_model_has_a_distinct_alias() -> None:
    assert len({m.alias for m in MODELS}) == len(MODELS) == 4
