"""What a run reports and how it ends; the command line prints it, nothing here prints.

The JSON record of each image (`--json`), and of a batch line that failed before it was sent or
that `--resume` did not send again; the counts of a batch's summary; the error a run of several
images, or a batch, ends with when some of them failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flux_cli.errors import Flux2Error
from flux_cli.exit_codes import ExitCode
from flux_cli.resume import PAID_NOT_WRITTEN, RESENT_UNKNOWN

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.ledger import Row
    from flux_cli.planning import Item
    from flux_cli.spending import Outcome


def image_record(
    plan: Plan, outcome: Outcome, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An image's `--json` line (docs/schema/)."""
    from flux_cli.cost_rows import charge_of, generation_id_of
    from flux_cli.records import money, seconds
    from flux_cli.spending import exit_code_of

    estimate = plan.estimate.total_micros // plan.count
    result = outcome.result
    record: dict[str, Any] = {
        "status": "ok" if outcome.error is None else "failed",
        "index": outcome.index + 1,
        "path": outcome.path,
        "model": plan.model.id,
        "provider": result.provider if result else None,
        "route": plan.route,
        "seed": outcome.seed,
        "width": result.width if result else plan.size[0],
        "height": result.height if result else plan.size[1],
        "format": outcome.fmt,
        "bytes": outcome.size_bytes,
        "sha256": outcome.sha256,
        **money("estimate", estimate),
        **money("charged", charge_of(outcome)),
        "generation_id": generation_id_of(outcome),
        "elapsed_s": seconds(result.elapsed_s) if result else None,
        "prompt": plan.prompt,
        "content_credentials": outcome.credentials,
        "sidecar": outcome.sidecar,
    }
    # What the request was sent with beyond the prompt, under a batch line's names: so that
    # `--from` and a batch of failures make the same request again.
    if plan.resolution is not None:
        record["resolution"] = plan.resolution
    record.update(plan.options)
    if outcome.error is not None:
        record["error"] = outcome.error.message
        record["exit_code"] = int(outcome.error.exit_code)
    elif outcome.charge_doubt is not None:  # written; its charge is not believed
        record["error"] = outcome.charge_doubt
        record["exit_code"] = int(exit_code_of(outcome))
    record.update(extra or {})
    return record


def _line_as_given(item: Item) -> dict[str, Any]:
    from flux_cli.planning import ITEM_KEYS

    return {k: v for k, v in item.overrides.items() if k in ITEM_KEYS}


def failed_line_record(item: Item) -> dict[str, Any]:
    """The `--json` line of a batch line that failed before it was sent: the line as given, so
    that the failures are a batch again."""
    error = item.error
    assert error is not None
    return {
        "status": "failed",
        "line": item.line,
        "index": item.line,
        **_line_as_given(item),
        "prompt": item.prompt,
        "error": error.message,
        "exit_code": int(error.exit_code),
    }


def skipped_line_record(item: Item, row: Row) -> dict[str, Any]:
    """The `--json` line of a batch line `--resume` did not send again: made, or restored from
    the rescue directory, by an earlier run (its ledger row `row`)."""
    from flux_cli.records import usd

    return {
        "status": "restored" if item.resumed == "restored" else "skipped",
        "line": item.line,
        "index": item.line,
        **_line_as_given(item),
        "prompt": item.prompt,
        "path": row.paths[0] if row.paths else None,
        "sha256": row.sha256s[0] if row.sha256s else None,
        "model": row.model,
        "seed": row.seed,
        "charged_usd": usd(row.charged_micros),
        "charged_micros": row.charged_micros,
        "run_id": row.run_id,
    }


@dataclass(frozen=True)
class BatchSummary:
    """The counts that end a batch run, and the lines worth naming."""

    items: int
    written: int
    skipped: int  # made by an earlier run (--resume)
    restored: int  # paid earlier, written now from the rescue directory
    held: int  # an unknown earlier outcome: not sent
    remade: list[tuple[int, str | None]]  # (line, why) made again
    bought_twice: list[int]  # lines paid for by an earlier run whose image never reached disk
    maybe_twice: list[int]  # lines sent again with --resend-unknown
    failed: list[tuple[int, str]]  # (line, message)
    blocked: int  # of the failed, stopped by a budget
    estimate_micros: int
    charged_micros: int

    @property
    def resumed(self) -> bool:
        return bool(self.skipped or self.remade or self.restored or self.held)


def summarize(items: Sequence[Item]) -> BatchSummary:
    started = [i for i in items if i.started]
    failed = [i for i in items if i.failure is not None]
    remade = [i for i in started if i.resumed == "remade"]
    return BatchSummary(
        items=len(items),
        written=sum(1 for i in started if i.failure is None),
        skipped=sum(1 for i in items if i.resumed == "skipped"),
        restored=sum(1 for i in items if i.resumed == "restored"),
        held=sum(1 for i in items if i.resumed == "held"),
        remade=[(i.line, i.resume_reason) for i in remade],
        bought_twice=[i.line for i in remade if i.resume_reason == PAID_NOT_WRITTEN],
        maybe_twice=[i.line for i in remade if i.resume_reason == RESENT_UNKNOWN],
        failed=[(i.line, i.failure.message) for i in failed if i.failure is not None],
        blocked=sum(1 for i in failed if i.failure and int(i.failure.exit_code) == ExitCode.BUDGET),
        estimate_micros=sum(i.estimate_micros for i in started),
        charged_micros=sum(i.charged_micros or 0 for i in started),
    )


