"""`--batch FILE`: many prompts in one run, for pipelines and cron.

Every line is planned before anything is sent (`flux_cli.batch_work`), so a bad line fails on
its own without costing anything; the good ones then run K at a time (`flux_cli.batching`) over
one shared HTTP client, each with its own budget check and ledger row. Progress is a bar on a
terminal, one plain line per finished item otherwise, nothing with --quiet; --json prints one
line per item as it finishes; one summary table ends the run.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from flux_cli.choices import MAX_CONCURRENCY, MIN_CONCURRENCY
from flux_cli.cli.context import App
from flux_cli.cli.progress import Progress
from flux_cli.cli.report import emit, print_dry_run, run_client, say_reconcile, say_warnings
from flux_cli.errors import UsageError
from flux_cli.options import GenerateOptions, check_max_cost, max_cost_micros
from flux_cli.planning import (
    MAX_ITEMS,
    MAX_LINE_BYTES,
    Item,
    preflight,
    read_items,
    unknown_price_at,
)
from flux_cli.pricing import format_usd
from flux_cli.results import BatchFailure, batch_failure, failed_line_record, skipped_line_record
from flux_cli.userfiles import bounded_lines, open_regular

if TYPE_CHECKING:
    from flux_cli.cli.context import Endpoint
    from flux_cli.ledger import Ledger

__all__ = ["MAX_ITEMS", "BatchFailure", "Item", "read_items", "run_batch"]


def _read_batch(batch: str) -> list[Item]:
    if batch == "-":
        if sys.stdin is None:
            raise UsageError("--batch - needs the batch on stdin, but stdin is closed")
        return read_items(bounded_lines(sys.stdin.buffer, MAX_LINE_BYTES), "stdin")
    try:
        with open_regular(Path(batch), "the batch file") as handle:
            return read_items(bounded_lines(handle, MAX_LINE_BYTES), batch)
    except OSError as exc:
        raise UsageError(f"cannot read the batch file {batch}: {exc.strerror}") from None


def run_batch(
    app: App,
    opts: GenerateOptions,
    batch: str,
    concurrency: int,
    *,
    resume: bool = False,
    resend_unknown: bool = False,
) -> None:
    from flux_cli.batch_work import BatchPlanner, BatchRun
    from flux_cli.ledger import Budgets, Ledger

    app.quiet = opts.quiet
    if not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(
            f"--concurrency must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}, got {concurrency}"
        )
    if opts.prompt is not None or opts.prompt_file is not None:
        raise UsageError("--batch takes its prompts from the batch file; give no prompt argument")
    if opts.count != 1:
        raise UsageError("-n does not combine with --batch; repeat the line instead")
    if opts.output == "-":
        raise UsageError("a batch cannot write images to stdout (-o -)")
    if opts.preview:
        app.warn("--preview is ignored with --batch; flux2 inspect FILE --preview draws one image")
    if opts.sandbox:
        app.use_sandbox()
    settings = app.settings
    items = _read_batch(batch)
    if not items:
        raise UsageError(f"the batch {batch} holds no prompts")

    sandbox = app.uses_built_in_sandbox
    max_cost = max_cost_micros(opts)
    planner = BatchPlanner(
        opts,
        len(items),
        catalog_url=None if opts.dry_run or sandbox else app.endpoint.base_url,
        sandbox=sandbox,
        # An unknown price counts each item at its share of --max-cost.
        unknown_at=unknown_price_at(opts, max_cost, len(items)),
        label=None if opts.dry_run else app.endpoint.label,
    )
    runnable, directories = planner.plan_all(items)
    for warning in planner.warnings:
        app.warn(warning)
    for directory in directories:
        preflight(directory)
    total = sum(item.estimate_micros for item in runnable)
    if not opts.quiet:
        bad = len(items) - len(runnable)
        app.info(
            f"batch: {len(items)} {'item' if len(items) == 1 else 'items'} ({bad} with errors), "
            f"estimate {format_usd(total)} for {len(runnable)} {'image' if len(runnable) == 1 else 'images'}"
            + (f", {concurrency} at a time" if len(runnable) > 1 else "")
        )
    check_max_cost(total, max_cost)
    if opts.dry_run:
        _dry_run(app, items, runnable)
        return

    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    report_lock = threading.Lock()
    with (
        Ledger.open() as ledger,
        app.connected() as connected,
        Progress(app, len(items)) as progress,
    ):

        def report(item: Item) -> None:
            with report_lock:
                _report(app, item, opts)
                progress.finished(item)

        for item in items:
            if item.error is not None:
                report(item)
        if resume:
            from flux_cli.resume import resume_lines

            runnable = resume_lines(
                ledger,
                runnable,
                resend_unknown=resend_unknown,
                plan=planner.plan,
                reconcile=lambda: _reconcile(app, ledger, connected),
            )
            for item in items:
                if item.resumed in ("skipped", "held", "restored"):
                    report(item)
        client = run_client(
            app,
            opts,
            connected,
            announce_retries=lambda: progress.bar is None,
            lanes=min(concurrency, len(runnable)) or 1,
        )
        work = BatchRun(
            client,
            ledger,
            connected.label,
            budgets,
            opts,
            store_prompts=settings.store_prompts,
            plan=planner.plan,
            report=report,
            say=lambda outcome: say_warnings(app, outcome),
        )

        def on_interrupt(in_flight: int) -> None:
            app.warn(
                f"interrupted: no new items start; waiting for the {in_flight} in flight "
                "(Ctrl-C again to stop waiting)"
            )

        with client:
            try:
                work.run(runnable, concurrency, on_interrupt)
            except BaseException:
                say_reconcile(app, work.cut_off)
                raise
    _summary(app, items, work.run_id)
    failure = batch_failure(items)
    if failure is not None:
        raise failure
    from flux_cli.saving import doubted_charges

    doubted_charges(i.charge_doubt for i in items)


def _dry_run(app: App, items: list[Item], runnable: list[Item]) -> None:
    """The requests the lines would send; a batch with bad lines fails, having sent nothing."""
    for item in runnable:
        assert item.plan is not None
        print_dry_run(app, item.plan, app.uses_built_in_sandbox)
    bad_items = [item for item in items if item.error is not None]
    for item in bad_items:
        assert item.error is not None
        app.error(f"line {item.line}: {item.error.message}")
    if bad_items:
        lines = ", ".join(str(item.line) for item in bad_items)
        raise UsageError(
            f"{len(bad_items)} of {len(items)} batch lines are not valid "
            f"({'line' if len(bad_items) == 1 else 'lines'} {lines}); nothing was sent"
        )


def _reconcile(app: App, ledger: Ledger, connected: Endpoint) -> None:
    from collections.abc import Callable
    from datetime import UTC, datetime

    from flux_cli.openrouter.client import Timeouts
    from flux_cli.reconcile import LOOKUP_ATTEMPT_S, Lookup, lookup_through, reconcile_api

    def connect() -> tuple[Lookup, Callable[[], None]]:
        client = app.make_client(connected, timeouts=Timeouts(attempt=LOOKUP_ATTEMPT_S))
        return lookup_through(client), client.close

    now, sandbox = datetime.now(UTC), app.uses_built_in_sandbox
    outcome = reconcile_api(ledger, connected.label, now, connect, sandbox=sandbox)
    for note in outcome.notes:
        app.info(note)


def _report(app: App, item: Item, opts: GenerateOptions) -> None:
    """A finished line on stdout: its path, or its JSON record with --json."""
    skipped = item.skipped_row
    if skipped is not None:
        if opts.json_lines:
            app.display(json.dumps(skipped_line_record(item, skipped), ensure_ascii=False))
    elif opts.json_lines:
        if item.plan is not None and item.outcome is not None:
            emit(app, item.plan, item.outcome, True, {"line": item.line, "index": item.line})
        else:
            app.display(json.dumps(failed_line_record(item), ensure_ascii=False))
    elif item.outcome is not None and item.outcome.error is None and item.outcome.path:
        app.display(item.outcome.path)


def _summary(app: App, items: list[Item], run_id: str) -> None:
    if app.quiet:
        return
    from flux_cli.cli.render import styled_table
    from flux_cli.results import summarize

    summary = summarize(items)
    table = styled_table(app.err, "Batch summary")
    table.show_header = False
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("items", str(summary.items))
    table.add_row("written", str(summary.written))
    if summary.resumed:
        table.add_row("skipped", f"{summary.skipped} (made by an earlier run, cost nothing now)")
        if summary.restored:
            table.add_row(
                "restored", f"{summary.restored} (paid earlier, from the rescue directory)"
            )
        table.add_row("made again", str(len(summary.remade)))
        if summary.held:
            table.add_row("held back", f"{summary.held} (unknown earlier outcome, not sent)")
    blocked = f" ({summary.blocked} blocked by a budget)" if summary.blocked else ""
    table.add_row("failed", f"{len(summary.failed)}{blocked}")
    table.add_row("estimate", format_usd(summary.estimate_micros))
    table.add_row("charged", format_usd(summary.charged_micros))
    table.add_row("run", f"{run_id} (flux2 history --run {run_id})")
    app.err.print()
    app.err.print(table)
    for line, reason in summary.remade[:20]:
        app.warn(f"line {line}: made again: {reason}")
    if summary.bought_twice:
        app.warn(
            f"bought twice: {_lines(summary.bought_twice)}"
            " (paid for by the earlier run, whose images never reached the disk)"
        )
    if summary.maybe_twice:
        app.warn(
            f"possibly bought twice: {_lines(summary.maybe_twice)}"
            " (sent again with --resend-unknown; the earlier call may have been billed)"
        )
    for line, message in summary.failed[:20]:
        app.error(f"line {line}: {message}")
    if len(summary.failed) > 20:
        app.error(f"… and {len(summary.failed) - 20} more failed lines (see --json)")


def _lines(numbers: list[int]) -> str:
    return ("line " if len(numbers) == 1 else "lines ") + ", ".join(str(n) for n in numbers)
