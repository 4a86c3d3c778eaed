"""What a run reports and how it ends: records, the batch summary, the error it exits with."""

from __future__ import annotations

import io

from flux_cli.errors import BudgetError, Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import plan_generation, resolve_model
from flux_cli.openrouter.errors import OutcomeUnknownError
from flux_cli.planning import Item, read_items
from flux_cli.results import (
    AllFailed,
    BatchFailure,
    PartialFailure,
    batch_failure,
    failed_line_record,
    image_record,
    images_failure,
    summarize,
)
from flux_cli.resume import PAID_NOT_WRITTEN, RESENT_UNKNOWN
from flux_cli.spending import Outcome


def _outcome(index: int, error: Flux2Error | None = None) -> Outcome:
    return Outcome(index=index, seed=100 + index, error=error)


def test_a_run_whose_images_all_worked_ends_well() -> None:
    assert images_failure([_outcome(0), _outcome(1)]) is None


def test_some_failed_images_name_each_and_exit_partial() -> None:
    ended = images_failure([_outcome(0), _outcome(1, UsageError("too big"))])
    assert ended is not None
    said, error = ended
    assert said == ["image 2 (seed 101): too big"]
    assert isinstance(error, PartialFailure)
    assert error.exit_code == ExitCode.PARTIAL
    assert error.message == "1 of 2 images failed; the others were written"


def test_all_failed_images_exit_with_the_first_failure_pointing_at_reconcile() -> None:
    first = OutcomeUnknownError("the connection dropped")
    ended = images_failure([_outcome(0, first), _outcome(1, BudgetError("over"))])
    assert ended is not None
    said, error = ended
    assert said == ["image 2: over"]
    assert error is first
    assert "--reconcile" in (error.hint or "")


def _failed(line: int, error: Flux2Error) -> Item:
    return Item(line=line, error=error, started=True)


def test_a_batch_ends_partial_or_with_its_first_failure_when_every_line_failed() -> None:
    ok = Item(line=1, started=True)
    assert batch_failure([ok]) is None
    partial = batch_failure([ok, _failed(2, UsageError("bad"))])
    assert isinstance(partial, BatchFailure)
    assert partial.exit_code == ExitCode.PARTIAL
    assert partial.message == "1 of 2 items failed (line 2); the others were written"
    every = batch_failure([_failed(n, BudgetError("over budget")) for n in range(1, 13)])
    assert isinstance(every, AllFailed)
    assert every.exit_code == ExitCode.BUDGET
    assert every.message == (
        "every item of the batch failed (lines 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 …); "
        "the first: over budget"
    )


def test_the_summary_counts_each_kind_of_line() -> None:
    items = [
        Item(line=1, started=True, estimate_micros=30_000, charged_micros=30_000),
        _failed(2, BudgetError("over")),
        Item(line=3, resumed="skipped"),
        Item(line=4, started=True, resumed="remade", resume_reason=PAID_NOT_WRITTEN),
        Item(line=5, started=True, resumed="remade", resume_reason=RESENT_UNKNOWN),
        Item(line=6, resumed="held", error=UsageError("held back")),
    ]
    summary = summarize(items)
    assert (summary.items, summary.written, summary.skipped, summary.held) == (6, 3, 1, 1)
    assert summary.remade == [(4, PAID_NOT_WRITTEN), (5, RESENT_UNKNOWN)]
    assert (summary.bought_twice, summary.maybe_twice) == ([4], [5])
    assert summary.failed == [(2, "over"), (6, "held back")]
    assert summary.blocked == 1
    assert (summary.estimate_micros, summary.charged_micros) == (30_000, 30_000)
    assert summary.resumed
    assert not summarize(items[:2]).resumed


def test_a_failed_line_record_is_the_line_as_given_again() -> None:
    (item,) = read_items(io.BytesIO(b'{"prompt": "a fox", "seed": 3, "status": "failed"}\n'), "t")
    item.error = UsageError("no such model")
    record = failed_line_record(item)
    assert record == {
        "status": "failed", "line": 1, "index": 1, "seed": 3, "prompt": "a fox",
        "error": "no such model", "exit_code": int(ExitCode.USAGE),
    }  # fmt: skip


def test_an_image_record_carries_the_plan_and_what_became_of_it() -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a fox", seed=5)
    outcome = Outcome(index=0, seed=5, path="fox.jpg", fmt="jpeg")
    record = image_record(plan, outcome, {"line": 4})
    assert record["status"] == "ok"
    assert record["path"] == "fox.jpg"
    assert record["model"] == "black-forest-labs/flux.2-pro"
    assert record["estimate_micros"] == plan.estimate.total_micros
    assert record["charged_micros"] is None  # no answer, no known charge
    assert record["line"] == 4
    assert "error" not in record
