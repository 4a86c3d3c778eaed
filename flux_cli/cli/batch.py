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
from typing import TYPE_CHECKING

from flux_cli.cli.context import App
from flux_cli.cli.progress import Progress
from flux_cli.cli.report import emit, print_dry_run, run_client, say_reconcile, say_warnings
from flux_cli.options import GenerateOptions, check_batch_options, check_max_cost
from flux_cli.planning import MAX_ITEMS, Item, read_items
from flux_cli.results import BatchFailure, batch_failure, failed_line_record, skipped_line_record

if TYPE_CHECKING:
    from flux_cli.cli.context import Endpoint
    from flux_cli.ledger import Ledger

__all__ = ["MAX_ITEMS", "BatchFailure", "Item", "read_items", "run_batch"]


def run_batch(
    app: App,
    opts: GenerateOptions,
    batch: str,
    concurrency: int,
    *,
    resume: bool = False,
    resend_unknown: bool = False,
) -> None:
    from flux_cli.batch_work import BatchRun, batch_headline, prepare_batch
    from flux_cli.ledger import Budgets, Ledger

    app.quiet = opts.quiet
    for warning in check_batch_options(opts, concurrency):
        app.warn(warning)
    if opts.sandbox:
        app.use_sandbox()
    settings = app.settings
    prepared = prepare_batch(
        opts,
        batch,
        sys.stdin.buffer if sys.stdin is not None else None,
        endpoint=lambda: (app.endpoint.base_url, app.endpoint.label),
        sandbox=app.uses_built_in_sandbox,
        warn=app.warn,
    )
    items, runnable, planner = prepared.items, prepared.runnable, prepared.planner
    if not opts.quiet:
        app.info(batch_headline(items, runnable, concurrency))
    check_max_cost(prepared.total_micros, prepared.max_cost)
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
    from flux_cli.batch_work import invalid_lines

    for item in runnable:
        assert item.plan is not None
        print_dry_run(app, item.plan, app.uses_built_in_sandbox)
    invalid = invalid_lines(items)
    if invalid is not None:
        said, error = invalid
        for message in said:
            app.error(message)
        raise error


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
    from flux_cli.cli.tables import facts_table
    from flux_cli.results import summarize, summary_notes, summary_rows

    summary = summarize(items)
    table = facts_table(app.err, "Batch summary")
    for what, value in summary_rows(summary, run_id):
        table.add_row(what, value)
    app.err.print()
    app.err.print(table)
    warnings, errors = summary_notes(summary)
    for warning in warnings:
        app.warn(warning)
    for error in errors:
        app.error(error)
