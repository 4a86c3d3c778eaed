"""Saving an answer: convert to the asked format, embed the recipe, write the file (or stdout),
keep the bytes of a paid image that cannot be written, and settle the call's ledger row.

Nothing here prints: what a person should hear goes to `outcome.warnings`, and the caller says it.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO

from flux_cli.errors import Flux2Error, Interrupted, OutputError
from flux_cli.exit_codes import ExitCode
from flux_cli.spending import Outcome, Spending

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from flux_cli.generation import Plan
    from flux_cli.metadata import ToWrite
    from flux_cli.options import GenerateOptions
    from flux_cli.output import OutputPlan


def ready_for_answers() -> None:
    """Import what checking and saving an answer needs (Pillow with the codecs it loads on first
    use, and the metadata writer) while requests are out, rather than after the first answer has
    come."""
    try:
        from PIL import Image

        Image.preinit()
        import flux_cli.metadata  # noqa: F401
    except ImportError:
        pass  # it fails again where it is needed, and is reported there


def with_metadata(
    plan: Plan,
    outcome: Outcome,
    data: bytes,
    fmt: str,
    level: str,
    converted_from: tuple[bytes, str] | None = None,
) -> ToWrite:
    """The bytes to write: the recipe embedded (pixels untouched), or, for an image with content
    credentials, the image untouched and the recipe as a sidecar (see metadata.for_saving).
    `converted_from`: the answer's own bytes and format, when `data` is a conversion of them."""
    from flux_cli import metadata

    result = outcome.result
    assert result is not None
    recipe = metadata.recipe_for(
        plan,
        seed=outcome.seed,
        width=result.width,
        height=result.height,
        fmt=fmt,
        generation_id=result.generation_id,
        provider=result.provider,
        cost_micros=result.cost_micros,
        level=level,
    )
    to_write = metadata.for_saving(data, fmt, recipe, converted_from=converted_from)
    outcome.warnings.extend(to_write.warnings)
    return to_write


def save(
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    *,
    force: bool,
    metadata: str = "full",
    stdout: BinaryIO | None = None,
    before_write: Callable[[Outcome], None] | None = None,
) -> None:
    """Write the answer's image where `output_plan` says (`stdout` for `-o -`), and the recipe's
    sidecar next to it for an image that keeps its content credentials. `before_write` is told
    the image's sha256 (in `outcome`) just before its file is written."""
    from flux_cli import atomic_write, images
    from flux_cli.filenames import NameFields
    from flux_cli.openrouter.errors import BadResponseError

    result = outcome.result
    assert result is not None
    if (result.width, result.height) != plan.size:
        outcome.warnings.append(
            f"asked for {plan.size[0]}x{plan.size[1]} but the server returned "
            f"{result.width}x{result.height}; the size was not honoured (the charge shows what was billed)"
        )
    data, fmt = result.data, result.format
    converted_from = None
    if plan.target_format is not None and plan.target_format != fmt:
        try:
            data = images.convert_image(data, plan.target_format)
        except images.InvalidImage as exc:
            raise BadResponseError(
                f"converting the image to {plan.target_format} failed ({exc.reason})"
            ) from None
        converted_from = (result.data, fmt)
        outcome.converted_from, fmt = fmt, plan.target_format
    to_write = with_metadata(plan, outcome, data, fmt, metadata, converted_from)
    data, outcome.credentials = to_write.data, to_write.credentials
    outcome.fmt = fmt
    outcome.sha256 = hashlib.sha256(data).hexdigest()
    outcome.size_bytes = len(data)
    outcome.data = data
    if output_plan.directory is None:
        assert stdout is not None
        atomic_write.write_stdout(data, stdout)
        outcome.path = "-"
        if to_write.sidecar is not None:
            outcome.notes.append(
                "the image keeps its content credentials, so its recipe is not in it; -o - writes no sidecar"
            )
        return
    fields = NameFields(
        when=datetime.now(),
        model=plan.model.alias,
        seed=outcome.seed,
        prompt=plan.prompt,
        index=outcome.index + 1,
        n=plan.count,
        fmt=fmt,
        generation_id=result.generation_id or "",
    )
    if before_write is not None:
        before_write(outcome)
    path = atomic_write.write_atomic(
        output_plan.directory, output_plan.name_for(fields), data, force=force
    )
    outcome.path = str(path)
    if to_write.sidecar is not None:
        from flux_cli.metadata import write_sidecar

        sidecar, warning = write_sidecar(path, to_write.sidecar, force=force)
        outcome.sidecar = str(sidecar) if sidecar is not None else None
        if warning is not None:
            outcome.warnings.append(warning)


def save_and_settle(
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    spending: Spending,
    *,
    force: bool,
    metadata: str = "full",
    stdout: BinaryIO | None = None,
) -> None:
    """After a call: write its image (or keep a paid one that cannot be written, or that failed
    our checks), then settle its ledger row. `outcome.error` is the call's own failure, if any."""
    judge_charge(plan, outcome)
    try:
        if outcome.error is not None:
            raise outcome.error
        save(
            plan,
            output_plan,
            outcome,
            force=force,
            metadata=metadata,
            stdout=stdout,
            before_write=spending.writing,
        )
    except Flux2Error as exc:
        outcome.error = exc
        rescue_if_paid(outcome, exc)
    except Interrupted:
        keep_interrupted(outcome, spending)
        raise
    spending.finish(outcome)


