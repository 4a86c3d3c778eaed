"""Run the installed `flux2` under a pseudo-terminal and render what it wrote as a terminal would.

Pipe tests read bytes; these read the screen a person is left with: what a spinner left behind, a
path glued to a progress bar, a table cell folded so that characters vanished.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pyte

from tests.e2e.conftest import flux2_command

SIZES = ((80, 24), (120, 40))
_SPINNER = re.compile(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]")
_BAR = re.compile(r"━|╺|╸")


@dataclass
class Screen:
    """The final state of the terminal: the lines that scrolled away, then the visible ones."""

    columns: int
    rows: int
    lines: list[str]
    exit_code: int | None
    raw: bytes
    cursor_x: int = 0  # where the shell's prompt would start

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def assert_no_live_leftovers(self) -> None:
        """No spinner frame or progress bar survives the run."""
        for line in self.lines:
            assert not _SPINNER.search(line), f"spinner left on screen: {line!r}\n{self.text}"
            assert not _BAR.search(line), f"progress bar left on screen: {line!r}\n{self.text}"

    def assert_own_line(self, text: str) -> None:
        """`text` (a path) appears whole, alone on a line of its own."""
        assert len(text) <= self.columns, "cannot be whole on one line at this width"
        stripped = [line.rstrip() for line in self.lines]
        assert text in stripped, f"{text!r} is not alone on a line:\n{self.text}"


def _render(raw: bytes, columns: int, rows: int) -> tuple[list[str], int]:
    screen = pyte.HistoryScreen(columns, rows, history=10_000, ratio=0.5)
    screen.set_mode(pyte.modes.LNM)  # a real tty's onlcr: \n also returns the carriage
    stream = pyte.ByteStream(screen)
    stream.feed(raw)

    def row(chars: dict[int, pyte.screens.Char]) -> str:
        return "".join(chars[x].data for x in range(columns)).rstrip()

    scrolled = [row(line) for line in screen.history.top]
    visible = [line.rstrip() for line in screen.display]
    while visible and not visible[-1]:
        visible.pop()
    return scrolled + visible, screen.cursor.x


def run_on_screen(
    args: Sequence[str],
    *,
    cwd: Path,
    columns: int,
    rows: int,
    base_url: str | None,
    key: str | None,
    env: dict[str, str] | None = None,
    interact: Callable[[pexpect.spawn[bytes]], None] | None = None,
    timeout: float = 60,
    colour: bool = False,
) -> Screen:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"COLUMNS", "LINES", "NO_COLOR", "TERM"}
    }
    environment["TERM"] = "xterm-256color"
    if not colour:
        environment["NO_COLOR"] = "1"
    if base_url:
        environment["FLUX2_BASE_URL"] = base_url
    if key:
        environment["OPENROUTER_API_KEY"] = key
    environment.update(env or {})
    command = flux2_command()
    child: pexpect.spawn[bytes] = pexpect.spawn(
        command[0],
        [*command[1:], *args],
        cwd=str(cwd),
        env=environment,
        dimensions=(rows, columns),
        timeout=timeout,
        encoding=None,
    )
    transcript = io.BytesIO()
    child.logfile_read = transcript  # every byte read, whether by expect() or below
    if interact is not None:
        interact(child)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            child.read_nonblocking(65536, timeout=1)
        except pexpect.TIMEOUT:
            continue
        except pexpect.EOF:
            break
    child.close()
    raw = transcript.getvalue()
    lines, cursor_x = _render(raw, columns, rows)
    return Screen(columns, rows, lines, child.exitstatus, raw, cursor_x)
