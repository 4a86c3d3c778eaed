"""The exit code each final HTTP status should end a run with: an oracle the tests hold the
client's typed errors to (flux2 itself maps answers to errors in `openrouter.answers`)."""

from __future__ import annotations

from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter.retry import Decision, classify_status


def exit_code_for_status(status: int, *, moderation: bool = False) -> ExitCode:
    """The exit code a final answer with this HTTP status ends the run with."""
    if 200 <= status < 300:
        return ExitCode.OK
    if status == 402:
        return ExitCode.CREDITS
    if status in {401, 407}:
        return ExitCode.AUTH
    if status == 403:
        return ExitCode.MODERATION if moderation else ExitCode.AUTH
    if moderation and 400 <= status < 500:
        return ExitCode.MODERATION
    decision = classify_status(status)
    if decision is Decision.RETRY:
        return ExitCode.UNAVAILABLE
    if decision is Decision.UNKNOWN:
        return ExitCode.OUTCOME_UNKNOWN
    if 400 <= status < 500:
        return ExitCode.USAGE
    return ExitCode.BAD_RESPONSE  # 1xx, 3xx, 501, 505: nothing flux2 can use
