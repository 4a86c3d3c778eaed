"""Which calls `flux2 history` lists: flags into filters, the default limit, and a look at the
ledger that creates nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flux_cli.embedded_catalog import ALIASES
from flux_cli.errors import UsageError
from flux_cli.history_query import DEFAULT_TABLE_LIMIT, Query, page, parse_query
from flux_cli.history_records import ROW_FIELDS, group_fields
from flux_cli.ledger import Ledger, LedgerError, default_path
from flux_cli.ledger.reading import open_existing
from tests.cli.test_history import KLEIN, PRO, record

NOW = datetime.now(UTC)


def query(**flags: object) -> Query:
    values: dict[str, object] = {
        "since": None,
        "model": None,
        "by": None,
        "run_id": None,
        "json_output": False,
        "csv_output": False,
        "limit": None,
        "now": NOW,
    }
    values.update(flags)
    return parse_query(**values)  # type: ignore[arg-type]


def test_flags_become_filters() -> None:
    chosen = query(since="7d", model="pro", run_id="r1", by="model")
    assert chosen.since == NOW - timedelta(days=7)
    assert chosen.model == ALIASES["pro"]
    assert (chosen.run_id, chosen.by) == ("r1", "model")
    assert chosen.given == "--since 7d --model pro --run r1"
    assert chosen.fields == group_fields("model")
    assert query().fields == ROW_FIELDS


def test_the_table_shows_50_and_machines_get_everything() -> None:
    assert (query().limit, query().output) == (DEFAULT_TABLE_LIMIT, "table")
    assert (query(json_output=True).limit, query(json_output=True).output) == (None, "json")
    assert (query(csv_output=True).limit, query(csv_output=True).output) == (None, "csv")
    assert query(limit=3).limit == query(limit=3, csv_output=True).limit == 3


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        ({"json_output": True, "csv_output": True}, "--json and --csv"),
        ({"by": "week"}, "--by must be one of day, model, host, user, got 'week'"),
    ],
)
def test_bad_flags_are_usage_errors(flags: dict[str, object], words: str) -> None:
    with pytest.raises(UsageError, match=words):
        query(**flags)


def test_page_cuts_to_the_limit() -> None:
    assert page([1, 2, 3], 2) == [1, 2]
    assert page([1, 2, 3], None) == [1, 2, 3]


def test_the_query_reads_its_rows_sums_and_groups_from_the_ledger() -> None:
    with Ledger.open() as ledger:
        for _ in range(3):
            record(ledger, model=PRO, charged=30_000)
        record(ledger, model=KLEIN, charged=10_000)
        record(ledger, "sandbox", model=PRO)  # another API
        chosen = query(model="pro", limit=2)
        assert chosen.summary(ledger, "openrouter").count == 3
        assert [r.model for r in chosen.rows(ledger, "openrouter")] == [PRO, PRO]
        by_model = query(by="model").groups(ledger, "openrouter")
        assert {g.key: g.count for g in by_model} == {PRO: 3, KLEIN: 1}


def test_a_look_creates_no_ledger_and_names_the_reader_when_it_cannot_read() -> None:
    assert open_existing("history") is None
    assert not default_path().exists()
    default_path().parent.mkdir(parents=True, exist_ok=True)
    default_path().write_bytes(b"not a database at all" * 100)
    with pytest.raises(LedgerError, match=r"^history could not read the ledger: "):
        open_existing("history")


def test_charge_goes_only_with_settle() -> None:
    from flux_cli.history_query import check_settle

    check_settle(None, None)
    check_settle((3, "ok"), "0.03")
    check_settle((3, "failed"), None)
    with pytest.raises(UsageError, match="--charge goes with --settle"):
        check_settle(None, "0.03")


def test_the_notes_for_nothing_recorded_and_for_calls_left_open() -> None:
    from flux_cli.history_query import nothing_recorded, open_rows_hint
    from flux_cli.ledger import Summary

    assert (
        nothing_recorded("openrouter", "/l.db") == "no calls recorded yet for OpenRouter in /l.db"
    )
    assert nothing_recorded("sandbox", "/l.db", explain=True).startswith(
        "no calls recorded yet for the --sandbox runs in /l.db (history shows one API at a time"
    )

    def summary(pending: int, unknown: int) -> Summary:
        return Summary(3, 0, pending, unknown, 0, 0, 0, 0, 0)

    assert open_rows_hint(summary(0, 0)) is None
    hint = open_rows_hint(summary(1, 1))
    assert (
        hint
        == "2 calls still pending or of unknown outcome; flux2 history --reconcile settles what it can"
    )
