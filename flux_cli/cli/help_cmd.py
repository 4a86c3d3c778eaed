"""`flux2 help [TOPIC | COMMAND [SUB-COMMAND]]`: a topic page, or a command's own --help.

Like `git help` and `gh help`: the pages are built by `flux_cli.help_topics` from the tables the
code uses, so they work wherever flux2 does (no man page to install) and never drift. A page is the
command's result, so it goes to stdout, as plain text wrapped to the terminal (at most 80 columns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from collections.abc import Sequence


def _root(ctx: typer.Context) -> tuple[Any, Any]:
    """The root context and the command group at its top (`flux2` itself)."""
    root = ctx.find_root()
    return root, root.command


def _subcommands(group: Any, ctx: Any) -> list[str]:
    """The visible sub-commands of `group`, in the order the app declares them."""
    if not hasattr(group, "list_commands"):
        return []
    names = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is not None and not command.hidden:
            names.append(name)
    return names


def _complete_topics(ctx: typer.Context, incomplete: str) -> list[str]:
    """TAB after `flux2 help`: topic names and commands; after a group, its sub-commands."""
    from flux_cli.help_topics import TOPICS

    root, group = _root(ctx)
    words = list(ctx.params.get("words") or ())
    if words:
        command, _ = _resolve(group, root, words)
        candidates = _subcommands(command, root) if command is not None else []
    else:
        candidates = [topic.name for topic in TOPICS] + [
            name for name in _subcommands(group, root) if name != "help"
        ]
    return [name for name in candidates if name.startswith(incomplete)]


def _resolve(group: Any, root: Any, words: Sequence[str]) -> tuple[Any, Any]:
    """Follow `words` down the command tree: (the command, its context), or (None, None)."""
    command, parent = group, root
    for word in words:
        if not hasattr(command, "get_command"):
            return None, None
        found = command.get_command(parent, word)
        if found is None:
            return None, None
        # resilient_parsing: no required-argument errors, no "no args is help", no callbacks
        parent = found.make_context(word, [], parent=parent, resilient_parsing=True)
        command = found
    return command, parent


def help_command(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TOPIC|COMMAND",
            help="exit-codes, templates or pricing; or a command, e.g. generate or config set.",
            autocompletion=_complete_topics,
            show_default=False,
        ),
    ] = None,
) -> None:
    """Explain exit codes, output names or prices, or show a command's help.

    \b
    flux2 help              the topics and the commands
    flux2 help exit-codes   a topic: exit-codes, templates or pricing
    flux2 help generate     a command's help, the same as flux2 generate --help
    """
    import shutil

    from flux_cli import help_topics

    width = help_topics.page_width(shutil.get_terminal_size((help_topics.DEFAULT_WIDTH, 24))[0])
    root, group = _root(ctx)
    if not words:
        text = help_topics.index_page(_command_summaries(group, root, width), width)
    elif len(words) == 1 and (topic := help_topics.find_topic(words[0])) is not None:
        text = topic.render(width)
    else:
        command, command_ctx = _resolve(group, root, words)
        if command is None:
            from flux_cli.help_lookup import unknown_help

            raise unknown_help(words, _subcommands(group, root))
        text = command_ctx.get_help()
    _print(ctx, text)


def _command_summaries(group: Any, root: Any, width: int) -> list[tuple[str, str]]:
    """Each command with the first sentence of its help, cut to fit one line of the index."""
    from flux_cli.help_topics import summary_width

    names = [name for name in _subcommands(group, root) if name != "help"]
    limit = summary_width(names, width)
    return [(name, group.get_command(root, name).get_short_help_str(limit)) for name in names]


def _print(ctx: typer.Context, text: str) -> None:
    from flux_cli.cli.context import App

    app = ctx.obj if isinstance(ctx.obj, App) else App()
    app.display(text.rstrip("\n"))
