"""The root of every error flux2 expects. The CLI maps each to one line and one exit code."""

from __future__ import annotations

from flux_cli.exit_codes import ExitCode


class Flux2Error(Exception):
    """An expected failure: a message for people, a hint on what to do next, an exit code."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(Flux2Error):
    """Bad flags, bad input, or a parameter the model does not support."""

    exit_code = ExitCode.USAGE


class BudgetError(Flux2Error):
    """A budget or --max-cost refused the call before anything was sent."""

    exit_code = ExitCode.BUDGET


class OutputError(Flux2Error):
    """The result could not be written where it was asked to go."""

    exit_code = ExitCode.OUTPUT


class ConfigError(Flux2Error):
    """No usable key, or an unsafe key file."""

    exit_code = ExitCode.AUTH


class Interrupted(BaseException):
    """Raised from the SIGINT/SIGTERM handlers; a BaseException so no `except Exception` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
