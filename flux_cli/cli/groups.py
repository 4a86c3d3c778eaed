"""A group of sub-commands (`flux2 auth …`, `flux2 config …`, `flux2 ledger …`), made one way."""

from __future__ import annotations

import typer


def command_group(name: str, help: str) -> typer.Typer:
    """A Typer sub-application as flux2's groups are: its bare name shows its help, `-h` is
    `--help`, and help text is plain (no Rich markup)."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