def cut_off_warning(unknown: int) -> str | None:
    """After Ctrl-C: that the calls cut off may have been billed, and how to find out."""
    from flux_cli.spending import RECONCILE_HINT

    if not unknown:
        return None
    calls = "1 call" if unknown == 1 else f"{unknown} calls"
    return f"{calls} cut off may have been billed: {RECONCILE_HINT}"


def summary_rows(summary: BatchSummary, run_id: str) -> list[tuple[str, str]]:
    """The batch summary as (what, value) rows."""
    from flux_cli.pricing import format_usd

    rows = [("items", str(summary.items)), ("written", str(summary.written))]
    if summary.resumed:
        rows.append(("skipped", f"{summary.skipped} (made by an earlier run, cost nothing now)"))
        if summary.restored:
            rows.append(
                ("restored", f"{summary.restored} (paid earlier, from the rescue directory)")
            )
        rows.append(("made again", str(len(summary.remade))))
        if summary.held:
            rows.append(("held back", f"{summary.held} (unknown earlier outcome, not sent)"))
    blocked = f" ({summary.blocked} blocked by a budget)" if summary.blocked else ""
    rows.append(("failed", f"{len(summary.failed)}{blocked}"))
    rows.append(("estimate", format_usd(summary.estimate_micros)))
    rows.append(("charged", format_usd(summary.charged_micros)))
    rows.append(("run", f"{run_id} (flux2 history --run {run_id})"))
    return rows


def summary_notes(summary: BatchSummary, shown: int = 20) -> tuple[list[str], list[str]]:
    """What follows the batch summary: warnings (lines made again, bought twice), then errors
    (the failed lines, at most `shown` of each)."""
    warnings = [f"line {line}: made again: {reason}" for line, reason in summary.remade[:shown]]
    if summary.bought_twice:
        warnings.append(
            f"bought twice: {_lines(summary.bought_twice)}"
            " (paid for by the earlier run, whose images never reached the disk)"
        )
    if summary.maybe_twice:
        warnings.append(
            f"possibly bought twice: {_lines(summary.maybe_twice)}"
            " (sent again with --resend-unknown; the earlier call may have been billed)"
        )
    errors = [f"line {line}: {message}" for line, message in summary.failed[:shown]]
    if len(summary.failed) > shown:
        errors.append(f"… and {len(summary.failed) - shown} more failed lines (see --json)")
    return warnings, errors


def _lines(numbers: list[int]) -> str:
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(str(n) for n in numbers)


def progress_line(item: Item, done: int, total: int, time: str = "") -> str:
    """A finished batch line as one plain line for a log: `[3/10] line 3: ok $0.030 fox.png`."""
    from flux_cli.pricing import format_usd
    from flux_cli.redact import redact
    from flux_cli.textsafe import strip_control

    prefix = f"flux2: {time}[{done}/{total}] line {item.line}:"
    outcome = item.outcome
    error = item.failure
    skipped = item.skipped_row
    if skipped is not None:
        path = skipped.paths[0] if skipped.paths else "?"
        done_as = (
            "restored from the rescue directory"
            if item.resumed == "restored"
            else "skipped, made by an earlier run"
        )
        return strip_control(f"{prefix} {done_as}: {path}")
    if error is not None:
        return strip_control(
            redact(f"{prefix} failed (exit {int(error.exit_code)}): {error.message}")
        )
    assert outcome is not None
    assert outcome.result is not None
    cost = outcome.result.cost_micros
    return strip_control(
        f"{prefix} ok {format_usd(cost) if cost is not None else '?'} {outcome.path}"
    )


class PartialFailure(Flux2Error):
    """Some images of a run failed; the others were written."""

    exit_code = ExitCode.PARTIAL


class BatchFailure(Flux2Error):
    """Some lines of a batch failed; the others were written."""

    exit_code = ExitCode.PARTIAL


class AllFailed(Flux2Error):
    """Every line of a batch failed: the exit code of the first failure says why (7 when a
    budget stopped every line, 4 for a bad key, …)."""

    def __init__(self, first: Flux2Error, lines: str) -> None:
        super().__init__(
            f"every item of the batch failed ({lines}); the first: {first.message}",
            hint=first.hint,
        )
        self.exit_code = first.exit_code


def images_failure(outcomes: Sequence[Outcome]) -> tuple[list[str], Flux2Error] | None:
    """How a run of images ends when some failed: what to say about them, and the error to exit
    with (the first failure itself when all failed). None when none failed."""
    from flux_cli.spending import point_at_reconcile

    failures = [o for o in outcomes if o.error is not None]
    if not failures:
        return None
    if len(failures) == len(outcomes):
        first = failures[0].error
        assert first is not None
        said = [f"image {o.index + 1}: {o.error.message}" for o in failures[1:] if o.error]
        return said, point_at_reconcile(first)
    said = [f"image {o.index + 1} (seed {o.seed}): {o.error.message}" for o in failures if o.error]
    return said, PartialFailure(
        f"{len(failures)} of {len(outcomes)} images failed; the others were written"
    )


def batch_failure(items: Sequence[Item]) -> Flux2Error | None:
    """The error a batch ends with when some of its lines failed; None when none did."""
    from flux_cli.spending import point_at_reconcile

    failed = [i for i in items if i.failure is not None]
    if not failed:
        return None
    lines = _lines([i.line for i in failed[:10]])
    lines += " …" if len(failed) > 10 else ""
    if len(failed) == len(items):
        first = failed[0].failure
        assert first is not None
        return AllFailed(point_at_reconcile(first), lines)
    return BatchFailure(
        f"{len(failed)} of {len(items)} items failed ({lines}); the others were written"
    )
