"""`flux2 generate`: text to image, with the cost table before and after."""

from __future__ import annotations

from typing import Annotated

import typer

from flux_cli.choices import DEFAULT_CONCURRENCY
from flux_cli.cli.flags import (
    AcceptUnknownPriceOption,
    AspectRatioOption,
    BatchOption,
    ConcurrencyOption,
    CountOption,
    DryRunOption,
    ForceOption,
    FormatOption,
    FromOption,
    GuidanceOption,
    JsonOption,
    LockOption,
    MaxCostOption,
    MetadataOption,
    ModelOption,
    OutputOption,
    PreviewOption,
    PreviewProtocolOption,
    PromptFileOption,
    PromptUpsamplingOption,
    QuietOption,
    ResendUnknownOption,
    ResolutionOption,
    ResumeOption,
    RetriesOption,
    RetryAmbiguousOption,
    RouteOption,
    SafetyToleranceOption,
    SandboxOption,
    SeedOption,
    SizeOption,
    StepsOption,
    TimeoutOption,
)


def generate(
    ctx: typer.Context,
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What to draw. `-`, or nothing with piped input, reads it from stdin.",
            show_default=False,
        ),
    ] = None,
    prompt_file: PromptFileOption = None,
    model: ModelOption = "pro",
    aspect_ratio: AspectRatioOption = None,
    size: SizeOption = None,
    seed: SeedOption = None,
    image_format: FormatOption = None,
    count: CountOption = 1,
    output: OutputOption = None,
    force: ForceOption = False,
    max_cost: MaxCostOption = None,
    dry_run: DryRunOption = False,
    json_lines: JsonOption = False,
    quiet: QuietOption = False,
    route: RouteOption = "images",
    timeout: TimeoutOption = 300.0,
    retries: RetriesOption = 2,
    retry_ambiguous: RetryAmbiguousOption = False,
    sandbox: SandboxOption = False,
    batch: BatchOption = None,
    concurrency: ConcurrencyOption = DEFAULT_CONCURRENCY,
    resume: ResumeOption = False,
    resend_unknown: ResendUnknownOption = False,
    lock: LockOption = None,
    metadata: MetadataOption = "full",
    from_file: FromOption = None,
    preview: PreviewOption = False,
    preview_protocol: PreviewProtocolOption = None,
    resolution: ResolutionOption = None,
    steps: StepsOption = None,
    guidance: GuidanceOption = None,
    safety_tolerance: SafetyToleranceOption = None,
    prompt_upsampling: PromptUpsamplingOption = None,
    accept_unknown_price: AcceptUnknownPriceOption = False,
) -> None:
    """Generate images from a text prompt.

    Prints the estimated cost before the call and the charged cost after it (on stderr), and the
    written file paths on stdout (or JSON Lines with --json, or the image bytes with -o -).
    """
    from flux_cli.cli.run import run_cli

    run_cli(ctx, "generate")
