"""The one error boundary: an expected failure becomes one redacted line, a hint and its exit code.

`guarded` wraps every command, so the same rule holds wherever the app runs (the console script,
`python -m flux_cli`, or a test's CliRunner); `flux_cli.cli.main.run` catches what escapes it.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from flux_cli.errors import Flux2Error

P = ParamSpec("P")
R = TypeVar("R")


def report_error(message: str, hint: str | None = None) -> None:
    from flux_cli.redact import redact
    from flux_cli.textsafe import strip_control

    line = f"flux2: error: {strip_control(redact(message))}"
    if hint:
        line += f"\nflux2: hint: {strip_control(redact(hint))}"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def guarded(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except Flux2Error as exc:
            report_error(exc.message, exc.hint)
            raise typer.Exit(int(exc.exit_code)) from None

    return wrapper
