"""Every --json output speaks one vocabulary, checked against docs/schema/records.schema.json;
a batch's result lines are a batch again; a dry run of a batch checks every line."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from flux_cli.sandbox import Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e

SCHEMA_PATH = Path(__file__).parents[2] / "docs" / "schema" / "records.schema.json"


def _validator(record: str) -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator({**schema, "$ref": f"#/$defs/{record}"})


def _lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _valid(record: str, text: str) -> list[dict[str, Any]]:
    validator = _validator(record)
    records = _lines(text)
    assert records
    for value in records:
        errors = [e.message for e in validator.iter_errors(value)]
        assert not errors, (errors, value)
    return records


def _money_agrees(record: dict[str, Any]) -> None:
    for name, micros in record.items():
        if name.endswith("_micros") and micros is not None:
            usd = record[name.removesuffix("_micros") + "_usd"]
            assert Decimal(str(usd)) * 1_000_000 == micros


def test_every_json_output_matches_the_schema(flux2: Flux2, workdir: Path) -> None:
    run = flux2("generate", "a red fox", "--json", "-n", "2", "-o", "fox-{index}.jpg")
    assert run.returncode == 0, run.stderr
    results = _valid("result", run.out)
    for record in results:
        _money_agrees(record)
        assert record["charged_micros"] == 30_000
        assert record["elapsed_s"] == round(record["elapsed_s"], 3)

    run = flux2("edit", "give it a scarf", "-i", "fox-1.jpg", "--json", "-o", "scarf.jpg")
    assert run.returncode == 0, run.stderr
    _valid("result", run.out)

    (workdir / "b.jsonl").write_text('{"prompt": "a boat"}\n{"prompt": 3}\n')
    run = flux2("generate", "--batch", "b.jsonl", "--json", "-o", "r/")
    assert run.returncode == 3, run.stderr
    assert len(_valid("result", run.out)) == 2

    run = flux2("history", "--json")
    assert run.returncode == 0, run.stderr
    rows = _valid("history_row", run.out)
    for row in rows:
        _money_agrees(row)
        assert row["elapsed_s"] is None or row["elapsed_s"] == round(row["elapsed_s"], 3)
    total = sum(row["charged_micros"] or 0 for row in rows)
    assert total == 30_000 * 3 + 45_000  # exact, where the dollar figures would not be

    for by in ("day", "model"):
        run = flux2("history", "--by", by, "--json")
        assert run.returncode == 0, run.stderr
        for group in _valid("history_group", run.out):
            assert by in group
            assert "key" not in group

    run = flux2("inspect", "fox-1.jpg", "--json")
    assert run.returncode == 0, run.stderr
    (record,) = _valid("inspect", run.out)
    assert record["charged_micros"] == 30_000
    _money_agrees(record)

    run = flux2("cost", "-m", "max", "-n", "2", "-i", "fox-1.jpg", "--json")
    assert run.returncode == 0, run.stderr
    (estimate,) = _valid("cost", run.out)
    _money_agrees(estimate)
    assert estimate["total_micros"] == sum(line["micros"] for line in estimate["lines"])


def test_the_failures_of_a_batch_are_a_batch_again(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "b.jsonl").write_text(
        '{"prompt": "a boat"}\n{"prompt": "a kite", "size": "1000x1000"}\n{"prompt": "a hat"}\n'
    )
    run = flux2("generate", "--batch", "b.jsonl", "--json", "-o", "r/")
    assert run.returncode == 3, run.stderr
    failed = [r for r in _lines(run.out) if r["status"] != "ok"]
    assert [(r["line"], r["prompt"], r["size"]) for r in failed] == [(2, "a kite", "1000x1000")]
    ok = [r for r in _lines(run.out) if r["status"] == "ok"]
    # What `jq -c 'select(.status != "ok")'` gives, fixed, and all the ok ones too: valid lines.
    again = [json.dumps({**r, "size": "1008x1008"}) for r in failed] + [json.dumps(r) for r in ok]
    rerun = flux2("generate", "--batch", "-", "-o", "again/", stdin="\n".join(again).encode())
    assert rerun.returncode == 0, rerun.stderr
    assert len(list((workdir / "again").iterdir())) == 3


def test_a_dry_run_of_a_batch_names_every_bad_line_and_exits_2(flux2: Flux2, workdir: Path) -> None:
    (workdir / "b.jsonl").write_text(
        '{"prompt": "fine"}\n{"prompt": 7}\n{"promt": "typo"}\nnot json {\n{"prompt": "x", "seed": "1"}\n'
    )
    run = flux2("generate", "--batch", "b.jsonl", "--dry-run")
    assert run.returncode == 2, run.stderr
    for number in (2, 3, 5):
        assert f"line {number}: " in run.stderr
    assert "3 of 5 batch lines are not valid (lines 2, 3, 5)" in run.stderr
    assert "nothing was sent" in run.stderr


def test_edit_batch_lines_name_their_own_images(flux2: Flux2, workdir: Path) -> None:
    assert flux2("generate", "a fox", "-o", "fox.jpg").returncode == 0
    (workdir / "e.jsonl").write_text(
        '{"prompt": "give it a hat", "images": ["fox.jpg"]}\n{"prompt": "no image"}\n'
    )
    run = flux2("edit", "--batch", "e.jsonl", "-o", "ed/", "--json")
    assert run.returncode == 3, run.stderr
    by_line = {r["line"]: r for r in _lines(run.out)}
    assert by_line[1]["status"] == "ok"
    assert by_line[2]["status"] == "failed"
    assert "images field" in by_line[2]["error"]
    run = flux2("edit", "x")
    assert run.returncode == 2
    assert "edit needs at least one reference image" in run.stderr


def test_from_an_edit_says_its_references_are_not_kept_and_takes_i(
    flux2: Flux2, workdir: Path
) -> None:
    assert flux2("generate", "a fox", "-o", "fox.jpg").returncode == 0
    assert flux2("edit", "give it a hat", "-i", "fox.jpg", "-o", "hat.jpg").returncode == 0
    run = flux2("generate", "--from", "hat.jpg", "-o", "again.jpg")
    assert run.returncode == 0, run.stderr
    assert "made from 1 reference image, which a recipe does not keep" in run.stderr
    run = flux2("edit", "--from", "hat.jpg", "-i", "fox.jpg", "-o", "again2.jpg", "--json")
    assert run.returncode == 0, run.stderr
    assert "does not keep" not in run.stderr
    (record,) = _lines(run.out)
    assert record["prompt"] == "give it a hat"
    assert record["estimate_micros"] == 45_000  # the reference is sent and billed
