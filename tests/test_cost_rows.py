"""The rows of the cost tables as text: labels, sizes and prices before; charges and their
difference from the estimate after."""

from __future__ import annotations

from flux_cli.cost_rows import (
    Charged,
    charged_rows,
    charged_text,
    charged_total,
    difference_text,
    duration_text,
    estimate_rows,
    none_billed,
    numbered_lines,
    reference_label,
    sum_line,
)
from flux_cli.embedded_catalog import PriceRule
from flux_cli.generation import plan_generation, resolve_model
from flux_cli.inputs import Reference
from flux_cli.openrouter.client import ImageResult
from flux_cli.openrouter.errors import ConnectionFailedError, OutcomeUnknownError
from flux_cli.openrouter.wire import Usage
from flux_cli.pricing import estimate
from flux_cli.spending import Outcome

RULE = PriceRule(first_output_mp=30_000, extra_output_mp=15_000, input_mp=15_000)


def test_one_output_is_labelled_plainly_with_its_seed() -> None:
    rows = estimate_rows(estimate(RULE, (1024, 1024)), seeds=[42])
    assert [(r.label, r.size, r.mp, r.billed_mp, r.price) for r in rows] == [
        ("output (seed 42)", "1024×1024", "1.00", "1", "$0.030")
    ]


def test_several_outputs_are_numbered_and_only_the_first_names_its_references() -> None:
    prices = estimate(RULE, (1024, 1024), references=[(512, 512)], count=2)
    rows = estimate_rows(prices, seeds=(), reference_labels=["fox.png (12 KB png sent)"], count=2)
    assert [r.label for r in rows] == [
        "output 1",
        "  reference 1: fox.png (12 KB png sent)",
        "output 2",
        "  reference 1",
    ]


def test_the_sum_line_shows_one_call_and_how_many() -> None:
    assert sum_line(estimate(RULE, (1024, 1024), references=[(512, 512)])) == (
        "$0.03 output + $0.015 = $0.045"
    )
    assert sum_line(estimate(RULE, (1024, 1024), count=3)) == "3 × ($0.03 output) = $0.09"


def test_a_reference_says_what_is_sent_of_it() -> None:
    local = Reference(
        "fox.png", "data:", (2048, 2048), (1024, 1024), sent_bytes=300_000, sent_format="jpeg"
    )
    assert reference_label(local) == "fox.png (from 2048×2048, 293 KB jpeg sent)"
    same = Reference("cat.png", "data:", (64, 64), (64, 64), sent_bytes=10, sent_format="png")
    assert reference_label(same) == "cat.png (1 KB png sent)"
    remote = Reference("https://example.com/a.png", "https://example.com/a.png")
    assert reference_label(remote) == (
        "https://example.com/a.png (sent as a URL; size unknown, counted as 1 MP)"
    )


def _result(cost: int | None) -> ImageResult:
    return ImageResult(
        data=b"",
        format="png",
        width=1024,
        height=1024,
        media_type="image/png",
        usage=Usage(cost_micros=cost),
        generation_id="gen-1",
        provider="Black Forest Labs",
        route="images",
        elapsed_s=0.25,
        attempts=1,
    )


def test_charged_rows_split_the_estimate_and_say_what_each_call_cost() -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a fox", seed=1, count=3)
    outcomes = [
        Outcome(0, 1, result=_result(31_000), path="a.png", fmt="jpeg", converted_from="png"),
        Outcome(1, 2, error=OutcomeUnknownError("cut off", generation_id="gen-2")),
        Outcome(2, 3, error=ConnectionFailedError("refused")),
    ]
    rows = charged_rows(plan, outcomes)
    share = plan.estimate.total_micros // 3
    assert rows[0] == Charged(
        "output 1 (png→jpeg)", "a.png", share, 31_000, "gen-1", "Black Forest Labs", 0.25
    )
    assert (rows[1].charged_micros, rows[1].generation_id, rows[1].status) == (
        None,
        "gen-2",
        "not written",
    )
    assert rows[2].charged_micros == 0
    assert charged_total(rows) == (31_000, False)
    assert none_billed(rows) is None
    assert none_billed(rows[2:]) == "not charged: the call failed and was not billed"
    assert none_billed([rows[2], rows[2]]) == (
        "not charged: all 2 calls failed and none was billed"
    )


def test_charges_read_as_text() -> None:
    assert charged_text(None) == "unknown (may have been billed)"
    assert charged_text(30_000) == "$0.030"
    assert difference_text(None, 30_000) == ""
    assert difference_text(30_000, 30_000) == "±$0.000"
    assert difference_text(32_000, 30_000) == "+$0.002"
    assert difference_text(28_000, 30_000) == "-$0.002"
    assert duration_text(None) == "—"
    assert duration_text(0.25) == "250 ms"
    assert duration_text(12.34) == "12.3 s"


def test_a_charge_not_believed_counts_at_the_estimate() -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a fox", seed=1, count=1)
    doubted = Outcome(0, 1, result=_result(None), path="a.png", charge_doubt="too much")
    (row,) = charged_rows(plan, [doubted])
    assert (row.charged_micros, row.doubted) == (None, True)
    assert charged_text(row.charged_micros, row.doubted) == (
        "reported figure not believed; the call counts at its estimate"
    )
    (plain,) = charged_rows(plan, [Outcome(0, 1, result=_result(None), path="a.png")])
    assert not plain.doubted


def test_lines_are_numbered_by_output_and_reference() -> None:
    prices = estimate(RULE, (1024, 1024), references=[(512, 512), (256, 256)], count=2)
    assert [(line.kind, o, r) for line, o, r in numbered_lines(prices)] == [
        ("output", 1, 0),
        ("reference", 1, 1),
        ("reference", 1, 2),
        ("output", 2, 0),
        ("reference", 2, 1),
        ("reference", 2, 2),
    ]
