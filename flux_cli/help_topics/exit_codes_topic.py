"""`flux2 help exit-codes`: every exit code, its meaning, and what a script should do after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flux_cli.help_topics.layout import DEFAULT_WIDTH, INDENT, cmd, definitions, page, paragraph

if TYPE_CHECKING:
    from flux_cli.exit_codes import ExitCode

# -- exit codes ----------------------------------------------------------------------------------


def exit_code_advice() -> dict[ExitCode, str]:
    """What a script or cron job should do after each code. A test checks every code has one."""
    from flux_cli.exit_codes import ExitCode as C

    reconcile = cmd("flux2 history --reconcile")
    return {
        C.OK: "Done: the written paths (or --json lines) are on stdout.",
        C.INTERNAL: "A bug in flux2. Do not loop on it: run once more with --debug and report "
        "the traceback.",
        C.USAGE: "Fix the command or its input; nothing was billed, and the same command fails "
        "the same way again.",
        C.PARTIAL: "Some images were written and some not: the message lists which (with --json, "
        "each line has its status and exit_code). Run again only the failed ones, after reading "
        "their own codes below. A --batch in which nothing was written ends with the first "
        "failure's own code instead.",
        C.AUTH: f"Fix the key ({cmd('flux2 auth status')} says what is wrong); retrying will "
        "not help.",
        C.CREDITS: f"Add credits or raise the key's limit ({cmd('flux2 balance')} shows both), "
        "then run again.",
        C.MODERATION: "The prompt or an image was refused; change it rather than retrying.",
        C.BUDGET: "Nothing was sent. Run again once the day or month turns over, or raise "
        "budget.daily_usd, budget.monthly_usd or --max-cost; until then every run is refused "
        f"the same way ({cmd('flux2 history')} shows the spending).",
        C.UNAVAILABLE: "Safe to retry later: nothing was billed. flux2 has already retried with "
        f"backoff ({cmd('--retries N')}, default 2), so wait minutes rather than seconds. A run "
        "that found its --lock held by another run also exits 8, at once.",
        C.OUTCOME_UNKNOWN: f"May have been billed: do not simply run again. {reconcile} asks "
        "OpenRouter what became of the call: retry only if it is now failed (not billed); ok "
        "means it was billed although the image was lost; if it is still unknown, reconcile "
        "again later (OpenRouter's record can take minutes to appear). --retry-ambiguous lets "
        "flux2 itself try once more.",
        C.BAD_RESPONSE: "The answer held no usable image, and it may have been billed: run "
        f"{reconcile} before running again, and retry at most once. When paths are on stdout, "
        "every image was written but the charge an answer reported was not believed (huge, "
        "negative, not a number): do not run again; the ledger counts those calls at their "
        "estimates.",
        C.OUTPUT: "The image was paid for but could not be written (disk full, permissions, a "
        "name taken): its bytes are in the rescue directory the message names. Fix the "
        "destination and copy them from there; running again pays again.",
        C.INTERRUPTED: f"Stopped by Ctrl-C: a call in flight may have been billed, so run "
        f"{reconcile} before running again.",
        C.TERMINATED: f"Stopped by SIGTERM (kill, a cron or systemd time limit): as for 130, "
        f"run {reconcile} before running again.",
    }


def exit_codes_page(width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help exit-codes`: every code with its meaning, then what a script should do."""
    from flux_cli.exit_codes import EXIT_CODE_MEANINGS, ExitCode

    def meaning(code: ExitCode) -> str:
        return EXIT_CODE_MEANINGS.get(code, code.name.lower().replace("_", " "))

    advice = exit_code_advice()
    codes = sorted(ExitCode)
    return page(
        [
            paragraph(
                "flux2 exit codes. Every command ends with one of these; they never change "
                "meaning.",
                width,
            ),
            definitions([(str(int(code)), meaning(code)) for code in codes], width),
            [
                "In scripts and cron jobs:",
                *definitions(
                    [(str(int(code)), advice[code]) for code in codes if code in advice], width
                ),
            ],
            [
                "For example, in a cron job:",
                "",
                *(
                    INDENT + line
                    for line in (
                        "flux2 generate --batch prompts.txt --lock nightly -o renders/",
                        "case $? in",
                        "  0) ;;                                   # everything was written",
                        "  3) echo 'some items failed: see above' ;;",
                        "  8) echo 'busy or unavailable: try again later' ;;",
                        "  9|10|130|143) flux2 history --reconcile ;;  # may have been billed",
                        "  *) echo 'needs a fix: see flux2 help exit-codes' ;;",
                        "esac",
                    )
                ),
            ],
        ]
    )
