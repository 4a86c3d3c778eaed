"""What generate, edit and batches show for each image, and the client they share.

One line per written file on stdout (or one JSON object with --json); a dry run prints the
requests it would send; warnings a step returned are said on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flux_cli.cli.context import App, Endpoint
from flux_cli.errors import Flux2Error, UsageError

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.openrouter.client import OpenRouterClient
    from flux_cli.options import GenerateOptions
    from flux_cli.output import OutputPlan
    from flux_cli.spending import Outcome, Spending


def run_client(
    app: App,
    opts: GenerateOptions,
    endpoint: Endpoint,
    *,
    announce_retries: Callable[[], bool] = lambda: True,
    lanes: int = 1,
) -> OpenRouterClient:
    """The run's one client: its timeout, retry counts, and retries announced on stderr;
    `lanes` connection pools for that many requests at once."""
    from flux_cli.cli.boundary import resume_gc
    from flux_cli.openrouter.client import RetryNotice, Timeouts

    def notice(n: RetryNotice) -> None:
        if announce_retries():
            from flux_cli.cli.live import stamp

            app.info(
                f"{stamp(app)}attempt {n.attempt} failed ({n.reason}); retrying in {n.delay:.1f} s"
            )

    client = app.make_client(
        endpoint,
        timeouts=Timeouts(attempt=opts.timeout),
        max_retries=opts.retries,
        retry_ambiguous=1 if opts.retry_ambiguous else 0,
        on_retry=notice,
        lanes=lanes,
    )
    resume_gc()  # what start-up imports is in by now (generate and edit; see `guarded`)
    return client


def say_warnings(app: App, outcome: Outcome) -> None:
    """What saving an answer had to say: warnings, then notes."""
    for warning in outcome.warnings:
        app.warn(warning)
    for note in outcome.notes:
        app.info(note)
    outcome.warnings.clear()
    outcome.notes.clear()


def say_reconcile(app: App, unknown: int) -> None:
    """After Ctrl-C: calls cut off may have been billed, and this is how to find out."""
    from flux_cli.spending import RECONCILE_HINT

    if unknown:
        calls = "1 call" if unknown == 1 else f"{unknown} calls"
        app.warn(f"{calls} cut off may have been billed: {RECONCILE_HINT}")


def save(
    app: App,
    opts: GenerateOptions,
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    spending: Spending,
) -> None:
    """Save the answer and settle its row (`flux_cli.saving`), then say what went wrong."""
    from flux_cli.saving import save_and_settle

    try:
        save_and_settle(
            plan,
            output_plan,
            outcome,
            spending,
            force=opts.force,
            metadata=opts.metadata,
            stdout=app.stdout_bytes if output_plan.to_stdout else None,
        )
    finally:
        say_warnings(app, outcome)


def emit(
    app: App, plan: Plan, outcome: Outcome, json_lines: bool, extra: dict[str, Any] | None = None
) -> None:
    """The image's line on stdout: its path, or its JSON record with --json."""
    from flux_cli.records import money, seconds
    from flux_cli.spending import exit_code_of, failed_charge

    outcome.data = None
    estimate = plan.estimate.total_micros // plan.count
    result = outcome.result
    if json_lines:
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
            **money("charged", result.cost_micros if result else failed_charge(outcome.error)),
            "generation_id": result.generation_id
            if result
            else getattr(outcome.error, "generation_id", None),
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
        from flux_cli.metadata import json_text

        app.display(json_text(record))
    elif outcome.error is None and outcome.path not in (None, "-"):
        app.display(str(outcome.path))


def print_dry_run(app: App, plan: Plan, built_in_sandbox: bool) -> None:
    """The requests on stdout, one JSON object each, with the key masked."""
    from flux_cli.planning import dry_run_requests

    if built_in_sandbox:
        base_url, masked = "(the built-in sandbox)", "sk-or-v1-…"
    else:
        from flux_cli.credentials import DEFAULT_BASE_URL, resolve_base_url, resolve_key

        try:
            base_url = resolve_base_url()
        except UsageError:
            base_url = DEFAULT_BASE_URL
        try:
            masked = resolve_key().masked
        except Flux2Error:
            masked = "(no key found)"
    for request in dry_run_requests(plan, base_url, masked):
        app.display(json.dumps(request, ensure_ascii=False))
    app.info("dry run: nothing was sent")
