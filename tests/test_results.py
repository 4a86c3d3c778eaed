"""What a run reports and how it ends: records, the batch summary, the error it exits with."""

from __future__ import annotations

import io
from dataclasses import replace

from flux_cli.errors import BudgetError, Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import plan_generation, resolve_model
from flux_cli.openrouter.client import ImageResult
from flux_cli.openrouter.errors import OutcomeUnknownError
from flux_cli.openrouter.wire import Usage
from flux_cli.planning import Item, read_items
from flux_cli.results import (
    AllFailed,
    BatchFailure,
    PartialFailure,
    batch_failure,
    cut_off_warning,
    failed_line_record,
    image_record,
    images_failure,
    progress_line,
    summarize,
    summary_notes,
    summary_rows,
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


def test_the_summary_rows_and_what_follows_them() -> None:
    items = [
        Item(line=1, started=True, estimate_micros=30_000, charged_micros=30_000),
        _failed(2, BudgetError("over")),
        Item(line=3, resumed="skipped"),
        Item(line=4, started=True, resumed="remade", resume_reason=PAID_NOT_WRITTEN),
    ]
    summary = summarize(items)
    assert summary_rows(summary, "r1") == [
        ("items", "4"),
        ("written", "2"),
        ("skipped", "1 (made by an earlier run, cost nothing now)"),
        ("made again", "1"),
        ("failed", "1 (1 blocked by a budget)"),
        ("estimate", "$0.030"),
        ("charged", "$0.030"),
        ("run", "r1 (flux2 history --run r1)"),
    ]
    warnings, errors = summary_notes(summary)
    assert warnings == [
        f"line 4: made again: {PAID_NOT_WRITTEN}",
        "bought twice: line 4 (paid for by the earlier run, whose images never reached the disk)",
    ]
    assert errors == ["line 2: over"]
    plain = summarize(items[:2])
    assert [what for what, _ in summary_rows(plain, "r2")] == [
        "items", "written", "failed", "estimate", "charged", "run",
    ]  # fmt: skip


def test_only_the_first_failed_lines_are_named() -> None:
    summary = summarize([_failed(n, UsageError(f"bad {n}")) for n in range(1, 6)])
    _, errors = summary_notes(summary, shown=2)
    assert errors == ["line 1: bad 1", "line 2: bad 2", "… and 3 more failed lines (see --json)"]


def test_a_progress_line_for_a_log() -> None:
    failed = _failed(3, UsageError("no such model"))
    assert progress_line(failed, 1, 4, "2026-12-06 02:00:13 ") == (
        "flux2: 2026-12-06 02:00:13 [1/4] line 3: failed (exit 2): no such model"
    )
    answer = ImageResult(
        data=b"", format="png", width=16, height=16, media_type="image/png",
        usage=Usage(cost_micros=30_000), generation_id="gen-1", provider=None,
        route="images", elapsed_s=0.1, attempts=1,
    )  # fmt: skip
    made = Item(line=4, outcome=Outcome(0, 1, result=answer, path="out/fox.png"))
    assert progress_line(made, 2, 4) == "flux2: [2/4] line 4: ok $0.030 out/fox.png"
    unpriced = Item(line=4, outcome=Outcome(0, 1, result=replace(answer, usage=Usage())))
    assert progress_line(unpriced, 2, 4).endswith("ok ? None")
    hostile = _failed(6, UsageError("bad \x1b[31mred"))
    assert "\x1b" not in progress_line(hostile, 3, 4)


def test_calls_cut_off_point_at_reconcile() -> None:
    assert cut_off_warning(0) is None
    assert (cut_off_warning(1) or "").startswith("1 call cut off may have been billed: ")
    assert "--reconcile" in (cut_off_warning(2) or "")
    assert (cut_off_warning(2) or "").startswith("2 calls cut off")
