"""What `flux2 generate` and `flux2 edit` do once their flags are parsed.

A shell over the core: read the prompt, plan (`flux_cli.planning`), show the estimate, send,
save and settle (`flux_cli.saving`, `flux_cli.spending`), show the charge. A batch goes to
`flux_cli.cli.batch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli.cli.context import App
from flux_cli.cli.flags import explicit_options
from flux_cli.cli.render import show_charged, show_estimate
from flux_cli.cli.report import emit, print_dry_run, run_client, save, say_reconcile
from flux_cli.errors import Interrupted
from flux_cli.generation import Plan
from flux_cli.options import (
    GenerateOptions,
    check_choices,
    check_max_cost,
    parse_money,
    run_options,
)
from flux_cli.planning import prepare_run
from flux_cli.results import PartialFailure, images_failure
from flux_cli.spending import Outcome, Spending

if TYPE_CHECKING:
    from flux_cli.output import OutputPlan

# Importable from here as before (tests).
__all__ = [
    "GenerateOptions",
    "PartialFailure",
    "parse_money",
    "run_cli",
    "run_command",
    "run_generate",
]


# -- the run -----------------------------------------------------------------------------------


def run_cli(ctx: Any, command: str) -> None:
    """generate and edit: Typer has parsed every option into `ctx.params`; build the run from it."""
    params = dict(ctx.params)
    run_command(
        ctx.obj,
        opts=GenerateOptions.from_params(command, params),
        batch=params["batch"],
        concurrency=params["concurrency"],
        lock=params["lock"],
        resume=(bool(params.get("resume")), bool(params.get("resend_unknown"))),
        from_file=params["from_file"],
        explicit=explicit_options(ctx),
    )


def run_command(
    app: App,
    *,
    opts: GenerateOptions,
    batch: str | None,
    concurrency: int,
    lock: str | None,
    from_file: Path | None = None,
    explicit: frozenset[str] = frozenset(),
    resume: tuple[bool, bool] = (False, False),
) -> None:
    """generate and edit: one run, or a batch, optionally under a named lock."""
    from contextlib import nullcontext

    from flux_cli.locking import hold

    opts, concurrency = run_options(
        opts,
        concurrency,
        explicit,
        app.settings,
        batch=batch,
        from_file=from_file,
        resume=resume,
        warn=app.warn,
    )
    if opts.sandbox:
        app.use_sandbox()

    with hold(lock) if lock is not None else nullcontext():
        if batch is not None:
            from flux_cli.cli.batch import run_batch

            run_batch(app, opts, batch, concurrency, resume=resume[0], resend_unknown=resume[1])
        else:
            run_generate(app, opts)


def run_generate(app: App, opts: GenerateOptions) -> None:
    app.quiet = opts.quiet
    check_choices(opts)
    if opts.sandbox:
        app.use_sandbox()
    sandbox = app.uses_built_in_sandbox
    prepared = prepare_run(
        opts,
        catalog_url=lambda: None if opts.dry_run or sandbox else app.endpoint.base_url,
        sandbox=sandbox,
        stdout_is_tty=app.stdout_is_tty,
        stdin_is_tty=app.stdin_is_tty,
        warn=app.warn,
    )
    plan, references, max_cost = prepared.plan, prepared.references, prepared.max_cost
    for reference in references:
        if reference.removed_gps:
            app.info(f"removed GPS location data from {reference.source} before sending it")
    if opts.dry_run:
        show_estimate(app, plan, references, None)
        check_max_cost(plan.estimate.total_micros, max_cost)
        print_dry_run(app, plan, app.uses_built_in_sandbox)
        return

    from flux_cli.ledger import Budgets, Ledger

    settings = app.settings
    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    with Ledger.open() as ledger:
        spending = Spending(
            ledger, app.endpoint.label, budgets, plan, opts.command, settings.store_prompts
        )
        show_estimate(app, plan, references, spending.remaining_text())
        check_max_cost(plan.estimate.total_micros, max_cost)
        outcomes = _send_all(app, opts, plan, prepared.output, spending)
    show_charged(app, plan, outcomes)
    _finish(app, outcomes)


def _send_all(
    app: App, opts: GenerateOptions, plan: Plan, output_plan: OutputPlan, spending: Spending
) -> list[Outcome]:
    """One request per image (in parallel for -n), each with its ledger row; each image named
    on stdout (and previewed) in index order."""
    from flux_cli.sending import send_images

    previewed = False

    def show(outcome: Outcome, in_order: bool) -> None:
        nonlocal previewed
        emit(app, plan, outcome, opts.json_lines)
        if in_order and opts.preview and outcome.error is None and outcome.path not in (None, "-"):
            from flux_cli.cli.preview import show_preview

            assert outcome.path is not None
            show_preview(app, outcome.path, announce_skip=not previewed)
            previewed = True

    with app.connected() as endpoint, run_client(app, opts, endpoint) as client:
        try:
            with _waiting(app, plan):
                return send_images(
                    plan,
                    spending,
                    client,
                    save=lambda outcome: save(app, opts, plan, output_plan, outcome, spending),
                    show=show,
                    say_error=app.error,
                )
        except Interrupted:
            say_reconcile(app, spending.interrupted())
            raise


@contextmanager
def _waiting(app: App, plan: Plan) -> Iterator[None]:
    """A spinner on a terminal while the request is out; nothing otherwise."""
    if app.quiet or not app.stderr_is_tty():
        yield
        return
    from rich.live import Live
    from rich.spinner import Spinner

    what = f"{plan.count} images" if plan.count > 1 else "the image"
    spinner = Spinner("dots", text=f"generating {what} with {plan.model.alias}…")
    # Not console.status(): its Live captures stdout and prints it on stderr while it spins, and
    # stdout is data for whatever reads it (`flux2 generate … > paths.txt` at a terminal).
    from flux_cli.cli.live import shown

    live = Live(
        spinner,
        console=app.err,
        transient=True,
        refresh_per_second=12.5,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with shown(app, live):  # paths written meanwhile go above the spinner
        yield


def _finish(app: App, outcomes: list[Outcome]) -> None:
    from flux_cli.saving import doubted_charges

    ended = images_failure(outcomes)
    if ended is None:
        doubted_charges(o.charge_doubt for o in outcomes)
    if ended is not None:
        said, error = ended
        for message in said:
            app.error(message)
        raise error
