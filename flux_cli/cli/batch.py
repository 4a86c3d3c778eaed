"""`--batch FILE`: many prompts in one run, for pipelines and cron.

Every line is planned before anything is sent (`flux_cli.planning`), so a bad line fails on its
own without costing anything; the good ones then run K at a time (`flux_cli.batching`) over one
shared HTTP client, each with its own budget check and ledger row. Progress is a bar on a
terminal, one plain line per finished item otherwise, nothing with --quiet; --json prints one
line per item as it finishes; one summary table ends the run.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from flux_cli.choices import MAX_CONCURRENCY, MIN_CONCURRENCY
from flux_cli.cli.context import App
from flux_cli.cli.progress import Progress
from flux_cli.cli.report import emit, print_dry_run, run_client, save, say_reconcile
from flux_cli.errors import Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import ModelSpec
from flux_cli.options import GenerateOptions, check_max_cost, max_cost_micros
from flux_cli.planning import (
    ITEM_KEYS,
    MAX_ITEMS,
    MAX_LINE_BYTES,
    Item,
    model_for,
    plan_item,
    preflight,
    read_items,
    unknown_price_at,
)
from flux_cli.pricing import format_usd
from flux_cli.resume import PAID_NOT_WRITTEN, RESENT_UNKNOWN
from flux_cli.saving import ready_for_answers
from flux_cli.spending import Outcome, Spending, new_run_id, point_at_reconcile, reserve_ahead
from flux_cli.userfiles import bounded_lines, open_regular

if TYPE_CHECKING:
    from flux_cli.cli.context import Endpoint
    from flux_cli.ledger import Budgets, Ledger, Row
    from flux_cli.openrouter.client import OpenRouterClient

__all__ = ["MAX_ITEMS", "BatchFailure", "Item", "read_items", "run_batch"]


class BatchFailure(Flux2Error):
    exit_code = ExitCode.PARTIAL


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
    from flux_cli.ledger import Budgets, Ledger
    from flux_cli.resume import fingerprint, request_key

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
    catalog_url = None if opts.dry_run or sandbox else app.endpoint.base_url
    max_cost = max_cost_micros(opts)
    # An unknown price counts each item at its share of --max-cost.
    unknown_at = unknown_price_at(opts, max_cost, len(items))
    models: dict[str, ModelSpec] = {}

    def model_named(name: str) -> ModelSpec:
        if name not in models:
            models[name], warnings = model_for(
                name, catalog_url, sandbox=sandbox, unknown_at=unknown_at
            )
            for warning in warnings:
                app.warn(warning)
        return models[name]

    label = None if opts.dry_run else app.endpoint.label

    def plan(item: Item) -> None:
        plan_item(item, opts, model_named, len(items))
        if item.plan is not None and label is not None:
            directory = item.output.directory if item.output is not None else None
            key = request_key(opts.command, item.plan, directory)
            item.fingerprint = fingerprint(label, key)

    directories = set()
    for item in items:
        if item.error is None:
            plan(item)
        if item.output is not None and item.output.directory is not None:
            directories.add(item.output.directory)
        if not opts.dry_run:
            item.lean()  # planned again when its turn comes
    runnable = [item for item in items if item.error is None]
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
        return

    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    report_lock = threading.Lock()
    with (
        Ledger.open() as ledger,
        app.connected() as connected,
        Progress(app, len(items)) as progress,
    ):
        for item in items:
            if item.error is not None:
                _report(app, item, opts, progress, report_lock)
        if resume:
            runnable = _resume(app, ledger, connected, runnable, resend_unknown, plan)
            for item in items:
                if item.resumed in ("skipped", "held", "restored"):
                    _report(app, item, opts, progress, report_lock)
        client = run_client(
            app,
            opts,
            connected,
            announce_retries=lambda: progress.bar is None,
            lanes=min(concurrency, len(runnable)) or 1,
        )
        work = BatchRun(
            app, opts, client, ledger, connected.label, budgets, progress, report_lock, plan
        )
        with client:
            work.run(runnable, concurrency)
    _summary(app, items, work.run_id)
    _finish(items)


def _resume(
    app: App,
    ledger: Ledger,
    connected: Endpoint,
    runnable: list[Item],
    resend_unknown: bool,
    plan: Callable[[Item], None],
) -> list[Item]:
    """--resume: judge each line by the newest ledger row of its fingerprint (one indexed
    query); the lines still to send. A line whose earlier call is of unknown outcome is
    reconciled first, then held back unless `resend_unknown`."""
    from dataclasses import replace

    from flux_cli.resume import judge, written_file

    fingerprints = [item.fingerprint for item in runnable if item.fingerprint is not None]
    latest = ledger.latest_by_fingerprint(fingerprints)
    if any(row.status in ("pending", "unknown") for row in latest.values()):
        _reconcile(app, ledger, connected)
        latest = ledger.latest_by_fingerprint(fingerprints)
    to_send, made = [], []
    for item in runnable:
        row = latest.get(item.fingerprint) if item.fingerprint is not None else None
        if row is not None and row.status == "ok" and row.paths:
            # Made earlier: its file is checked (read and hashed) when its turn comes, after
            # the lines still to make, so that checking thousands of files delays no request.
            item.resumed, item.skipped_row = "verify", row
            made.append(item)
            continue
        judgement = judge(row, resend_unknown=resend_unknown)
        if row is not None and not row.paths and row.sha256s:
            # Killed between writing the image and settling its row: find the file.
            plan(item)  # for its output directory
            directory = item.output.directory if item.output is not None else None
            item.lean()
            found = written_file(directory or Path("."), row.sha256s[0], row.created_at)
            if found is not None:
                ledger.update(row.id, status="ok", paths=[str(found)])
                item.resumed, item.skipped_row = "skipped", ledger.get(row.id)
                continue
            row = replace(row, sha256s=())
            judgement = judge(row, resend_unknown=resend_unknown)
        if judgement.verdict == "skipped":
            assert row is not None
            item.resumed = "skipped"
            item.skipped_row = row
            continue
        if judgement.verdict == "restore":
            assert row is not None
            assert judgement.rescued is not None
            plan(item)  # for its output directory
            restored = _restore(ledger, item, row, judgement.rescued)
            item.lean()
            if restored is not None:
                item.resumed, item.skipped_row = "restored", restored
                continue
            item.resumed, item.resume_reason = (
                "remade",
                f"{judgement.rescued} could not be restored",
            )
        if judgement.verdict == "held":
            item.resumed, item.resume_reason = "held", judgement.reason
            item.error = HeldBack(f"held back: {judgement.reason}")
            continue
        if judgement.verdict == "remade":
            item.resumed, item.resume_reason = "remade", judgement.reason
        to_send.append(item)
    return to_send + made


def verify_made(item: Item) -> bool:
    """A line made earlier (see `_resume`), at its turn: True when its file is still there as
    written (the line is skipped); otherwise it is to be made again, and says why."""
    from flux_cli.resume import judge

    row = item.skipped_row
    assert row is not None
    judgement = judge(row, resend_unknown=False)
    if judgement.verdict == "skipped":
        item.resumed = "skipped"
        return True
    item.resumed, item.resume_reason, item.skipped_row = "remade", judgement.reason, None
    return False


def _restore(ledger: Ledger, item: Item, row: Row, rescued: Path) -> Row | None:
    """Write the paid bytes kept in the rescue directory where the line's image goes, and record
    the file on the earlier row; that row as it is now, or None when it cannot be done. The
    rescue file stays where it is."""
    import hashlib

    from flux_cli import atomic_write
    from flux_cli.errors import OutputError

    directory = item.output.directory if item.output is not None else None
    try:
        data = rescued.read_bytes()
        path = atomic_write.write_atomic(directory or Path("."), rescued.name, data)
    except (OSError, OutputError):
        return None
    digest = hashlib.sha256(data).hexdigest()
    ledger.update(row.id, status=row.status, paths=[str(path)], sha256s=[digest])
    return ledger.get(row.id)


def _reconcile(app: App, ledger: Ledger, connected: Endpoint) -> None:
    from datetime import UTC, datetime

    from flux_cli.reconcile import generation_lookup, reconcile

    lookup, close = generation_lookup(connected.base_url, connected.key)
    try:
        outcome = reconcile(
            ledger, connected.label, datetime.now(UTC), lookup, sandbox=app.uses_built_in_sandbox
        )
    finally:
        close()
    for note in outcome.notes:
        app.info(note)


class HeldBack(Flux2Error):
    """--resume: the line's earlier call may have been billed; it is not sent again."""

    exit_code = ExitCode.OUTCOME_UNKNOWN


