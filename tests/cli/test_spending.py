"""A run's ledger rows (`Spending`): rows reserved ahead of their turn, and Ctrl-C."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flux_cli.errors import BudgetError
from flux_cli.generation import Plan, plan_generation, resolve_model
from flux_cli.ledger import Budgets, Ledger
from flux_cli.spending import Outcome, Spending, reserve_ahead

NOT_SENT = "interrupted before the request was sent"


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _plan(seed: int) -> Plan:
    return plan_generation(model=resolve_model("pro"), prompt=f"fox {seed}", seed=seed)


def _spending(ledger: Ledger, seed: int, budgets: Budgets | None = None) -> Spending:
    return Spending(ledger, "sandbox", budgets or Budgets(), _plan(seed), "generate", True)


def _rows(ledger: Ledger) -> dict[int, tuple[str, int | None, int | None, str | None]]:
    return {
        row.seed or 0: (row.status, row.charged_micros, row.exit_code, row.error)
        for row in ledger.rows("sandbox")
    }


def test_ctrl_c_settles_rows_reserved_ahead_as_not_sent_and_the_rest_as_unknown(
    ledger: Ledger,
) -> None:
    waiting, sent = _spending(ledger, 1), _spending(ledger, 2)
    waiting_row = waiting.reserve(0, ahead=True)
    sent_row = sent.reserve(0, ahead=True)
    assert sent.sending(sent_row)  # its request went
    for spending in (waiting, sent):
        spending.interrupted()
    rows = _rows(ledger)
    assert rows[1] == ("failed", 0, 130, NOT_SENT)  # never sent: not billed
    assert rows[2][0] == "unknown"  # sent, no answer: may have been billed
    # Once interrupted, a row reserved ahead may no longer go, and settling it again is a no-op.
    assert not waiting.sending(waiting_row)
    waiting.not_sent(waiting_row)
    assert _rows(ledger)[1] == ("failed", 0, 130, NOT_SENT)


def test_a_row_reserved_ahead_that_never_goes_is_not_billed(ledger: Ledger) -> None:
    spending = _spending(ledger, 3)
    row_id = spending.reserve(0, ahead=True)
    spending.not_sent(row_id)
    spending.interrupted()  # nothing open any more: nothing changes
    assert _rows(ledger)[3] == ("failed", 0, 130, NOT_SENT)
    assert ledger.spent("sandbox").today_micros == 0


def test_a_row_reserved_the_usual_way_is_unknown_after_ctrl_c(ledger: Ledger) -> None:
    spending = _spending(ledger, 4)
    spending.reserve(0)
    spending.interrupted()
    assert _rows(ledger)[4][0] == "unknown"


def test_reserve_ahead_writes_a_round_in_one_go_and_returns_refusals(ledger: Ledger) -> None:
    estimate = _plan(0).estimate.total_micros
    budgets = Budgets(daily_micros=2 * estimate)
    spendings = [_spending(ledger, seed, budgets) for seed in (5, 6, 7)]
    first, second, third = reserve_ahead(spendings)
    assert isinstance(first, int)
    assert isinstance(second, int)
    assert isinstance(third, BudgetError)
    assert int(third.exit_code) == 7
    assert reserve_ahead([]) == []
    # The allowed rows are open and reserved ahead: Ctrl-C now settles them as not sent.
    for spending in spendings:
        spending.interrupted()
    rows = _rows(ledger)
    assert rows[5] == rows[6] == ("failed", 0, 130, NOT_SENT)
    assert rows[7][0:3] == ("failed", 0, 7)  # the budget's refusal, logged


def test_finishing_settles_the_row_for_good(ledger: Ledger) -> None:
    spending = _spending(ledger, 8)
    row_id = spending.reserve(0, ahead=True)
    assert spending.sending(row_id)
    spending.finish(Outcome(index=0, seed=8, row_id=row_id, error=BudgetError("refused")))
    spending.interrupted()
    assert _rows(ledger)[8][0] == "failed"


def test_a_finished_batch_line_keeps_its_record_but_not_its_image() -> None:
    from flux_cli.openrouter.client import ImageResult
    from flux_cli.openrouter.wire import Usage
    from flux_cli.planning import Item

    result = ImageResult(
        data=b"\xff\xd8" + b"x" * 100_000,
        format="jpeg",
        width=1024,
        height=1024,
        media_type="image/jpeg",
        usage=Usage(cost_micros=30_000),
        generation_id="gen-1",
        provider="BFL",
        route="images",
        elapsed_s=1.5,
        attempts=1,
    )
    plan = _plan(9)
    item = Item(
        line=3,
        prompt="fox",
        plan=plan,
        estimate_micros=plan.estimate.total_micros,
        outcome=Outcome(index=2, seed=9, result=result, path="fox.jpg", data=result.data),
    )
    item.done()
    assert item.outcome is None  # the line no longer holds its answer or its image
    assert item.started
    assert (item.charged_micros, item.estimate_micros) == (30_000, plan.estimate.total_micros)
    assert item.plan is None
    assert item.failure is None
    # A line that failed keeps its error.
    failed = Item(
        line=4,
        prompt="owl",
        outcome=Outcome(index=3, seed=1, error=BudgetError("over the daily budget")),
    )
    failed.done()
    assert failed.failure is not None
    assert failed.failure.message == "over the daily budget"
    assert failed.started
