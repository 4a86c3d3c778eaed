"""Process exit codes. Documented in the README; never renumbered."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    USAGE = 2
    PARTIAL = 3
    AUTH = 4
    CREDITS = 5
    MODERATION = 6
    BUDGET = 7
    UNAVAILABLE = 8
    OUTCOME_UNKNOWN = 9
    BAD_RESPONSE = 10
    OUTPUT = 11
    INTERRUPTED = 130
    TERMINATED = 143


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.INTERNAL: "internal error (a bug: traceback only with --debug / FLUX2_DEBUG=1)",
    ExitCode.USAGE: "usage: bad flags, bad input file, unsupported parameter",
    ExitCode.PARTIAL: "partial success: some images of a batch or -n failed",
    ExitCode.AUTH: "authentication: no key, unsafe key file, 401/403 for the key",
    ExitCode.CREDITS: "out of credits or over the key's limit (402)",
    ExitCode.MODERATION: "refused by content moderation",
    ExitCode.BUDGET: "blocked by a budget or --max-cost: nothing was sent",
    ExitCode.UNAVAILABLE: "temporarily unavailable after retries: not billed, safe to retry later",
    ExitCode.OUTCOME_UNKNOWN: "outcome unknown: sent but no answer; may have been billed",
    ExitCode.BAD_RESPONSE: "bad response: no image, undecodable image, malformed body, "
    "or a charge not believed (the images were written)",
    ExitCode.OUTPUT: "output could not be written; raw bytes rescued to the state dir",
    ExitCode.INTERRUPTED: "interrupted (SIGINT)",
    ExitCode.TERMINATED: "terminated (SIGTERM)",
}