def judge_charge(plan: Plan, outcome: Outcome) -> None:
    """Believe the answer's `usage.cost` only by the rule `/generation` records are believed by
    (`reconcile.charge_doubt`). One not believed is dropped from the result, so it is neither
    embedded nor summed: the image is written all the same, the row counts at its estimate, and
    `outcome.charge_doubt` says why, with the reported figure, for the row and the person."""
    from flux_cli.openrouter.errors import BadResponseError
    from flux_cli.pricing import format_usd
    from flux_cli.reconcile import charge_doubt

    if outcome.charge_doubt is not None:
        return  # judged already
    estimate = plan.estimate.total_micros // plan.count
    result, error = outcome.result, outcome.error
    if result is not None:
        usage = result.usage
        micros, unusable = usage.cost_micros, usage.cost_unusable
    elif isinstance(error, BadResponseError):
        micros, unusable = error.cost_micros, error.cost_unusable
    else:
        return
    doubt = charge_doubt(micros, unusable is not None, estimate)
    if doubt is None:
        return
    if unusable is not None:
        doubt = _why_unusable(unusable, doubt)
    figure = unusable if unusable is not None else format_usd(micros or 0)
    if result is not None:
        outcome.result = replace(result, usage=replace(result.usage, cost_micros=None))
    elif isinstance(error, BadResponseError):
        error.cost_micros = None  # its row then counts at the estimate, as `unknown`
    outcome.charge_doubt = (
        f"the answer reported a charge of {figure}, not believed ({doubt}); "
        f"the call counts at its estimate {format_usd(estimate)}"
    )
    outcome.warnings.append(outcome.charge_doubt)


def _why_unusable(reported: str, otherwise: str) -> str:
    """What is wrong with a figure the parser could not take as a charge (wire.Usage)."""
    from decimal import Decimal, InvalidOperation

    from flux_cli.reconcile import SANE_MULTIPLE

    try:
        value = Decimal(reported)
    except InvalidOperation:
        return otherwise
    if not value.is_finite():
        return "its cost is not a finite number"
    if value < 0:
        return "its cost is negative"
    return f"its cost is more than {SANE_MULTIPLE} times the estimate"


class ChargeNotBelieved(Flux2Error):
    """Every image was written, but the charge an answer reported was not believed."""

    exit_code = ExitCode.BAD_RESPONSE


def doubted_charges(doubts: Iterable[str | None]) -> None:
    """Raise ChargeNotBelieved when a run whose images were all written had charges not
    believed (each was already said as a warning)."""
    count = sum(doubt is not None for doubt in doubts)
    if count:
        calls = "1 call" if count == 1 else f"{count} calls"
        raise ChargeNotBelieved(
            f"the charge reported for {calls} was not believed; every image was written, "
            "and the ledger counts those calls at their estimates",
            hint="flux2 history --json shows the reported figures; OpenRouter's activity "
            "page shows what was billed",
        )


def save_for_run(
    opts: GenerateOptions,
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    spending: Spending,
    *,
    say: Callable[[Outcome], None],
    stdout: BinaryIO | None = None,
) -> None:
    """`save_and_settle` with the run's --force and --metadata; then, failed or not, `say` is
    handed the outcome for its warnings and notes."""
    try:
        save_and_settle(
            plan,
            output_plan,
            outcome,
            spending,
            force=opts.force,
            metadata=opts.metadata,
            stdout=stdout,
        )
    finally:
        say(outcome)


def keep_interrupted(outcome: Outcome, spending: Spending) -> str | None:
    """Ctrl-C after the answer arrived (while writing): the image is paid for, so keep its
    bytes in the rescue dir and settle its row as billed, not as unknown. The message to show,
    if there was an answer."""
    if outcome.result is None:
        return None
    judge_charge(spending.plan, outcome)
    outcome.error = OutputError("interrupted before the image was written")
    rescue_if_paid(outcome, outcome.error)
    spending.finish(outcome)
    return outcome.error.message


def rescue_if_paid(outcome: Outcome, exc: Flux2Error) -> None:
    """A paid image that could not be written, or that failed our checks, is kept in the state dir."""
    from flux_cli import atomic_write
    from flux_cli.openrouter.errors import BadResponseError

    data, outcome.data = outcome.data, None
    if data is None and outcome.result is not None:
        data = outcome.result.data
    if data is None and isinstance(exc, BadResponseError):
        data = exc.raw
    if data is None or not isinstance(exc, (OutputError, BadResponseError)):
        return
    try:
        path = atomic_write.rescue(data, name_hint=f"seed{outcome.seed}")
    except OutputError:
        return
    exc.message = f"{exc.message}; the image bytes were kept in {path}"
    exc.args = (exc.message,)
