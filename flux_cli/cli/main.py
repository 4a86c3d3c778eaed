"""The `flux2` console script (`flux_cli.cli.main:main`): the process around the error boundary.

`run` catches what escapes the commands (`cli/boundary.py` wraps each one) and `main` ends the
process.

A standard stream that is closed when flux2 starts (`>&-`, `2>&-`) is not an error: the work runs
and keeps its exit code, text meant for the closed stream is dropped, and image bytes meant for a
closed stdout (`-o -`) fail to write like bytes to a full disk, so they are rescued.
"""

from __future__ import annotations

import contextlib
import gc
import io
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

__all__ = ["main", "run"]


# -- the process -----------------------------------------------------------------------------


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signum)


def _debug_requested(argv: Sequence[str]) -> bool:
    env = os.environ.get("FLUX2_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    return env or "--debug" in argv


class _ClosedBytes(io.RawIOBase):
    """The binary side of a stream that was closed at start: every write fails as on a closed
    file, so image bytes meant for it are rescued rather than lost."""

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        raise ValueError("I/O operation on closed file")

    def write(self, _data: object) -> int:
        raise ValueError("I/O operation on closed file")


class _ClosedText(io.TextIOBase):
    """Stands in for `sys.stdout` or `sys.stderr` when that stream was closed at start: text is
    dropped (no one can read it), and `buffer` refuses bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = _ClosedBytes()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)

    def isatty(self) -> bool:
        return False


def _stand_in_for_closed_streams() -> None:
    """Occupy closed descriptors 0-2 with /dev/null, so that no file flux2 opens (the ledger, an
    image) can take their numbers and receive what is meant for a standard stream; and give
    Python a stand-in for each closed stream."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
            except OSError:
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1:
                sys.stdout = _ClosedText()
            elif fd == 2:
                sys.stderr = _ClosedText()
    if sys.stdout is None:
        sys.stdout = _ClosedText()
    if sys.stderr is None:
        sys.stderr = _ClosedText()


def run(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    _stand_in_for_closed_streams()
    if not isinstance(sys.stderr, RedactingStream):
        sys.stderr = cast(TextIO, RedactingStream(sys.stderr))
    signal.signal(signal.SIGINT, _raise_interrupted)
    signal.signal(signal.SIGTERM, _raise_interrupted)
    code: int
    try:
        from flux_cli.cli.registry import for_args, with_preview_values

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
        _silence_stdout()
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
    _flush_quietly()
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
    _flush_quietly()
    os._exit(code)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            _silence_stdout()
