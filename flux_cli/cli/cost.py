"""`flux2 cost`: what a planned call would cost, offline, in well under a second."""

from __future__ import annotations

from typing import Annotated

import typer

from flux_cli.cli.flags import (
    AspectRatioOption,
    CountOption,
    ModelOption,
    ResolutionOption,
    RouteOption,
    SizeOption,
)


def cost(
    ctx: typer.Context,
    model: ModelOption = "pro",
    aspect_ratio: AspectRatioOption = None,
    size: SizeOption = None,
    count: CountOption = 1,
    images: Annotated[
        list[str] | None,
        typer.Option(
            "--image",
            "-i",
            metavar="IMAGE|WxH",
            help="A reference image, as a file (read for its size only) or as WIDTHxHEIGHT. Repeatable.",
            show_default=False,
        ),
    ] = None,
    max_input_mp: Annotated[
        float | None,
        typer.Option(
            "--max-input-mp",
            metavar="MP",
            help="Price references shrunk to at most this many megapixels (as edit would).",
            show_default=False,
        ),
    ] = None,
    route: RouteOption = "images",
    json_output: Annotated[
        bool, typer.Option("--json", help="The estimate as one JSON object on stdout.")
    ] = False,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Fetch current prices from OpenRouter's catalog first (the only time cost uses the network).",
        ),
    ] = False,
    resolution: ResolutionOption = None,
) -> None:
    """Show what a call would cost before making it (no key, no network).

    The same estimate generate and edit print, e.g.
    flux2 cost -m max --size 2048x2048 -i ref.png -i 1024x1024
    """
    from flux_cli.cli.estimate import run_cost
    from flux_cli.cli.flags import explicit_options

    given = explicit_options(ctx)
    if "model" not in given or "route" not in given:
        settings = ctx.obj.settings
        model = model if "model" in given else settings.model
        route = route if "route" in given else settings.route
    run_cost(
        ctx.obj,
        model=model,
        aspect_ratio=aspect_ratio,
        size=size,
        count=count,
        images=images or [],
        max_input_mp=max_input_mp,
        route=route,
        json_output=json_output,
        refresh=refresh,
        resolution=resolution,
    )
