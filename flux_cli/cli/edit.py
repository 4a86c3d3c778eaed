"""`flux2 edit`: edit images, or generate from up to 8 reference images."""

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


def edit(
    ctx: typer.Context,
    images: Annotated[
        list[str],
        typer.Option(
            "--image",
            "-i",
            metavar="IMAGE",
            help="A reference: a file, an http(s) URL, a data: URL, or - for image bytes on stdin. Repeat for several (up to 8 on pro, max and flex). Required, except with --batch lines that name their own images.",
            show_default=False,
        ),
    ] = [],  # noqa: B006 (Typer reads the default; it is never mutated)
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="What to do with the images. `-`, or nothing with piped input, reads it from stdin (unless -i - reads the image from there).",
            show_default=False,
        ),
    ] = None,
    inline_urls: Annotated[
        bool,
        typer.Option(
            "--inline-urls",
            help="Download URL references and send them as data, prepared like local files.",
        ),
    ] = False,
    max_input_mp: Annotated[
        float | None,
        typer.Option(
            "--max-input-mp",
            metavar="MP",
            help="Shrink each reference to at most this many megapixels (default 4); fewer megapixels cost less.",
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
    """Edit images, or make a new one from reference images, guided by a prompt.

    Each reference is turned upright, stripped of metadata (GPS included), shrunk to at most
    4 megapixels and priced by the megapixel in the estimate before anything is sent.
    """
    from flux_cli.cli.run import run_cli

    run_cli(ctx, "edit")
