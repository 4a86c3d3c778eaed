"""Settling a call by hand: what it is recorded as charged, and which calls may be settled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_cli.errors import UsageError
from flux_cli.ledger import Budgets, Ledger, NewEntry
from flux_cli.settling import settle_by_hand

LABEL = "openrouter"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _pending(ledger: Ledger) -> int:
    entry = NewEntry(api=LABEL, command="generate", model="m", estimate_micros=30_000)
    return ledger.reserve(entry, Budgets())


def test_ok_is_charged_its_estimate_or_the_charge_given(ledger: Ledger) -> None:
    first, second = _pending(ledger), _pending(ledger)
    assert settle_by_hand(ledger, LABEL, first, "ok", None) == 30_000
    assert settle_by_hand(ledger, LABEL, second, "ok", "$0.045") == 45_000
    row = ledger.get(first)
    assert row is not None
    assert (row.status, row.charged_micros, row.exit_code) == ("ok", 30_000, 0)
    assert row.error == "settled by hand (was pending: no answer)"


def test_failed_is_charged_nothing(ledger: Ledger) -> None:
    row_id = _pending(ledger)
    assert settle_by_hand(ledger, LABEL, row_id, "failed", None) == 0
    row = ledger.get(row_id)
    assert row is not None
    assert (row.status, row.charged_micros) == ("failed", 0)


def test_only_a_pending_or_unknown_call_of_this_api_is_settled(ledger: Ledger) -> None:
    row_id = _pending(ledger)
    with pytest.raises(UsageError, match="failed or ok"):
        settle_by_hand(ledger, LABEL, row_id, "maybe", None)
    with pytest.raises(UsageError, match=f"no pending or unknown call {row_id}"):
        settle_by_hand(ledger, "sandbox", row_id, "ok", None)
    with pytest.raises(UsageError, match="--charge must be an amount"):
        settle_by_hand(ledger, LABEL, row_id, "ok", "lots")
    settle_by_hand(ledger, LABEL, row_id, "ok", None)
    with pytest.raises(UsageError, match="no pending or unknown call"):
        settle_by_hand(ledger, LABEL, row_id, "failed", None)  # settled already