class BatchRun:
    """A batch's items through the scheduler: what reserving, sending and finishing one means
    (`flux_cli.batching.BatchWork`), and the rows to settle on Ctrl-C."""

    def __init__(
        self,
        app: App,
        opts: GenerateOptions,
        client: OpenRouterClient,
        ledger: Ledger,
        endpoint: str,
        budgets: Budgets,
        progress: Progress,
        report_lock: threading.Lock,
        plan: Callable[[Item], None],
    ) -> None:
        self.app, self.opts, self.client, self.progress = app, opts, client, progress
        self.ledger, self.endpoint, self.budgets = ledger, endpoint, budgets
        self.report_lock = report_lock
        self.plan = plan  # again, just before the item's turn
        self.run_id = new_run_id()  # on every row of this run: `flux2 history --run ID`
        self.open: dict[int, Spending] = {}  # by line: items whose rows are not settled yet
        self.open_lock = threading.Lock()

    def run(self, items: list[Item], concurrency: int) -> None:
        from flux_cli.batching import BatchScheduler

        scheduler: BatchScheduler[Item] = BatchScheduler(self, concurrency)

        def on_interrupt(in_flight: int) -> None:
            self.app.warn(
                f"interrupted: no new items start; waiting for the {in_flight} in flight "
                "(Ctrl-C again to stop waiting)"
            )

        try:
            scheduler.run(
                items, while_first_round_is_out=ready_for_answers, on_interrupt=on_interrupt
            )
        except BaseException:
            with self.open_lock:
                still_open = list(self.open.values())
            say_reconcile(self.app, sum(spending.interrupted() for spending in still_open))
            raise

    # -- BatchWork ---------------------------------------------------------------------------

    def reserve(self, items: Sequence[Item]) -> None:
        spendings, planned = [], []
        for item in items:
            if item.resumed == "verify" and verify_made(item):
                continue  # made earlier: reported when the scheduler hands it on, never sent
            self.plan(item)
            if item.plan is None:  # a reference image went away since the line was checked
                continue
            planned.append(item)
            spending = Spending(
                self.ledger,
                self.endpoint,
                self.budgets,
                item.plan,
                self.opts.command,
                self.app.settings.store_prompts,
                self.run_id,
                item.fingerprint,
            )
            item.outcome = Outcome(index=item.line - 1, seed=item.plan.seeds[0])
            spendings.append(spending)
            with self.open_lock:
                self.open[item.line] = spending
        for item, result in zip(planned, reserve_ahead(spendings), strict=True):
            assert item.outcome is not None
            if isinstance(result, int):
                item.outcome.row_id = result
            else:
                item.outcome.error = result  # refused by a budget: it is never sent

    def may_send(self, item: Item) -> bool:
        outcome = item.outcome
        if outcome is None or outcome.error is not None or outcome.row_id is None:
            return False
        return self.open[item.line].sending(outcome.row_id)

    def send(self, item: Item, lane: int) -> None:
        assert item.plan is not None
        assert item.outcome is not None
        try:
            item.outcome.result = self.client.generate(
                item.plan.request(0),
                item.plan.route,
                lane=lane,
                before_ambiguous_retry=self.open[item.line].before_ambiguous_retry(item.outcome, 0),
            )
        except Flux2Error as exc:
            item.outcome.error = exc

    def finish(self, item: Item) -> None:
        plan, output_plan, outcome = item.plan, item.output, item.outcome
        if plan is None:  # failed when planned again: never sent
            _report(self.app, item, self.opts, self.progress, self.report_lock)
            item.done()
            return
        assert plan is not None
        assert output_plan is not None
        assert outcome is not None
        with self.open_lock:
            spending = self.open.pop(item.line)
        save(self.app, self.opts, plan, output_plan, outcome, spending)
        _report(self.app, item, self.opts, self.progress, self.report_lock)
        item.done()

    def not_sent(self, item: Item) -> None:
        with self.open_lock:
            spending = self.open.pop(item.line, None)
        if spending is not None and item.outcome is not None and item.outcome.row_id is not None:
            spending.not_sent(item.outcome.row_id)


