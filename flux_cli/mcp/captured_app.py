"""An App per MCP call, whose stdout and stderr stay in memory, and the endpoint of the one
in-process sandbox that every call of a --sandbox server shares."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from flux_cli.cli.context import App
from flux_cli.endpoints import Endpoint

if TYPE_CHECKING:
    from flux_cli.config import Settings


# -- an App per call ------------------------------------------------------------------------------


class CapturedApp(App):
    """An App whose stdout (the JSON records) and stderr (warnings) are kept in memory.

    Over stdio, the process's own stdout carries the protocol: nothing of a call may reach it.
    `sandbox`: the server's one sandbox, which a `--sandbox` run then uses instead of starting
    one of its own."""

    def __init__(self, settings: Settings | None = None, sandbox: Endpoint | None = None) -> None:
        from rich.console import Console

        self._data = io.StringIO()
        self._messages = io.StringIO()
        console = Console(
            file=self._messages,
            highlight=False,
            markup=False,
            emoji=False,
            no_color=True,
            soft_wrap=True,
            width=400,
        )
        super().__init__(
            quiet=True, _err=console, _out=console, _settings=settings, _endpoint=sandbox
        )
        self._sandbox = sandbox

    def use_sandbox(self) -> None:
        if self._sandbox is None:  # none shared: one started for the run, as the command line
            super().use_sandbox()
        else:
            self._endpoint = self._sandbox

    @property
    def stdout(self) -> io.StringIO:
        return self._data

    @property
    def stdin(self) -> io.StringIO:
        return io.StringIO()

    def stdout_is_tty(self) -> bool:
        return False

    def stdin_is_tty(self) -> bool:
        return False

    def stderr_is_tty(self) -> bool:
        return False

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self._data.getvalue().splitlines() if line.strip()]

    def messages(self) -> list[str]:
        """What the run said to people: warnings, without the `flux2: ` prefix."""
        lines = self._messages.getvalue().splitlines()
        return [line.removeprefix("flux2: ").strip() for line in lines if line.strip()]


# -- the one in-process sandbox of a --sandbox server --------------------------------------------


def share_sandbox(base_url: str) -> Endpoint:
    """The endpoint of the server's one sandbox at `base_url`, for every `--sandbox` call instead
    of one started per call (the command line's way): its balance and faults then span the
    session, and its rows are still filed under the `sandbox` API."""
    from flux_cli.endpoints import sandbox_endpoint

    return sandbox_endpoint(base_url)
