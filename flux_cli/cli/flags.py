"""Options shared by generate and edit, declared once (one help text, one completion list)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flux_cli.choices import (
    FORMATS,
    MAX_CONCURRENCY,
    METADATA_LEVELS,
    MIN_CONCURRENCY,
    ROUTES,
    completions,
)


def explicit_options(ctx: typer.Context) -> frozenset[str]:
    """The options given on the command line (not defaults), for "flags override --from" and
    "flags override the config file"."""
    given = set()
    for name in ctx.params:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name in {"COMMANDLINE", "ENVIRONMENT"}:
            given.add(name)
    return frozenset(given)


# The model table is imported only when a TAB asks for it, not by every run that declares options.
def complete_models(incomplete: str) -> list[str]:
    from flux_cli.embedded_catalog import ALIASES

    return completions((*ALIASES, *ALIASES.values()), incomplete)


def _complete_ratios(incomplete: str) -> list[str]:
    from flux_cli.embedded_catalog import FLUX2_ASPECT_RATIOS

    return completions(FLUX2_ASPECT_RATIOS, incomplete)


def _complete_formats(incomplete: str) -> list[str]:
    return completions(FORMATS, incomplete)


def _complete_routes(incomplete: str) -> list[str]:
    return completions(ROUTES, incomplete)


def _complete_metadata(incomplete: str) -> list[str]:
    return completions(METADATA_LEVELS, incomplete)


PromptFileOption = Annotated[
    Path | None,
    typer.Option(
        "--prompt-file", metavar="PATH", help="Read the prompt from this file.", show_default=False
    ),
]
ModelOption = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="pro, max, flex, klein, or a full OpenRouter model id.",
        autocompletion=complete_models,
    ),
]
AspectRatioOption = Annotated[
    str | None,
    typer.Option(
        "--aspect-ratio",
        "-a",
        metavar="RATIO",
        help="1:1 4:3 3:4 3:2 2:3 16:9 9:16 21:9 auto (about 1 megapixel).",
        autocompletion=_complete_ratios,
        show_default=False,
    ),
]
SizeOption = Annotated[
    str | None,
    typer.Option(
        "--size",
        metavar="WxH",
        help="Exact pixels, sides multiples of 16, at most 4 MP (e.g. 2048x2048).",
        show_default=False,
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        metavar="N",
        help="Seed; picked at random and reported when absent.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        metavar="FORMAT",
        help="png, jpeg or webp; converted locally when the model returns another. Default: what the model returns (JPEG), or the -o file's extension.",
        autocompletion=_complete_formats,
        show_default=False,
    ),
]
CountOption = Annotated[
    int,
    typer.Option(
        "--count",
        "-n",
        metavar="N",
        help="How many images (parallel requests, seeds seed, seed+1, …).",
        # No min=: 0 gets the same one-line error as 17 (generation.plan_generation checks).
    ),
]
OutputOption = Annotated[
    str | None,
    typer.Option(
        "--output",
        "-o",
        metavar="PATH",
        help="A file, a directory, a name template ({date} {time} {model} {seed} {slug} {index} {n} {ext} {id}), or - for the image bytes on stdout.",
        show_default=False,
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force", help="Overwrite existing files instead of adding -1, -2, ….")
]
MaxCostOption = Annotated[
    str | None,
    typer.Option(
        "--max-cost",
        metavar="USD",
        help="Refuse to send anything if the estimate is above this.",
        show_default=False,
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the request and the estimate; send nothing.")
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON object per image on stdout (JSON Lines).")
]
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="No tables or progress on stderr; errors still print.")
]
RouteOption = Annotated[
    str,
    typer.Option(
        "--api",
        metavar="ROUTE",
        help="OpenRouter route: images (/images) or chat (/chat/completions).",
        autocompletion=_complete_routes,
    ),
]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout", metavar="SECONDS", help="Wall-clock limit for each attempt.", min=1.0
    ),
]
RetriesOption = Annotated[
    int,
    typer.Option(
        "--retries",
        metavar="N",
        help="Retries of failures that cannot have been billed.",
        min=0,
        max=10,
    ),
]
RetryAmbiguousOption = Annotated[
    bool,
    typer.Option(
        "--retry-ambiguous",
        help="Also retry, once, a failure after sending (it may have been billed).",
    ),
]
SandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox",
        help="Use a built-in local stand-in for OpenRouter: no key, no network, no cost.",
    ),
]
BatchOption = Annotated[
    str | None,
    typer.Option(
        "--batch",
        metavar="FILE",
        help="Many images in one run: one prompt per line, or JSON Lines with per-line prompt, model, seed, size, aspect_ratio, output, images, format; - reads stdin.",
        show_default=False,
    ),
]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="With --batch: lines already made (their files still there, unchanged) are not sent again; an unknown earlier outcome holds its line back.",
    ),
]
ResendUnknownOption = Annotated[
    bool,
    typer.Option(
        "--resend-unknown",
        help="With --resume: send again the lines whose earlier call has an unknown outcome (it may be paid twice).",
    ),
]
ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--concurrency",
        metavar="K",
        help="With --batch: how many requests at once.",
        min=MIN_CONCURRENCY,
        max=MAX_CONCURRENCY,
    ),
]
LockOption = Annotated[
    str | None,
    typer.Option(
        "--lock",
        metavar="NAME",
        help="Hold a named lock for the run; another run with the same name exits 8 at once, sending nothing.",
        show_default=False,
    ),
]
MetadataOption = Annotated[
    str,
    typer.Option(
        "--metadata",
        metavar="LEVEL",
        help="What each image carries: full (prompt, model, seed, size, cost, generation id), minimal (model, seed, version) or none.",
        autocompletion=_complete_metadata,
    ),
]
FromOption = Annotated[
    Path | None,
    typer.Option(
        "--from",
        metavar="FILE",
        help="Make it again from an image flux2 wrote (or its --json line): same model, seed, size and prompt; flags given here win.",
        show_default=False,
    ),
]


def _preview_implied(ctx: typer.Context, value: bool) -> bool:
    """--preview-protocol asks for a preview too. Typer handles the options given on the command
    line first, so a given --preview-protocol is already in ctx.params when --preview defaults."""
    return bool(value) or ctx.params.get("preview_protocol") is not None


def _remember_preview_protocol(ctx: typer.Context, value: str | None) -> str | None:
    from flux_cli.termimage import PROTOCOLS

    if value is None:
        return None
    name = value.strip().lower()
    if name not in (*PROTOCOLS, "auto"):
        raise typer.BadParameter(f"{value!r} is not one of auto, {', '.join(PROTOCOLS)}.")
    if ctx.obj is not None:
        ctx.obj.preview_protocol = name
    return name


def _complete_preview_protocols(incomplete: str) -> list[str]:
    from flux_cli.termimage import PROTOCOLS

    return completions(("auto", *PROTOCOLS), incomplete)


PreviewOption = Annotated[
    bool,
    typer.Option(
        "--preview",
        help="After saving, draw the image in the terminal (on stderr, only when it is a terminal); --preview=kitty|iterm|sixel|blocks picks how.",
        callback=_preview_implied,
    ),
]
PreviewProtocolOption = Annotated[
    str | None,
    typer.Option(
        "--preview-protocol",
        metavar="NAME",
        help="Preview with auto, blocks, kitty, iterm or sixel instead of the guess (implies --preview).",
        callback=_remember_preview_protocol,
        autocompletion=_complete_preview_protocols,
        show_default=False,
    ),
]
ResolutionOption = Annotated[
    str | None,
    typer.Option(
        "--resolution",
        metavar="TIER",
        help="512 768 1K 1.5K 2K 4K, where the model lists it (flux2 models shows which).",
        show_default=False,
    ),
]
StepsOption = Annotated[
    int | None,
    typer.Option(
        "--steps",
        metavar="N",
        help="Model option: diffusion steps (FLUX.2 flex), sent where the endpoint allows it.",
        min=1,
        max=50,
        show_default=False,
    ),
]
GuidanceOption = Annotated[
    float | None,
    typer.Option(
        "--guidance",
        metavar="X",
        help="Model option: guidance scale (FLUX.2 flex), sent where the endpoint allows it.",
        min=1.5,
        max=10.0,
        show_default=False,
    ),
]
SafetyToleranceOption = Annotated[
    int | None,
    typer.Option(
        "--safety-tolerance",
        metavar="N",
        help="Model option: 0 (strict) to 6 (permissive), sent where the endpoint allows it.",
        min=0,
        max=6,
        show_default=False,
    ),
]
PromptUpsamplingOption = Annotated[
    bool | None,
    typer.Option(
        "--prompt-upsampling/--no-prompt-upsampling",
        help="Model option: let the provider rewrite the prompt, where the endpoint allows it.",
        show_default=False,
    ),
]
AcceptUnknownPriceOption = Annotated[
    bool,
    typer.Option(
        "--accept-unknown-price",
        help="Send to a model with no known price, counting each call at --max-cost until its charge is known.",
    ),
]

# -- filters over the ledger (history, gallery) ---------------------------------------------------

SinceOption = Annotated[
    str | None,
    typer.Option(
        "--since",
        metavar="WHEN",
        help="Only calls since then: 30m, 12h, 7d, 2w, today, 2026-11-01 or 2026-11-01T10:00 (local time).",
        show_default=False,
    ),
]
ModelFilterOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="MODEL",
        help="Only this model: pro, max, flex, klein or a full OpenRouter id.",
        autocompletion=complete_models,
        show_default=False,
    ),
]
RunFilterOption = Annotated[
    str | None,
    typer.Option(
        "--run",
        metavar="ID",
        help="Only the calls of one batch run (its run id, printed in the batch summary).",
        show_default=False,
    ),
]
LedgerSandboxOption = Annotated[
    bool,
    typer.Option(
        "--sandbox", help="Show the calls made with --sandbox instead of the current API's."
    ),
]