def _report(
    app: App,
    item: Item,
    opts: GenerateOptions,
    progress: Progress,
    lock: threading.Lock,
) -> None:
    with lock:
        skipped = item.skipped_row
        if skipped is not None:
            _report_skipped(app, item, opts, skipped)
        elif opts.json_lines:
            if item.plan is not None and item.outcome is not None:
                emit(app, item.plan, item.outcome, True, {"line": item.line, "index": item.line})
            else:
                error = item.error
                assert error is not None
                app.display(
                    json.dumps(
                        {
                            "status": "failed",
                            "line": item.line,
                            "index": item.line,
                            # the line as given, so that the failures are a batch again
                            **{k: v for k, v in item.overrides.items() if k in ITEM_KEYS},
                            "prompt": item.prompt,
                            "error": error.message,
                            "exit_code": int(error.exit_code),
                        },
                        ensure_ascii=False,
                    )
                )
        elif item.outcome is not None and item.outcome.error is None and item.outcome.path:
            app.display(item.outcome.path)
        progress.finished(item)


def _report_skipped(app: App, item: Item, opts: GenerateOptions, row: Row) -> None:
    from flux_cli.pricing import micros_to_usd

    path = row.paths[0] if row.paths else None
    if opts.json_lines:
        record = {
            "status": "restored" if item.resumed == "restored" else "skipped",
            "line": item.line,
            "index": item.line,
            **{k: v for k, v in item.overrides.items() if k in ITEM_KEYS},
            "prompt": item.prompt,
            "path": path,
            "sha256": row.sha256s[0] if row.sha256s else None,
            "model": row.model,
            "seed": row.seed,
            "charged_usd": None
            if row.charged_micros is None
            else float(micros_to_usd(row.charged_micros)),
            "charged_micros": row.charged_micros,
            "run_id": row.run_id,
        }
        app.display(json.dumps(record, ensure_ascii=False))


