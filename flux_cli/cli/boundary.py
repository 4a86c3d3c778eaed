"""The one error boundary (style principle 4). The process entry point around it is `cli/main.py`.

Every expected failure is a `Flux2Error` that carries its exit code; it becomes one redacted line on
stderr, plus a hint on what to do next. Anything else is a bug: exit 1, and a traceback only with
`--debug` / `FLUX2_DEBUG=1` (never with locals).

`guarded` wraps every command, so the same rule holds wherever the app runs (the console script,
`python -m flux_cli`, or a test's CliRunner); `cli.main.run` catches what escapes it, and
`cli.main.main` (the console script) ends the process.
"""

from __future__ import annotations

import functools
import gc
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from flux_cli.errors import Flux2Error

P = ParamSpec("P")
R = TypeVar("R")

__all__ = ["guarded", "report_error", "resume_gc"]


# -- the boundary ----------------------------------------------------------------------------


def report_error(message: str, hint: str | None = None) -> None:
    from flux_cli.redact import redact
    from flux_cli.textsafe import strip_control

    line = f"flux2: error: {strip_control(redact(message))}"
    if hint:
        line += f"\nflux2: hint: {strip_control(redact(hint))}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def resume_gc() -> None:
    """The console script starts with the cyclic garbage collector off (`main`): start-up makes
    tens of thousands of objects that live as long as the process, and collecting while importing
    only scans them again and again. A command's work runs with it on, and without rescanning what
    start-up made (`gc.freeze`)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def guarded(command: Callable[P, R], *, gc_from_start: bool = True) -> Callable[P, R]:
    """`command` behind the error boundary. `gc_from_start=False`: the command calls
    `resume_gc` itself once its imports are done (generate and edit, before their requests)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if gc_from_start:
            resume_gc()
        try:
            return command(*args, **kwargs)
        except Flux2Error as exc:
            import typer

            report_error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None

    return wrapper
