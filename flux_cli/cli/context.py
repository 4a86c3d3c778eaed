"""The application object every command receives: consoles, verbosity, environment facts, the
settings, the endpoint and the factory that makes its HTTP client.

Tests replace any part of it; commands never reach for `sys.stdout`, a global console, the config
file or `OpenRouterClient` directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from flux_cli.endpoints import SANDBOX, Endpoint, make_client, real_endpoint
from flux_cli.streams import env_flag, isatty, point_at_devnull

if TYPE_CHECKING:
    from rich.console import Console

    from flux_cli.config import Settings
    from flux_cli.openrouter.client import OpenRouterClient

__all__ = ["App", "Endpoint"]


@dataclass
class App:
    debug: bool = field(default_factory=lambda: env_flag("FLUX2_DEBUG"))
    quiet: bool = False
    stdout_closed: bool = False
    preview_protocol: str | None = None  # --preview-protocol, when given
    live: Any = None  # the rich Live on stderr while a spinner or bar is up (see cli/live.py)
    _err: Console | None = None
    _out: Console | None = None
    _settings: Settings | None = None
    _endpoint: Endpoint | None = None
    resolve_endpoint: Callable[[], Endpoint] = real_endpoint
    client_factory: Callable[..., OpenRouterClient] = make_client

    # -- configuration -----------------------------------------------------------------------
    @property
    def settings(self) -> Settings:
        """The config file and environment, read once (UsageError if a value is bad)."""
        if self._settings is None:
            from flux_cli.config import load_settings

            self._settings = load_settings()
        return self._settings

    @settings.setter
    def settings(self, value: Settings) -> None:
        self._settings = value

    def use_sandbox(self) -> None:
        """Send to a sandbox started in this process (`--sandbox`) instead of the real API."""
        self._endpoint = Endpoint(SANDBOX, "", None)

    @property
    def uses_built_in_sandbox(self) -> bool:
        return self._endpoint is not None and self._endpoint.built_in_sandbox

    @property
    def endpoint(self) -> Endpoint:
        """The API this run talks to, resolved once (UsageError for a bad URL, AuthError
        without a key)."""
        if self._endpoint is None:
            self._endpoint = self.resolve_endpoint()
        return self._endpoint

    @contextmanager
    def connected(self) -> Iterator[Endpoint]:
        """The endpoint with its URL and key: the built-in sandbox runs inside the block."""
        endpoint = self.endpoint
        if not endpoint.built_in_sandbox or endpoint.key is not None:
            yield endpoint
            return
        from flux_cli.endpoints import built_in_sandbox

        with built_in_sandbox() as started:
            yield started

    def make_client(self, endpoint: Endpoint, **options: Any) -> OpenRouterClient:
        """An HTTP client for `endpoint`; `options` are `OpenRouterClient`'s."""
        assert endpoint.key is not None
        return self.client_factory(endpoint.base_url, endpoint.key, **options)

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
        return isatty(sys.stdout)

    def stdin_is_tty(self) -> bool:
        return isatty(sys.stdin)

    def stderr_is_tty(self) -> bool:
        return isatty(sys.stderr)

    @property
    def err(self) -> Console:
        """Rich console on stderr: styled only on a terminal and when NO_COLOR is unset."""
        if self._err is None:
            self._err = _console(sys.stderr, stderr=True)
        return self._err

    @property
    def out(self) -> Console:
        """Rich console on stdout, for commands whose result is a table (cost, history, models)."""
        if self._out is None:
            self._out = _console(self.stdout, stderr=False)
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
            point_at_devnull(self.stdout)
        except OSError as exc:  # a full disk or an I/O error: the data is lost, so say so
            from flux_cli.errors import OutputError

            self.stdout_closed = True
            point_at_devnull(self.stdout)
            reason = exc.strerror or type(exc).__name__
            raise OutputError(f"cannot write to stdout: {reason}") from None

    def display_json(self, record: dict[str, Any]) -> None:
        """One JSON object as one line of data on stdout (text as it is, not `\\u` escapes)."""
        import json

        self.display(json.dumps(record, ensure_ascii=False))

    def show(self, renderable: Any) -> None:
        """A table (any Rich renderable) on stdout; once the reader has gone, as `display`."""
        try:
            self.out.print(renderable)
        except BrokenPipeError:
            self.stdout_closed = True

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
        from flux_cli.textsafe import strip_control

        # One message, one line: a log file (cron) must not get it folded at 80 columns. No
        # control sequences: the text may come from a server or a file name.
        self.err.print(
            Text(f"flux2: {strip_control(redact(message))}", style=style or ""), soft_wrap=True
        )


def _console(stream: TextIO, *, stderr: bool) -> Console:
    """A console that never reads markup or emoji codes in what it prints; off a terminal, a log
    gets whole lines and no trailing spaces (`tables.unwrapped_stdout`)."""
    from rich.console import Console

    from flux_cli.cli.tables import unwrapped_stdout

    return Console(
        stderr=stderr,
        highlight=False,
        markup=False,
        emoji=False,
        no_color="NO_COLOR" in os.environ or None,
        soft_wrap=False,
        **unwrapped_stdout(stream),
    )
