"""The application object every command receives: consoles, verbosity and environment facts.

Tests replace any part of it; commands never reach for `sys.stdout` or a global console directly.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

if TYPE_CHECKING:
    from rich.console import Console


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class App:
    debug: bool = field(default_factory=lambda: _env_flag("FLUX2_DEBUG"))
    quiet: bool = False
    stdout_closed: bool = False
    preview_protocol: str | None = None  # --preview-protocol, when given
    live: Any = None  # the rich Live on stderr while a spinner or bar is up (see cli/live.py)
    _err: Console | None = None
    _out: Console | None = None

    # -- streams -----------------------------------------------------------------------------
    @property
    def stdout(self) -> TextIO:
        return sys.stdout

    @property
    def stdout_bytes(self) -> BinaryIO:
        return sys.stdout.buffer

    @property
    def stdin(self) -> TextIO:
        return sys.stdin

    def stdout_is_tty(self) -> bool:
        return _isatty(sys.stdout)

    def stdin_is_tty(self) -> bool:
        return _isatty(sys.stdin)

    def stderr_is_tty(self) -> bool:
        return _isatty(sys.stderr)

    @property
    def err(self) -> Console:
        """Rich console on stderr: styled only on a terminal and when NO_COLOR is unset."""
        if self._err is None:
            from rich.console import Console

            from flux_cli.cli.tables import unwrapped_stdout

            self._err = Console(
                stderr=True,
                highlight=False,
                markup=False,
                emoji=False,
                no_color="NO_COLOR" in os.environ or None,
                soft_wrap=False,
                **unwrapped_stdout(sys.stderr),  # a log gets whole lines, no trailing spaces
            )
        return self._err

    @property
    def out(self) -> Console:
        """Rich console on stdout, for commands whose result is a table (cost, history, models)."""
        if self._out is None:
            from rich.console import Console

            from flux_cli.cli.tables import unwrapped_stdout

            self._out = Console(
                highlight=False,
                markup=False,
                emoji=False,
                no_color="NO_COLOR" in os.environ or None,
                soft_wrap=False,
                **unwrapped_stdout(self.stdout),
            )
        return self._out

    # -- data (stdout) -----------------------------------------------------------------------
    def display(self, line: str) -> None:
        """One line of data on stdout. When the reader has gone (`| head`), later lines are
        dropped silently and the run goes on: the work's own exit code still decides."""
        if self.stdout_closed:
            return
        if self.live is not None and self.stdout_is_tty():
            from flux_cli.cli.live import write_above

            live, self.live = self.live, None
            try:
                write_above(live, lambda: self.display(line))
            finally:
                self.live = live
            return
        try:
            self.stdout.write(line + "\n")
            self.stdout.flush()
        except BrokenPipeError:
            self.stdout_closed = True
            _point_at_devnull(self.stdout)
        except OSError as exc:  # a full disk or an I/O error: the data is lost, so say so
            from flux_cli.errors import OutputError

            self.stdout_closed = True
            _point_at_devnull(self.stdout)
            reason = exc.strerror or type(exc).__name__
            raise OutputError(f"cannot write to stdout: {reason}") from None

    # -- people (stderr) ---------------------------------------------------------------------
    def info(self, message: str) -> None:
        if not self.quiet:
            self._say(message, style=None)

    def warn(self, message: str) -> None:
        self._say(f"warning: {message}", style="yellow")

    def error(self, message: str) -> None:
        self._say(f"error: {message}", style="bold red")

    def _say(self, message: str, style: str | None) -> None:
        from rich.text import Text

        from flux_cli.redact import redact

        # One message, one line: a log file (cron) must not get it folded at 80 columns.
        self.err.print(
            Text(f"flux2: {_printable(redact(message))}", style=style or ""), soft_wrap=True
        )


def _point_at_devnull(stream: TextIO) -> None:
    """So the interpreter's final flush of stdout cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def _printable(text: str) -> str:
    """Drop terminal control sequences from text that may come from a server or a file name."""
    from flux_cli.textsafe import strip_control

    return strip_control(text)
