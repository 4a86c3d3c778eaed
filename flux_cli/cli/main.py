"""The process entry point and the one error boundary (style principle 4).

Every expected failure is a `Flux2Error` that carries its exit code; it becomes one redacted line on
stderr, plus a hint on what to do next. Anything else is a bug: exit 1, and a traceback only with
`--debug` / `FLUX2_DEBUG=1` (never with locals).
"""

from __future__ import annotations

import gc
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import NoReturn, TextIO, cast

from flux_cli.errors import Flux2Error, Interrupted
from flux_cli.exit_codes import ExitCode
from flux_cli.redact import RedactingStream


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _debug_requested(argv: Sequence[str]) -> bool:
    env = os.environ.get("FLUX2_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    return env or "--debug" in argv


def _print_error(message: str, hint: str | None = None) -> None:
    from flux_cli.cli.boundary import report_error

    report_error(message, hint)


def run(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    if sys.stderr is not None and not isinstance(sys.stderr, RedactingStream):
        sys.stderr = cast(TextIO, RedactingStream(sys.stderr))
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    code: int
    try:
        from flux_cli.cli.app import for_args

        for_args(args)(args=args, prog_name="flux2")
        code = ExitCode.OK  # typer exits by itself; this is only reached when it returns
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Flux2Error as exc:
        _print_error(exc.message, exc.hint)
        code = exc.exit_code
    except Interrupted as exc:
        interrupted = exc.signum == signal.SIGINT
        _print_error("interrupted" if interrupted else "terminated")
        code = ExitCode.INTERRUPTED if interrupted else ExitCode.TERMINATED
    except BrokenPipeError:
        # The reader went away (`| head`). Whatever was written stays written; say nothing more.
        _silence_stdout()
        code = ExitCode.OK
    except Exception as exc:
        if _debug_requested(args):
            import traceback

            from flux_cli.redact import redact

            if sys.stderr is not None:
                sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        _print_error(
            f"internal error: {type(exc).__name__}: {exc}",
            "this is a bug in flux2; run again with --debug to see the traceback and report it",
        )
        code = ExitCode.INTERNAL
    _flush_quietly()
    sys.exit(code)


def main() -> NoReturn:
    """The `flux2` command: `run`, then end the process without tearing the interpreter down.

    By the time `run` ends, every file flux2 wrote is synced and closed, the ledger is closed and
    stdout and stderr are flushed; what is left is joining idle worker threads and freeing
    modules, which takes tens of milliseconds and changes nothing (tests call `run`).

    Start-up runs without the cyclic garbage collector; see `boundary.resume_gc`."""
    gc.disable()
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    _flush_quietly()
    os._exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            _silence_stdout()
