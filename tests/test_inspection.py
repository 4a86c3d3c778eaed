"""What an image carries, read and checked: its record, and the facts of the table as text."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flux_cli.errors import UsageError
from flux_cli.inspection import (
    asked_for,
    cost_line,
    credentials_line,
    facts,
    inspect_file,
    inspection_record,
)
from flux_cli.metadata import embed
from flux_cli.provenance import Credentials
from tests.test_metadata import RECIPE, encode


def test_a_flux2_image_gives_its_recipe_as_facts_and_a_record(tmp_path: Path) -> None:
    path = tmp_path / "fox.png"
    path.write_bytes(embed(encode("png"), "png", RECIPE))
    inspection = inspect_file(path)
    assert inspection.notes == ()
    rows = {fact.what: fact for fact in facts(inspection)}
    assert list(rows)[:3] == ["file", "image", "credentials"]
    assert rows["image"].value == "PNG, 96×64"
    assert not rows["image"].untrusted
    assert rows["prompt"].value == RECIPE.prompt
    assert rows["prompt"].untrusted
    assert rows["asked for"].value == "aspect ratio 3:2"
    assert rows["cost"].value == "$0.030 charged, $0.030 estimated"
    assert rows["credentials"].value == "none"
    record = inspection_record(inspection)
    assert record["recipe"]["seed"] == RECIPE.seed
    assert (record["charged_micros"], record["estimate_micros"]) == (30_000, 30_000)
    assert record["sidecar"] is None


def test_an_image_without_a_recipe_says_so_in_a_note(tmp_path: Path) -> None:
    path = tmp_path / "plain.jpeg"
    path.write_bytes(encode("jpeg"))
    inspection = inspect_file(path)
    assert inspection.notes == (
        f"{path} carries no flux2 metadata: not made by flux2, made with --metadata none, "
        "or stripped since",
    )
    assert [fact.what for fact in facts(inspection)][-1] == "recipe"
    assert inspection_record(inspection)["charged_usd"] is None


def test_a_file_that_is_not_an_image_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(b"not an image at all")
    with pytest.raises(UsageError, match=r"notes\.png is not a usable image"):
        inspect_file(path)


def test_the_size_asked_for_and_the_cost_read_as_text() -> None:
    assert asked_for(replace(RECIPE, size="1024x768")) == "--size 1024x768"
    assert asked_for(replace(RECIPE, size=None, aspect_ratio=None)) is None
    assert cost_line(replace(RECIPE, estimate_usd=None)) == "$0.030 charged"


def test_the_credentials_in_one_line() -> None:
    assert credentials_line(Credentials(present=False)) == "none"
    unchecked = Credentials(present=True, where="caBX box", note="install c2pa-python to check")
    assert credentials_line(unchecked) == "present (caBX box); install c2pa-python to check"
    valid = Credentials(
        present=True,
        where="caBX box",
        checked=True,
        valid=True,
        signer="Black Forest Labs",
        digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    )
    assert credentials_line(valid) == (
        "valid, in the caBX box; signed by Black Forest Labs; source: trainedAlgorithmicMedia"
    )
    broken = replace(valid, valid=False, problems=("assertion.dataHash.mismatch",))
    assert credentials_line(broken).startswith("INVALID (assertion.dataHash.mismatch), in the")
    assert credentials_line(replace(valid, valid=False, state="Invalid")).startswith(
        "not valid (Invalid)"
    )
