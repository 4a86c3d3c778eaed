"""What generate, edit and batches show for each image, and the client they share.

One line per written file on stdout (or one JSON object with --json); a dry run prints the
requests it would send; warnings a step returned are said on stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flux_cli.cli.context import App, Endpoint

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
    from flux_cli.results import cut_off_warning

    warning = cut_off_warning(unknown)
    if warning is not None:
        app.warn(warning)


def save(
    app: App,
    opts: GenerateOptions,
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    spending: Spending,
) -> None:
    """Save the answer and settle its row (`flux_cli.saving`), then say what went wrong."""
    from functools import partial

    from flux_cli.saving import save_for_run

    stdout = app.stdout_bytes if output_plan.to_stdout else None
    save_for_run(
        opts, plan, output_plan, outcome, spending, say=partial(say_warnings, app), stdout=stdout
    )


def emit(
    app: App, plan: Plan, outcome: Outcome, json_lines: bool, extra: dict[str, Any] | None = None
) -> None:
    """The image's line on stdout: its path, or its JSON record with --json."""
    outcome.data = None
    if json_lines:
        from flux_cli.metadata import json_text
        from flux_cli.results import image_record

        app.display(json_text(image_record(plan, outcome, extra)))
    elif outcome.error is None and outcome.path not in (None, "-"):
        app.display(str(outcome.path))


def print_dry_run(app: App, plan: Plan, built_in_sandbox: bool) -> None:
    """The requests on stdout, one JSON object each, with the key masked."""
    from flux_cli.planning import dry_run_requests, dry_run_target

    for request in dry_run_requests(plan, *dry_run_target(built_in_sandbox)):
        app.display(json.dumps(request, ensure_ascii=False))
    app.info("dry run: nothing was sent")
