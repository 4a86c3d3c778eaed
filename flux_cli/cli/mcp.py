"""`flux2 mcp`: serve the tools to an MCP client (an agent) over stdin/stdout."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flux_cli.mcp.policy import CEILING_KEY, serving_policy

if TYPE_CHECKING:
    from flux_cli.cli.context import App


def mcp_command(
    ctx: typer.Context,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Serve against a built-in local stand-in for OpenRouter: no key, no cost.",
        ),
    ] = False,
    output_dir: Annotated[
        Path,
        typer.Option(
            "--output-dir",
            metavar="DIR",
            help="The only directory images are written in (default: the current one).",
            show_default=False,
        ),
    ] = Path("."),
    allow_read: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-read",
            metavar="DIR",
            help="A directory reference images may be read from, with what is below it "
            "(repeatable; none: no edits).",
            show_default=False,
        ),
    ] = None,
    max_cost_per_call: Annotated[
        str | None,
        typer.Option(
            "--max-cost-per-call",
            metavar="USD",
            help=f"Refuse any call whose estimate is above this (default: config {CEILING_KEY}, "
            "else 0.50).",
            show_default=False,
        ),
    ] = None,
    no_budget: Annotated[
        bool,
        typer.Option(
            "--no-budget",
            help="Serve even though no daily or monthly budget is set (refused otherwise).",
        ),
    ] = False,
) -> None:
    """Serve flux2 to an agent over MCP (stdio), under the same budgets and ledger.

    Tools: make_image, edit_image, estimate_cost, list_models, spending, balance. Needs the
    optional SDK: pip install 'flux2-cli[mcp]'. See README "Agents (MCP)".
    """
    from flux_cli.mcp import load_server

    serve = load_server()  # the SDK is an optional extra: without it, say how to install it
    policy = serving_policy(
        sandbox=sandbox,
        output_dir=output_dir,
        allow_read=[Path(d) for d in allow_read or []],
        max_cost_per_call=max_cost_per_call,
        no_budget=no_budget,
    )
    app: App = ctx.obj
    if app.stdin_is_tty():
        app.info("waiting for an MCP client on stdin (this is not interactive; Ctrl-C stops it)")
    serve(policy)