def _summary(app: App, items: list[Item], run_id: str) -> None:
    if app.quiet:
        return
    from flux_cli.cli.render import styled_table

    started = [i for i in items if i.started]
    ok = [i for i in started if i.failure is None]
    failed = [i for i in items if i.failure is not None]
    blocked = [i for i in failed if i.failure and int(i.failure.exit_code) == ExitCode.BUDGET]
    estimate = sum(i.estimate_micros for i in started)
    charged = sum(i.charged_micros or 0 for i in started)
    table = styled_table(app.err, "Batch summary")
    table.show_header = False
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("items", str(len(items)))
    table.add_row("written", str(len(ok)))
    skipped = [i for i in items if i.resumed == "skipped"]
    restored = [i for i in items if i.resumed == "restored"]
    remade = [i for i in started if i.resumed == "remade"]
    held = [i for i in items if i.resumed == "held"]
    if skipped or remade or restored or held:
        table.add_row("skipped", f"{len(skipped)} (made by an earlier run, cost nothing now)")
        if restored:
            table.add_row("restored", f"{len(restored)} (paid earlier, from the rescue directory)")
        table.add_row("made again", str(len(remade)))
        if held:
            table.add_row("held back", f"{len(held)} (unknown earlier outcome, not sent)")
    table.add_row(
        "failed", f"{len(failed)}" + (f" ({len(blocked)} blocked by a budget)" if blocked else "")
    )
    table.add_row("estimate", format_usd(estimate))
    table.add_row("charged", format_usd(charged))
    table.add_row("run", f"{run_id} (flux2 history --run {run_id})")
    app.err.print()
    app.err.print(table)
    for item in remade[:20]:
        app.warn(f"line {item.line}: made again: {item.resume_reason}")
    twice = [i for i in remade if i.resume_reason == PAID_NOT_WRITTEN]
    if twice:
        app.warn(
            f"bought twice: {'line' if len(twice) == 1 else 'lines'} "
            + ", ".join(str(i.line) for i in twice)
            + " (paid for by the earlier run, whose images never reached the disk)"
        )
    maybe = [i for i in remade if i.resume_reason == RESENT_UNKNOWN]
    if maybe:
        app.warn(
            f"possibly bought twice: {'line' if len(maybe) == 1 else 'lines'} "
            + ", ".join(str(i.line) for i in maybe)
            + " (sent again with --resend-unknown; the earlier call may have been billed)"
        )
    for item in failed[:20]:
        assert item.failure is not None
        app.error(f"line {item.line}: {item.failure.message}")
    if len(failed) > 20:
        app.error(f"… and {len(failed) - 20} more failed lines (see --json)")


def _finish(items: list[Item]) -> None:
    from flux_cli.saving import doubted_charges

    failed = [i for i in items if i.failure is not None]
    if not failed:
        doubted_charges(i.charge_doubt for i in items)
        return
    lines = ("line " if len(failed) == 1 else "lines ") + ", ".join(
        str(i.line) for i in failed[:10]
    )
    lines += " …" if len(failed) > 10 else ""
    if len(failed) == len(items):
        # Nothing was written: the exit code of the first failure says why (7 when a budget
        # stopped every item, 4 for a bad key, …).
        first = failed[0].failure
        assert first is not None
        raise AllFailed(point_at_reconcile(first), lines)
    raise BatchFailure(
        f"{len(failed)} of {len(items)} items failed ({lines}); the others were written"
    )


class AllFailed(Flux2Error):
    def __init__(self, first: Flux2Error, lines: str) -> None:
        super().__init__(
            f"every item of the batch failed ({lines}); the first: {first.message}",
            hint=first.hint,
        )
        self.exit_code = first.exit_code
