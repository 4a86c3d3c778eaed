"""A charge an answer reports is believed only by the rule `/generation` records are believed by:
finite, not negative, at most SANE_MULTIPLE times the estimate. One that is not is kept for the
record (the row's `error`) and never summed, so no run of absurd figures can overflow a sum or
stop the budgets (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from flux_cli.errors import BudgetError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import Plan, plan_generation, resolve_model
from flux_cli.ledger import Budgets, Ledger, NewEntry
from flux_cli.ledger.types import MAX_CHARGE_MICROS
from flux_cli.openrouter import wire
from flux_cli.openrouter.client import ImageResult
from flux_cli.openrouter.errors import BadResponseError
from flux_cli.reconcile import SANE_MULTIPLE, charge_doubt
from flux_cli.saving import ChargeNotBelieved, doubted_charges, judge_charge, keep_interrupted
from flux_cli.spending import Outcome, Spending, exit_code_of

API = "sandbox"


def usage(cost: bytes) -> wire.Usage:
    """`usage` parsed as the client parses an image answer's body."""
    body = wire.loads(b'{"usage": {"cost": ' + cost + b"}}", non_finite=True)
    return wire.parse_usage(body["usage"])


@pytest.mark.parametrize(
    ("cost", "micros", "unusable"),
    [
        (b"0.03", 30_000, None),
        (b'"0.03"', 30_000, None),
        (b"0", 0, None),
        (b"1000000", MAX_CHARGE_MICROS, None),
        (b"null", None, None),
        (b"1000000.01", None, "1000000.01"),
        (b"1e9", None, "1E+9"),
        (b"88329970", None, "88329970"),
        (b"1e15", None, "1.000000E+15"),
        (b"1e400", None, "1.000000E+400"),
        (b"NaN", None, "NaN"),
        (b"-Infinity", None, "-Infinity"),
        (b"-5", None, "-5"),
        (b'"lots"', None, '"lots"'),
        (b"[1]", None, "a JSON list"),
        (b"true", None, "true"),
        (b"9" * 40, None, "1.000000E+40"),
    ],
)
def test_only_a_usable_cost_becomes_micros_and_the_rest_is_kept_as_text(
    cost: bytes, micros: int | None, unusable: str | None
) -> None:
    parsed = usage(cost)
    assert parsed.cost_micros == micros
    assert parsed.cost_unusable == unusable


def test_nan_is_refused_except_where_a_paid_image_is_at_stake() -> None:
    with pytest.raises(BadResponseError):
        wire.loads(b'{"cost": NaN}')
    assert wire.loads(b'{"cost": NaN}', non_finite=True)["cost"] == "NaN"
    assert wire.number(wire.loads(b"[NaN]", non_finite=True)[0]) is None


def test_a_reported_figure_is_short_and_safe_text() -> None:
    shown = wire.reported_text("\x1b[31m" + "9" * 100)
    assert "\x1b" not in shown
    assert len(shown) <= 40
    assert shown.endswith("…")
    assert wire.reported_text(Decimal("1e400")) == "1.000000E+400"


@pytest.mark.parametrize(
    ("cost", "reported", "estimate", "doubt"),
    [
        (30_000, True, 30_000, None),
        (30_000 * SANE_MULTIPLE, True, 30_000, None),
        (30_000 * SANE_MULTIPLE + 1, True, 30_000, "times the estimate"),
        (-1, True, 30_000, "negative"),
        (None, True, 30_000, "not a usable number"),
        (None, False, 30_000, None),  # nothing reported: counted at the estimate
        (1_000_000, True, 0, None),  # a free call: the floor
        (1_000_001, True, 0, "times the estimate"),
    ],
)
def test_one_rule_for_answers_and_generation_records(
    cost: int | None, reported: bool, estimate: int, doubt: str | None
) -> None:
    found = charge_doubt(cost, reported, estimate)
    assert (found is None) if doubt is None else (found is not None and doubt in found)


# -- a run of answers with absurd charges, then a budgeted call, on both databases -------------


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        opened = Ledger.open(tmp_path / "ledger.sqlite3")
    else:
        opened = Ledger.open(url=request.getfixturevalue("postgres_url"))
    with opened:
        yield opened


def _plan(seed: int) -> Plan:
    return plan_generation(model=resolve_model("pro"), prompt=f"fox {seed}", seed=seed)


def _answer(seed: int, cost: bytes) -> ImageResult:
    return ImageResult(
        data=b"\xff\xd8" + b"x" * 100,
        format="jpeg",
        width=1024,
        height=1024,
        media_type="image/jpeg",
        usage=usage(cost),
        generation_id=f"gen-{seed}",
        provider="BFL",
        route="images",
        elapsed_s=1.0,
        attempts=1,
    )


ABSURD = [b"1e9", b"9e12", b"9.2e12", b"1e15", b"1e400", b"NaN", b"-5", b'"lots"', b"88329970"]


