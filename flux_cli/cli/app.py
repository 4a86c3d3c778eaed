"""The Typer application: the global options and the list of commands.

Command modules import only typer at module level; everything heavy is imported inside the command
body, so `flux2 --help` and shell completion stay fast.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flux_cli import __version__
from flux_cli.cli import (
    auth,
    balance,
    config_cmd,
    cost,
    edit,
    generate,
    history,
    inspect_cmd,
    models,
    sandbox,
)
from flux_cli.cli.boundary import guarded
from flux_cli.cli.context import App

app = typer.Typer(
    name="flux2",
    help=(
        "Generate and edit images with FLUX.2 through OpenRouter. "
        "Shows what a call will cost before it is made and what it cost after."
    ),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flux2 {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="Print the version and exit.", is_eager=True, callback=_version
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option("--debug", help="Show tracebacks for internal errors (also FLUX2_DEBUG=1)."),
    ] = False,
) -> None:
    """flux2: FLUX.2 images through OpenRouter, priced before and after every call."""
    if ctx.obj is None:
        ctx.obj = App()
    if debug:
        ctx.obj.debug = True


app.command(name="generate")(guarded(generate.generate))
app.command(name="edit")(guarded(edit.edit))
app.command(name="cost")(guarded(cost.cost))
app.command(name="history")(guarded(history.history))
app.command(name="models")(guarded(models.models))
app.command(name="balance")(guarded(balance.balance))
app.command(name="inspect")(guarded(inspect_cmd.inspect_command))
app.command(name="sandbox")(guarded(sandbox.sandbox))
app.add_typer(config_cmd.config_app, name="config")
app.add_typer(auth.auth_app, name="auth")
