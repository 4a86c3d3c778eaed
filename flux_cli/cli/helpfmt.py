"""How `--help` shows arguments (`PROMPT`, `[PROMPT]`, never `{file}`, `<str>` or `<list[str]>`),
and how a usage error that Click finds (`-n abc`, an unknown option) is said: in flux2's one
voice, `flux2: error: …` and `flux2: hint: …`, like every error flux2 finds itself.

Typer labels each argument with its Python type (`prompt <str>`) and wraps a required one in
braces in the usage line (`{file}`): notation for programmers, not for someone reading a help
screen. flux2's help says what an argument is in its words, and writes a required argument bare
and an optional one in brackets, as man pages do.
"""

from __future__ import annotations

from typing import Any

import typer
import typer.core

_MARK = "_flux2_help_format"


def install() -> None:
    """Once per process; a typer without these methods is left as it is."""
    argument: Any = typer.core.TyperArgument
    if getattr(argument, _MARK, False):
        return
    if hasattr(argument, "display_type_rich"):
        argument.display_type_rich = lambda self, ctx: None
    if hasattr(argument, "_usage_display_name") and hasattr(argument, "_rich_display_name"):

        def shown_name(self: Any) -> str:
            name = self.metavar or (self.name or "").upper()
            return str(name) + ("..." if self.nargs != 1 else "")

        def usage_name(self: Any) -> str:
            return shown_name(self) if self.required else f"[{shown_name(self)}]"

        argument._rich_display_name = shown_name
        argument._usage_display_name = usage_name
    exceptions: Any = getattr(getattr(typer.core, "_click", None), "exceptions", None)
    usage_error: Any = getattr(exceptions, "UsageError", None)
    if usage_error is not None:

        def show(self: Any, file: Any = None) -> None:
            command = self.ctx.command_path if self.ctx is not None else "flux2"
            typer.echo(f"flux2: error: {self.format_message()}", file=file, err=True)
            typer.echo(f"flux2: hint: {command} -h lists what it takes", file=file, err=True)

        usage_error.show = show
    setattr(argument, _MARK, True)
