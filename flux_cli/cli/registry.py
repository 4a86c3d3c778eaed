"""The Typer application: the global options and the list of commands.

Command modules import only typer at module level; everything heavy is imported inside the command
body, so `flux2 --help` and shell completion stay fast. A run that names its command builds only
that command (`for_args`): Typer reads every option of every command it is given, and a run needs
one. `app`, the whole application, is built on first use (tests, help, completion).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from importlib import import_module
from typing import Annotated, Any

import typer

from flux_cli import __version__
from flux_cli.cli.boundary import guarded
from flux_cli.cli.coercion import install
from flux_cli.cli.context import App

# name → (module in flux_cli.cli, function), in the order `flux2 --help` lists them.
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate"),
    "edit": ("edit", "edit"),
    "cost": ("cost", "cost"),
    "history": ("history", "history"),
    "models": ("models", "models"),
    "balance": ("balance", "balance"),
    "inspect": ("inspect_cmd", "inspect_command"),
    "gallery": ("gallery", "gallery"),
    "sandbox": ("sandbox", "sandbox"),
    "mcp": ("mcp", "mcp_command"),
    "help": ("help_cmd", "help_command"),
}
# name → (module, Typer sub-application)
GROUPS: dict[str, tuple[str, str]] = {
    "config": ("config_cmd", "config_app"),
    "auth": ("auth", "auth_app"),
    "ledger": ("ledger_cmd", "ledger_app"),
}
# `flux2 help` lists and resolves every command, so it always gets the whole app.
_NEEDS_ALL = frozenset({"help"})


class _Group(typer.core.TyperGroup):
    """The top-level group: converts option values without pydantic (see `coercion`)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        install(self)
        return super().main(*args, **kwargs)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # Bare `flux2` asks for the help: it gets it, on stdout, and exit 0 (Click says 2).
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            typer.echo(ctx.get_help())
            ctx.exit(0)
        return list(super().parse_args(ctx, args))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flux2 {__version__}")
        raise typer.Exit()


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


# Commands that turn the garbage collector back on themselves, once their imports are done.
REQUESTING = frozenset({"generate", "edit"})


def build(only: str | None = None) -> typer.Typer:
    """The application with every command, or with only the command `only`."""
    from flux_cli.cli.helpfmt import install as plain_argument_help

    plain_argument_help()
    application = typer.Typer(
        name="flux2",
        cls=_Group,
        help=(
            "Generate and edit images with FLUX.2 through OpenRouter. "
            "Shows what a call will cost before it is made and what it cost after."
        ),
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        pretty_exceptions_show_locals=False,
        rich_markup_mode=None,
        # Help as wide as the terminal, up to 120 columns: summaries are not cut at 80.
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
    )
    application.callback()(main)
    for name, (module, attribute) in COMMANDS.items():
        if only is None or only == name:
            command = getattr(import_module(f"flux_cli.cli.{module}"), attribute)
            application.command(name=name)(guarded(command, gc_from_start=name not in REQUESTING))
    for name, (module, attribute) in GROUPS.items():
        if only is None or only == name:
            application.add_typer(
                getattr(import_module(f"flux_cli.cli.{module}"), attribute), name=name
            )
    return application


def for_args(args: Sequence[str]) -> typer.Typer:
    """The application for one run with these arguments.

    A known command gets an application holding only it, and so does a TAB that completes a
    known command's options; `--version` alone gets one with no command; anything else (no
    command, a typo that should get "did you mean", `flux2 help`, a TAB completing the command's
    name) gets the whole one (`flux_cli.arguments.command_needed`)."""
    from flux_cli.arguments import command_needed

    if any(arg.startswith(("--show-completion", "--install-completion")) for arg in args):
        from flux_cli.cli.completion import install

        install()
    name = command_needed(args, os.environ, (COMMANDS.keys() | GROUPS.keys()) - _NEEDS_ALL)
    return _whole() if name is None else build(name)


@functools.cache
def _whole() -> typer.Typer:
    return build()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _whole()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
