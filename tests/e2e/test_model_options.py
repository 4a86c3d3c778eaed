"""Model options as flags and batch fields: sent as `provider.options["black-forest-labs"]`
where the endpoint allows them (docs/openrouter-flux2.md#provider-options), refused before
sending where it does not, and kept in the recipe and the ledger row so `--from` makes the same request."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger, Row
from flux_cli.sandbox import Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e


def _bodies(sandbox: Sandbox) -> list[dict]:  # type: ignore[type-arg]
    return [r.body for r in sandbox.requests if r.path.endswith("/images")]


def test_flex_options_are_sent_and_repeated_by_from(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    flags = ["--steps", "20", "--guidance", "3.5", "--safety-tolerance", "4", "--prompt-upsampling"]
    result = flux2("generate", "a fox", "-m", "flex", "--json", *flags)
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    (body,) = _bodies(sandbox)
    assert body["provider"] == {
        "options": {
            "black-forest-labs": {
                "steps": 20,
                "guidance": 3.5,
                "safety_tolerance": 4,
                "prompt_upsampling": True,
            }
        }
    }
    path = json.loads(result.out)["path"]
    again = flux2("generate", "--from", path, "--json")
    assert again.returncode == 0, again.stderr
    first, second = _bodies(sandbox)
    assert second["provider"] == first["provider"]
    assert second["seed"] == first["seed"]
    assert second["prompt"] == first["prompt"]


def test_an_option_the_endpoint_does_not_allow_is_refused_before_sending(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    result = flux2("generate", "a fox", "-m", "klein", "--guidance", "3")
    result.assert_clean()
    assert result.returncode == 2
    assert "does not take --guidance" in result.stderr
    assert _bodies(sandbox) == []


def test_batch_lines_carry_options_and_resolution(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    lines = [
        {"prompt": "one", "model": "flex", "steps": 12},
        {"prompt": "two", "model": "black-forest-labs/flux-3-image", "resolution": "768"},
        {"prompt": "three", "model": "klein", "steps": 12},
    ]
    (workdir / "batch.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = flux2("generate", "--batch", "batch.jsonl", "--json", "-q")
    assert result.returncode != 0  # the klein line is refused
    bodies = {b["prompt"]: b for b in _bodies(sandbox)}
    assert set(bodies) == {"one", "two"}
    assert bodies["one"]["provider"]["options"]["black-forest-labs"] == {"steps": 12}
    assert bodies["two"]["resolution"] == "768"
    assert "seed" not in bodies["two"]


def _rows(api: str) -> list[Row]:
    with Ledger.open() as ledger:
        return ledger.rows(api)


def test_the_ledger_row_holds_the_options_and_history_repeats_them(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    result = flux2("generate", "a fox", "-m", "flex", "--steps", "20", "--guidance", "3.5", "-q")
    assert result.returncode == 0, result.stderr
    plain = flux2("generate", "a plain fox", "-m", "flex", "-q")
    assert plain.returncode == 0, plain.stderr
    rows = {row.prompt: row for row in _rows(sandbox.base_url)}
    assert rows["a fox"].model_options == '{"guidance":3.5,"steps":20}'
    assert rows["a fox"].status == "ok"
    assert rows["a plain fox"].model_options is None

    shown = flux2("history", "--json")
    assert shown.returncode == 0, shown.stderr
    records = {r["prompt"]: r for r in map(json.loads, shown.out.splitlines())}
    assert records["a fox"]["model_options"] == {"guidance": 3.5, "steps": 20}
    assert records["a plain fox"]["model_options"] is None
    as_csv = flux2("history", "--csv")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = {r["prompt"]: r for r in csv.DictReader(io.StringIO(as_csv.out))}
    assert lines["a fox"]["model_options"] == '{"guidance":3.5,"steps":20}'
    assert lines["a plain fox"]["model_options"] == ""

    # A history line is a recipe too: the same request again, options and all.
    (workdir / "row.json").write_text(json.dumps(records["a fox"]))
    again = flux2("generate", "--from", "row.json", "-q")
    assert again.returncode == 0, again.stderr
    first, _plain, repeated = _bodies(sandbox)
    assert repeated["provider"] == first["provider"]
    assert (repeated["seed"], repeated["prompt"]) == (first["seed"], first["prompt"])
    newest = _rows(sandbox.base_url)[0]
    assert newest.model_options == '{"guidance":3.5,"steps":20}'


def test_batch_lines_record_their_own_options(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    lines = [
        {"prompt": "one", "model": "flex", "steps": 12, "prompt_upsampling": True},
        {"prompt": "two", "model": "flex"},
    ]
    (workdir / "batch.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = flux2("generate", "--batch", "batch.jsonl", "--json", "-q")
    assert result.returncode == 0, result.stderr
    rows = {row.prompt: row for row in _rows(sandbox.base_url)}
    assert rows["one"].options == {"steps": 12, "prompt_upsampling": True}
    assert rows["two"].options is None
    # the result line names them as the batch line did, so it is a batch (or a recipe) again
    results = {r["prompt"]: r for r in map(json.loads, result.out.splitlines())}
    assert (results["one"]["steps"], results["one"]["prompt_upsampling"]) == (12, True)
    assert "steps" not in results["two"]


def test_an_edit_records_its_options_too(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    made = flux2("generate", "a fox", "-m", "flex", "-o", "fox.png", "-q")
    assert made.returncode == 0, made.stderr
    edited = flux2(
        "edit", "give it a scarf", "-i", "fox.png", "-m", "flex", "--safety-tolerance", "2", "-q"
    )
    assert edited.returncode == 0, edited.stderr
    (row,) = [r for r in _rows(sandbox.base_url) if r.command == "edit"]
    assert row.options == {"safety_tolerance": 2}
    assert row.reference_count == 1
