"""The `flux2` console script (`flux_cli.cli.main:main`): the process around the error boundary.

`run` catches what escapes the commands (`cli/boundary.py` wraps each one) and `main` ends the
process. Standard streams closed at start are filled in first (`flux_cli.streams`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn, TextIO, cast

from flux_cli.cli.boundary import report_error
from flux_cli.errors import Flux2Error, Interrupted
from flux_cli.exit_codes import ExitCode
from flux_cli.redact import RedactingStream
from flux_cli.streams import env_flag, flush_quietly, point_at_devnull, stand_in_for_closed_streams

__all__ = ["main", "run"]


# -- the process -----------------------------------------------------------------------------


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _debug_requested(argv: Sequence[str]) -> bool:
    return env_flag("FLUX2_DEBUG") or "--debug" in argv


def run(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    stand_in_for_closed_streams()
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = cast(TextIO, RedactingStream(sys.stderr))
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    code: int
    try:
        from flux_cli.arguments import with_preview_values
        from flux_cli.cli.registry import for_args

        args = with_preview_values(args)
        for_args(args)(args=args, prog_name="flux2")
        code = ExitCode.OK  # typer exits by itself; this is only reached when it returns
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Flux2Error as exc:
        report_error(exc.message, exc.hint)
        code = exc.exit_code
    except Interrupted as exc:
        interrupted = exc.signum == signal.SIGINT
        report_error("interrupted" if interrupted else "terminated")
        code = ExitCode.INTERRUPTED if interrupted else ExitCode.TERMINATED
    except BrokenPipeError:
        # The reader went away (`| head`). Whatever was written stays written; say nothing more.
        point_at_devnull(sys.stdout)
        code = ExitCode.OK
    except Exception as exc:
        if _debug_requested(args):
            import traceback

            from flux_cli.redact import redact

            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        report_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in flux2; run again with --debug to see the traceback and report it",
        )
        code = ExitCode.INTERNAL
    flush_quietly()
    sys.exit(code)


def main() -> NoReturn:
    """The `flux2` command: `run`, then end the process without tearing the interpreter down.

    By the time `run` ends, every file flux2 wrote is synced and closed, the ledger is closed and
    stdout and stderr are flushed; what is left is joining idle worker threads and freeing
    modules, which changes nothing (tests call `run`).

    Start-up runs without the cyclic garbage collector; see `resume_gc`."""
    gc.disable()
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    flush_quietly()
    os._exit(code)
