"""The records `flux2 history` lists, the totals line and the table's cell texts."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from flux_cli.embedded_catalog import ALIASES
from flux_cli.exit_codes import ExitCode
from flux_cli.history_records import (
    GROUP_FIELDS,
    ROW_FIELDS,
    alias_of,
    charged_text,
    csv_header,
    csv_line,
    csv_lines,
    file_name,
    files_text,
    group_fields,
    group_name,
    group_record,
    json_line,
    model_text,
    row_record,
    short_id,
    size_text,
    status_text,
    summary_line,
    utc_stamp,
)
from flux_cli.ledger import Row, Status, Summary, TotalRow

PRO = ALIASES["pro"]
AT = datetime(2026, 12, 6, 16, 51, 3, 123456, tzinfo=UTC)


def make_row(**changes: object) -> Row:
    values: dict[str, object] = {
        "id": 7,
        "created_at": AT,
        "updated_at": AT,
        "status": "ok",
        "api": "openrouter",
        "command": "generate",
        "model": PRO,
        "provider": "Black Forest Labs",
        "route": "images",
        "seed": 3,
        "width": 1024,
        "height": 768,
        "output_mp": 1,
        "reference_count": 0,
        "reference_mp": 0,
        "estimate_micros": 30_000,
        "charged_micros": 15_000,
        "generation_id": "gen-img-1-abc",
        "paths": ("/out/fox.png", "/out/fox-2.png"),
        "sha256s": ("aa", "bb"),
        "exit_code": 0,
        "prompt": "a fox",
        "pid": 42,
        "hostname": "box",
        "error": None,
        "elapsed_s": 1.23456,
    }
    values.update(changes)
    return Row(**values)  # type: ignore[arg-type]


def test_a_row_record_has_every_field_in_order_and_money_in_micros() -> None:
    record = row_record(make_row())
    assert tuple(record) == ROW_FIELDS
    assert record["created_at"] == "2026-12-06T16:51:03.123Z"
    assert record["alias"] == "pro"
    assert record["path"] == "/out/fox.png"
    assert record["paths"] == ["/out/fox.png", "/out/fox-2.png"]
    assert record["elapsed_s"] == 1.235
    assert (record["estimate_usd"], record["charged_usd"], record["counted_usd"]) == (
        30_000,
        15_000,
        15_000,
    )


def test_json_line_turns_micros_into_dollars_and_keeps_text_as_it_is() -> None:
    data = json.loads(json_line(row_record(make_row(prompt="ü 🦊", charged_micros=None))))
    assert data["estimate_usd"] == 0.03
    assert data["charged_usd"] is None
    assert data["counted_usd"] == 0.03  # ok without a charge counts at the estimate
    assert data["prompt"] == "ü 🦊"


def test_csv_is_exact_decimal_text_joined_lists_and_safe_cells() -> None:
    record = row_record(make_row(prompt="=HYPERLINK(1)", charged_micros=1))
    (header, line) = csv_lines([record], ROW_FIELDS)
    assert header == csv_header(ROW_FIELDS) == ",".join(ROW_FIELDS)
    assert line == csv_line(record, ROW_FIELDS)
    values = dict(zip(ROW_FIELDS, next(csv.reader(io.StringIO(line))), strict=True))
    assert values["charged_usd"] == "0.000001"
    assert values["estimate_usd"] == "0.03"
    assert values["paths"] == "/out/fox.png;/out/fox-2.png"
    assert values["prompt"] == "'=HYPERLINK(1)"
    assert values["error"] == ""


def test_a_group_record_is_named_for_what_it_groups_by() -> None:
    group = TotalRow(PRO, 3, 1, 1, 1, 0, 90_000, 30_000, 60_000)
    assert group_fields("model") == ("model", *GROUP_FIELDS[1:])
    record = group_record(group, "model")
    assert tuple(record) == group_fields("model")
    assert (record["model"], record["alias"], record["calls"], record["counted_usd"]) == (
        PRO,
        "pro",
        3,
        60_000,
    )
    assert alias_of("someone/else") is None


def test_the_summary_line_names_what_may_have_been_billed() -> None:
    quiet = Summary(2, 0, 0, 0, 0, 60_000, 60_000, 0, 60_000)
    assert summary_line(quiet) == "2 calls · estimate $0.060 · charged $0.060 · counts as $0.060"
    busy = Summary(5, 1, 1, 1, 1, 150_000, 30_000, 60_000, 120_000)
    assert summary_line(busy) == (
        "5 calls · estimate $0.150 · charged $0.030 · 1 failed (not billed) · "
        "1 pending and 1 unknown: may have been billed, counted at $0.060 · "
        "1 without a reported charge, counted at the estimate · counts as $0.120"
    )
    assert summary_line(Summary(1, 0, 0, 0, 0, 0, 0, 0, 0)).startswith("1 call ·")


@pytest.mark.parametrize(
    ("status", "charged", "exit_code", "shown_status", "shown_charge"),
    [
        ("ok", 15_000, 0, "ok", "$0.015"),
        ("ok", None, 0, "ok", "not reported"),
        ("failed", None, 5, "failed", "—"),
        ("failed", None, int(ExitCode.BUDGET), "blocked", "—"),
        ("unknown", None, None, "unknown", "?"),
        ("pending", None, None, "pending", "?"),
    ],
)
def test_cell_texts_for_each_status(
    status: Status,
    charged: int | None,
    exit_code: int | None,
    shown_status: str,
    shown_charge: str,
) -> None:
    row = replace(make_row(), status=status, charged_micros=charged, exit_code=exit_code)
    assert status_text(row) == shown_status
    assert charged_text(row) == shown_charge


def test_short_ids_and_file_names_are_for_the_eye() -> None:
    assert short_id(None) == "—"
    assert short_id("gen-img-1-abc") == "gen-img-1-abc"
    assert short_id("gen-img-1790983552-TOdyb7qrp6185EBMwzAV") == "…rp6185EBMwzAV"
    assert "\x1b" not in short_id("gen\x1b[31m-1")
    assert file_name("/out/dir/fox.png") == "fox.png"
    assert file_name("C:\\out\\fox.png") == "fox.png"
    assert file_name("/") == "/"
    assert utc_stamp(AT) == "2026-12-06T16:51:03.123Z"


def test_cells_name_sizes_files_models_and_groups_for_the_eye() -> None:
    row = make_row()
    assert size_text(row) == "1024×768"
    assert size_text(make_row(reference_count=2)) == "1024×768 +2 ref"
    assert size_text(make_row(width=None, height=None)) == "—"
    assert files_text(row, " · ") == "fox.png · fox-2.png"
    assert files_text(make_row(paths=("/out/a\x1b[31m.png",)), "\n") == "a.png"
    assert files_text(make_row(paths=()), "\n") == "—"
    assert model_text(PRO) == "pro"
    assert model_text("acme/\x07model") == "acme/model"
    assert group_name(PRO, "model") == "pro"
    assert group_name("2026-12-06", "day") == "2026-12-06"
    assert (group_name("", "host"), group_name("", "user"), group_name("", "day")) == (
        "unknown host",
        "unknown user",
        "—",
    )
