"""One make_image or edit_image call, through the same core steps as `flux2 generate --json
--quiet`: plan (`flux_cli.planning`), reserve under the budgets (`flux_cli.spending`), send
(`flux_cli.sending`), save and settle (`flux_cli.saving`). The records are the command line's
`--json` records (`flux_cli.results.image_record`); what the run says to people is kept as
lines, as `--quiet` would print them: warnings and errors, no notes.

Nothing here speaks MCP, reads the standard streams or prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flux_cli.errors import Flux2Error, Interrupted, UsageError

if TYPE_CHECKING:
    from flux_cli.config import Settings
    from flux_cli.endpoints import Endpoint
    from flux_cli.generation import Plan
    from flux_cli.options import GenerateOptions
    from flux_cli.output import OutputPlan
    from flux_cli.spending import Outcome, Spending


@dataclass
class Ran:
    """What a call did: one record per image, what it said, and the error it ended with."""

    records: list[dict[str, Any]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    error: Flux2Error | None = None

    def warn(self, message: str) -> None:
        self._say(f"warning: {message}")

    def say_error(self, message: str) -> None:
        self._say(f"error: {message}")

    def _say(self, message: str) -> None:
        from flux_cli.redact import redact
        from flux_cli.textsafe import strip_control

        text = strip_control(redact(message))
        self.messages.extend(line.strip() for line in text.splitlines() if line.strip())


def run_images(opts: GenerateOptions, settings: Settings, sandbox_url: str | None) -> Ran:
    """Make the images `opts` asks for. `sandbox_url`: the server's one sandbox, for a
    --sandbox server (without one, a sandbox is started for the call, as the command line does);
    otherwise the API `FLUX2_BASE_URL` selects, with the key."""
    ran = Ran()
    try:
        with _endpoint(opts, sandbox_url) as endpoint:
            _run(opts, settings, endpoint, ran)
    except Flux2Error as exc:
        ran.error = exc
    return ran


@contextmanager
def _endpoint(opts: GenerateOptions, sandbox_url: str | None) -> Iterator[Endpoint]:
    from flux_cli.endpoints import built_in_sandbox, real_endpoint, sandbox_endpoint

    if not opts.sandbox:
        yield real_endpoint()
    elif sandbox_url is not None:
        yield sandbox_endpoint(sandbox_url)
    else:
        with built_in_sandbox() as started:
            yield started


def _run(opts: GenerateOptions, settings: Settings, endpoint: Endpoint, ran: Ran) -> None:
    from flux_cli.generation import MAX_COUNT
    from flux_cli.ledger import Budgets, Ledger
    from flux_cli.options import check_choices, check_max_cost
    from flux_cli.planning import prepare_run
    from flux_cli.results import images_failure
    from flux_cli.saving import doubted_charges
    from flux_cli.spending import Spending

    check_choices(opts)
    if not 1 <= opts.count <= MAX_COUNT:
        raise UsageError(f"count must be between 1 and {MAX_COUNT}, got {opts.count}")
    if opts.prompt is None or opts.prompt.strip() == "-":
        raise UsageError("the prompt must be the text itself")
    # The server's standard streams carry the protocol: neither is a terminal, and nothing here
    # reads them (the prompt is the text itself; references and outputs are file paths).
    sandbox = endpoint.built_in_sandbox
    prepared = prepare_run(
        opts,
        catalog_url=lambda: None if sandbox else endpoint.base_url,
        sandbox=sandbox,
        stdout_is_tty=lambda: False,
        stdin_is_tty=lambda: False,
        warn=ran.warn,
    )
    plan, output_plan = prepared.plan, prepared.output

    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    with Ledger.open() as ledger:
        spending = Spending(
            ledger, endpoint.label, budgets, plan, opts.command, settings.store_prompts
        )
        check_max_cost(plan.estimate.total_micros, prepared.max_cost)
        outcomes = _send_all(opts, plan, output_plan, spending, endpoint, ran)
    ended = images_failure(outcomes)
    if ended is None:
        doubted_charges(o.charge_doubt for o in outcomes)
        return
    said, error = ended
    for message in said:
        ran.say_error(message)
    raise error


def _send_all(
    opts: GenerateOptions,
    plan: Plan,
    output_plan: OutputPlan,
    spending: Spending,
    endpoint: Endpoint,
    ran: Ran,
) -> list[Outcome]:
    """One request per image, each with its ledger row; each image's record in index order."""
    from flux_cli.endpoints import make_client
    from flux_cli.openrouter.client import Timeouts
    from flux_cli.recipe import json_text
    from flux_cli.results import cut_off_warning, image_record
    from flux_cli.saving import save_for_run
    from flux_cli.sending import send_images

    def said(outcome: Outcome) -> None:
        for warning in outcome.warnings:
            ran.warn(warning)
        outcome.warnings.clear()
        outcome.notes.clear()  # notes are not said with --quiet

    def save(outcome: Outcome) -> None:
        save_for_run(opts, plan, output_plan, outcome, spending, say=said)

    def show(outcome: Outcome, in_order: bool) -> None:
        import json

        outcome.data = None
        ran.records.append(json.loads(json_text(image_record(plan, outcome))))

    assert endpoint.key is not None
    with make_client(
        endpoint.base_url,
        endpoint.key,
        timeouts=Timeouts(attempt=opts.timeout),
        max_retries=opts.retries,
        retry_ambiguous=1 if opts.retry_ambiguous else 0,
    ) as client:
        try:
            return send_images(
                plan, spending, client, save=save, show=show, say_error=ran.say_error
            )
        except Interrupted:
            warning = cut_off_warning(spending.interrupted())
            if warning is not None:
                ran.warn(warning)
            raise
