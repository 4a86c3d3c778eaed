"""The provider options a call was sent with, kept in its ledger row (`model_options`): on both
databases, through a schema migration from the release before, in `history` and `--from`."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from flux_cli.history_records import ROW_FIELDS, csv_line, row_record
from flux_cli.ledger import Budgets, Ledger, canonical_options
from flux_cli.ledger import postgres as postgres_backend
from flux_cli.ledger import sqlite as sqlite_backend
from flux_cli.ledger.transfer import copy_rows
from flux_cli.recipe import recipe_from_json_line, recipe_to_options
from tests import test_ledger
from tests.test_ledger import NOW, Target, columns, entry, execute

# The ledger on either database (a SQLite file and a throwaway PostgreSQL server).
target = test_ledger.target
ledger = test_ledger.ledger
FLEX = "black-forest-labs/flux.2-flex"


def test_canonical_options_are_one_text_per_request() -> None:
    one = canonical_options([("steps", 20), ("guidance", 3.5), ("prompt_upsampling", True)])
    other = canonical_options([("prompt_upsampling", True), ("guidance", 3.5), ("steps", 20)])
    assert one == other == '{"guidance":3.5,"prompt_upsampling":true,"steps":20}'
    assert canonical_options([]) is None
    assert canonical_options(None) is None
    with pytest.raises(ValueError, match="Out of range float"):
        canonical_options([("guidance", float("nan"))])
    with pytest.raises(ValueError, match="must be a number"):
        canonical_options([("steps", [1, 2])])


def test_a_row_keeps_its_options_on_either_database(ledger: Ledger) -> None:
    options = canonical_options([("steps", 20), ("guidance", 3.5)])
    with_options = ledger.reserve(entry(model=FLEX, model_options=options), Budgets(), now=NOW)
    without = ledger.reserve(entry(), Budgets(), now=NOW)
    ledger.update(with_options, status="ok", charged_micros=30_000)
    row = ledger.get(with_options)
    assert row is not None
    assert row.model_options == '{"guidance":3.5,"steps":20}'
    assert row.options == {"guidance": 3.5, "steps": 20}
    plain = ledger.get(without)
    assert plain is not None
    assert plain.model_options is None
    assert plain.options is None
    listed = {r.id: r.options for r in ledger.rows("openrouter")}
    assert listed == {with_options: {"guidance": 3.5, "steps": 20}, without: None}
    assert [r.options for r in ledger.iter_rows("openrouter", page=1)] == [None, row.options]


def test_the_options_travel_with_ledger_migrate(tmp_path: Path, postgres_url: str) -> None:
    options = canonical_options([("safety_tolerance", 4)])
    with Ledger.open(tmp_path / "ledger.sqlite3") as source, Ledger.open(url=postgres_url) as to:
        source.reserve(entry(model=FLEX, model_options=options), Budgets(), now=NOW)
        assert copy_rows(source, to).copied == 1
        (row,) = to.rows("openrouter")
        assert row.options == {"safety_tolerance": 4}


def _schema_3_file(path: Path) -> None:
    """A ledger as the release before model options wrote it, with one row in it."""
    with sqlite3.connect(path) as conn:
        for migration in sqlite_backend.MIGRATIONS[:3]:
            for statement in migration:
                conn.execute(statement)
        conn.execute("PRAGMA user_version = 3")
        conn.execute(
            "INSERT INTO calls (created_at, updated_at, status, api, command, model, "
            "estimate_micros, charged_micros, uid) VALUES (?, ?, 'ok', 'openrouter', "
            "'generate', 'm', 30000, 30000, 'u1')",
            (NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),) * 2,
        )


def test_a_schema_3_file_gains_the_model_options_column(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    _schema_3_file(path)
    assert len(sqlite_backend.MIGRATIONS) == 5
    with Ledger.open(path) as opened:
        assert opened._db.version() == 5
        assert "model_options" in columns(opened)
        (old,) = opened.rows("openrouter")
        assert old.model_options is None
        assert old.counted_micros == 30_000
        new = opened.reserve(
            entry(model_options=canonical_options([("steps", 8)])), Budgets(), now=NOW
        )
        row = opened.get(new)
        assert row is not None
        assert row.options == {"steps": 8}
        # the running totals still add up after the column was added
        assert opened.summary("openrouter").count == 2


def test_a_schema_2_postgresql_database_gains_the_model_options_column(
    postgres_url: str,
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as the release before made it
        postgres_backend._migrate(conn, postgres_backend.MIGRATIONS[:2])
        conn.execute(
            "INSERT INTO calls (created_at, updated_at, status, api, command, model, "
            "estimate_micros, uid) VALUES (%s, %s, 'unknown', 'openrouter', 'generate', 'm', "
            "30000, 'u1')",
            (NOW.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),) * 2,
        )
        assert postgres_backend._version(conn) == 2
    assert len(postgres_backend.MIGRATIONS) == 4
    with Ledger.open(url=postgres_url) as opened:
        assert opened._db.version() == 4
        assert "model_options" in columns(opened)
        (old,) = opened.rows("openrouter")
        assert (old.model_options, old.counted_micros) == (None, 30_000)
        new = opened.reserve(
            entry(model_options=canonical_options([("guidance", 2.5)])), Budgets(), now=NOW
        )
        row = opened.get(new)
        assert row is not None
        assert row.options == {"guidance": 2.5}
        assert opened.summary("openrouter").count == 2


def test_history_shows_the_options_as_an_object_and_as_csv_text(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        options = canonical_options([("steps", 20), ("prompt_upsampling", False)])
        row_id = opened.reserve(entry(model=FLEX, model_options=options), Budgets(), now=NOW)
        plain_id = opened.reserve(entry(), Budgets(), now=NOW)
        row, plain = opened.get(row_id), opened.get(plain_id)
    assert row is not None
    assert plain is not None
    record = row_record(row)
    assert record["model_options"] == {"prompt_upsampling": False, "steps": 20}
    assert row_record(plain)["model_options"] is None
    assert "model_options" in ROW_FIELDS
    lines = [csv_line(record, ROW_FIELDS), csv_line(row_record(plain), ROW_FIELDS)]
    written = list(csv.DictReader(io.StringIO("\n".join([",".join(ROW_FIELDS), *lines]))))
    assert written[0]["model_options"] == '{"prompt_upsampling":false,"steps":20}'
    assert written[1]["model_options"] == ""


def test_a_history_line_given_to_from_repeats_the_options(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        options = canonical_options([("steps", 20), ("guidance", 3.5)])
        row_id = opened.reserve(entry(model=FLEX, model_options=options), Budgets(), now=NOW)
        row = opened.get(row_id)
    assert row is not None
    record = row_record(row)
    for name in ("estimate_usd", "charged_usd", "counted_usd"):
        record[name] = None
    recipe = recipe_from_json_line(json.dumps(record))
    assert recipe.options == {"steps": 20, "guidance": 3.5}
    again = recipe_to_options(recipe)
    assert (again["model"], again["seed"], again["steps"], again["guidance"]) == (FLEX, 7, 20, 3.5)


def test_a_json_line_with_options_that_are_not_options_is_refused() -> None:
    from flux_cli.recipe import MetadataError

    line = {"model": FLEX, "seed": 1, "model_options": {"steps": 20, "scheduler": "x"}}
    with pytest.raises(MetadataError, match="options may hold only"):
        recipe_from_json_line(json.dumps(line))
    with pytest.raises(MetadataError, match="not an object"):
        recipe_from_json_line(json.dumps({"model": FLEX, "seed": 1, "model_options": [1]}))
    generated = {"model": FLEX, "seed": 1, "steps": 12, "resolution": "1K"}
    recipe = recipe_from_json_line(json.dumps(generated))
    assert (recipe.options, recipe.resolution) == ({"steps": 12}, "1K")


def test_the_raw_column_is_canonical_json(ledger: Ledger, target: Target) -> None:
    options = canonical_options([("steps", 20)])
    ledger.reserve(entry(model_options=options), Budgets(), now=NOW)
    assert execute(ledger, "SELECT model_options FROM calls") == [('{"steps":20}',)]
