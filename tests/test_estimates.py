"""A call's price without a prompt or a key: references by size or by file, and the record."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from flux_cli import inputs
from flux_cli.errors import UsageError
from flux_cli.estimates import estimate_json, is_size, plan_estimate, reference_sizes
from flux_cli.generation import plan_generation, resolve_model


def test_a_size_is_told_from_a_file_name() -> None:
    assert is_size("1024x768")
    assert is_size(" 640 × 480 ")
    assert not is_size("fox.png")
    assert not is_size("1024x")


def test_references_are_billed_at_the_size_they_are_sent(tmp_path: Path) -> None:
    path = tmp_path / "ref.png"
    Image.new("RGB", (128, 96)).save(path)
    max_pixels = inputs.max_pixels_for(None)
    sizes, labels = reference_sizes(
        ["1024x1024", "https://example.com/a.png", str(path), "4096x4096"], max_pixels
    )
    assert sizes[:3] == [(1024, 1024), inputs.ASSUMED_REMOTE_SIZE, (128, 96)]
    assert sizes[3][0] * sizes[3][1] <= max_pixels
    assert labels == [
        "1024x1024",
        "https://example.com/a.png (size unknown, counted as 1 MP)",
        str(path),
        "4096x4096 (shrunk)",
    ]
    with pytest.raises(UsageError, match="must be positive"):
        reference_sizes(["0x10"], max_pixels)


def test_the_record_has_a_line_per_output_and_reference_that_sums_to_the_total() -> None:
    plan = plan_generation(
        model=resolve_model("pro"),
        prompt=None,
        seed=0,
        count=2,
        references=["ref"],
        reference_sizes=[(1024, 1024)],
        estimate_only=True,
    )
    record = estimate_json(plan, ["ref (1024x1024)"])
    assert [(line["kind"], line["output"]) for line in record["lines"]] == [
        ("output", 1), ("reference", 1), ("output", 2), ("reference", 2),
    ]  # fmt: skip
    assert record["lines"][1]["label"] == "ref (1024x1024)"
    assert sum(line["micros"] for line in record["lines"]) == record["total_micros"]
    assert record["model"] == "black-forest-labs/flux.2-pro"


def test_a_cost_plan_is_made_offline_from_names_and_sizes() -> None:
    said: list[str] = []
    plan, labels = plan_estimate(
        "pro",
        aspect_ratio=None,
        size="1024x1024",
        count=2,
        images=["512x512"],
        max_input_mp=None,
        route="images",
        warn=said.append,
    )
    assert (plan.model.alias, plan.count, plan.size) == ("pro", 2, (1024, 1024))
    assert labels == ["512x512"]
    assert said == list(plan.notes)
    with pytest.raises(UsageError, match="--api must be images or chat, got 'ftp'"):
        plan_estimate(
            "pro", aspect_ratio=None, size=None, count=1, images=[], max_input_mp=None,
            route="ftp", warn=said.append,
        )  # fmt: skip
    with pytest.raises(UsageError):
        plan_estimate(
            "pro", aspect_ratio=None, size="huge", count=1, images=[], max_input_mp=None,
            route="images", warn=said.append,
        )  # fmt: skip