def test_absurd_charges_are_flagged_never_summed_and_budgets_keep_working(ledger: Ledger) -> None:
    estimate = _plan(0).estimate.total_micros
    budgets = Budgets(daily_micros=estimate * (len(ABSURD) + 2))
    for seed, cost in enumerate(ABSURD, start=1):
        plan = _plan(seed)
        spending = Spending(ledger, API, budgets, plan, "generate", True)
        outcome = Outcome(index=0, seed=seed, row_id=spending.reserve(0))
        outcome.result = _answer(seed, cost)
        judge_charge(plan, outcome)
        assert outcome.result.cost_micros is None  # neither embedded nor summed
        assert outcome.charge_doubt is not None
        assert outcome.warnings == [outcome.charge_doubt]
        assert exit_code_of(outcome) == ExitCode.BAD_RESPONSE
        outcome.path, outcome.sha256 = f"/out/{seed}.jpg", "ab" * 32
        spending.finish(outcome)
    rows = ledger.rows(API)
    assert len(rows) == len(ABSURD)
    for row, cost in zip(reversed(rows), ABSURD, strict=True):
        assert (row.status, row.charged_micros, row.exit_code) == ("ok", None, 10)
        assert row.counted_micros == row.estimate_micros == estimate
        assert row.error is not None
        assert "not believed" in row.error
        shown = wire.reported_text(wire.loads(cost, non_finite=True))
        assert shown in row.error  # the reported figure, for the record
    # Every sum still answers, and counts the estimates only.
    spent = ledger.spent(API)
    assert spent.today_micros == spent.month_micros == estimate * len(ABSURD)
    summary = ledger.summary(API)
    assert summary.charged_micros == 0
    assert summary.counted_micros == estimate * len(ABSURD)
    for by in ("day", "model", "host", "user"):
        (total,) = ledger.totals(API, by=by)
        assert total.counted_micros == estimate * len(ABSURD)
    # A budgeted call goes through while the budget allows it, and is refused after.
    spending = Spending(ledger, API, budgets, _plan(99), "generate", True)
    spending.reserve(0)
    spending.reserve(0)
    with pytest.raises(BudgetError) as refused:
        spending.reserve(0)
    assert refused.value.exit_code == ExitCode.BUDGET


def test_a_believable_charge_is_kept(ledger: Ledger) -> None:
    plan = _plan(1)
    spending = Spending(ledger, API, Budgets(daily_micros=10**6), plan, "generate", True)
    outcome = Outcome(index=0, seed=1, row_id=spending.reserve(0), result=_answer(1, b"0.045"))
    judge_charge(plan, outcome)
    assert outcome.charge_doubt is None
    assert exit_code_of(outcome) == ExitCode.OK
    spending.finish(outcome)
    (row,) = ledger.rows(API)
    assert (row.status, row.charged_micros, row.exit_code, row.error) == ("ok", 45_000, 0, None)


def test_a_failed_answer_with_an_absurd_charge_counts_at_its_estimate(ledger: Ledger) -> None:
    plan = _plan(1)
    spending = Spending(ledger, API, Budgets(), plan, "generate", True)
    error = BadResponseError("no image", cost_micros=900_000_000_000)  # $900,000: believable
    outcome = Outcome(index=0, seed=1, row_id=spending.reserve(0), error=error)
    judge_charge(plan, outcome)  # … but not for a $0.03 call
    assert error.cost_micros is None
    assert outcome.charge_doubt is not None
    spending.finish(outcome)
    (row,) = ledger.rows(API)
    assert (row.status, row.charged_micros) == ("unknown", None)
    assert row.counted_micros == plan.estimate.total_micros


@pytest.mark.parametrize("charge", [MAX_CHARGE_MICROS + 1, 5 * 10**18, 10**21, -1])
def test_the_ledger_refuses_a_charge_no_call_can_have(ledger: Ledger, charge: int) -> None:
    row_id = ledger.reserve(
        NewEntry(api=API, command="generate", model="m", estimate_micros=30_000), Budgets()
    )
    with pytest.raises(ValueError, match="charged_micros"):
        ledger.update(row_id, status="ok", charged_micros=charge)
    with pytest.raises(ValueError, match="charged_micros"):
        ledger.resolve(row_id, status="ok", charged_micros=charge)
    ledger.update(row_id, status="ok", charged_micros=MAX_CHARGE_MICROS)
    ledger.reserve(
        NewEntry(api=API, command="generate", model="m", estimate_micros=30_000),
        Budgets(daily_micros=10**15),
    )
    assert ledger.spent(API).today_micros == MAX_CHARGE_MICROS + 30_000


def test_a_run_says_so_with_exit_10_only_when_nothing_else_failed() -> None:
    doubted_charges([None, None])  # nothing to say
    with pytest.raises(ChargeNotBelieved) as raised:
        doubted_charges([None, "the answer reported a charge of 1E+9, not believed"])
    assert raised.value.exit_code == ExitCode.BAD_RESPONSE
    assert "1 call" in raised.value.message
    assert "written" in raised.value.message


def test_ctrl_c_while_writing_keeps_an_absurd_charge_out_of_the_sums(ledger: Ledger) -> None:
    plan = _plan(1)
    spending = Spending(ledger, API, Budgets(), plan, "generate", True)
    outcome = Outcome(index=0, seed=1, row_id=spending.reserve(0), result=_answer(1, b"90000"))
    assert keep_interrupted(outcome, spending) is not None
    (row,) = ledger.rows(API)
    assert (row.status, row.charged_micros) == ("ok", None)
    assert row.counted_micros == plan.estimate.total_micros


def test_migrating_an_old_ledger_drops_charges_no_call_can_have(
    ledger: Ledger, tmp_path: Path
) -> None:
    entry = NewEntry(api=API, command="generate", model="m", estimate_micros=30_000)
    with Ledger.open(tmp_path / "old.sqlite3") as old:
        for _ in range(3):
            row_id = old.reserve(entry, Budgets())
            # As a ledger written before charges were checked could hold them.
            with old._db.statement() as session:
                session.execute(
                    "UPDATE calls SET status = 'ok', charged_micros = :c WHERE id = :id",
                    {"c": 4 * 10**18, "id": row_id},
                )
        records = old.export_records()
    assert ledger.import_records(records) == 3
    rows = ledger.rows(API)
    assert [(r.status, r.charged_micros) for r in rows] == [("ok", None)] * 3
    assert all("not believed" in (r.error or "") for r in rows)
    ledger.reserve(entry, Budgets(daily_micros=10**6))  # the sums still answer
    assert ledger.spent(API).today_micros == 4 * 30_000
