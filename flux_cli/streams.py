"""The process's standard streams: closed ones at start, a reader that went away, terminals.

A standard stream that is closed when flux2 starts (`>&-`, `2>&-`) is not an error: the work runs
and keeps its exit code, text meant for the closed stream is dropped, and image bytes meant for a
closed stdout (`-o -`) fail to write like bytes to a full disk, so they are rescued.

When stdout is not a terminal (a pipe, cron's log), tables are not wrapped: one record per line,
full values, no trailing spaces (`TrimmedLines`).
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO

# Wide enough for any row flux2 prints; a table is only as wide as its content (expand=False).
UNWRAPPED_WIDTH = 10_000


def env_flag(name: str) -> bool:
    """Whether the environment variable `name` is set to a true value (`1`, `true`, `yes`, `on`)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def isatty(stream: object) -> bool:
    """Whether `stream` is a terminal; False for anything that cannot say (closed, replaced)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        return False


def unwrapped_width() -> int:
    """The width of a table that does not go to a terminal: COLUMNS when it asks for one
    (`COLUMNS=80 flux2 history | less` is laid out as at 80), else no wrapping at all."""
    columns = os.environ.get("COLUMNS", "").strip()
    width = int(columns) if columns.isdigit() and 0 < int(columns) < UNWRAPPED_WIDTH else None
    return width or UNWRAPPED_WIDTH


class TrimmedLines(io.TextIOBase):
    """Writes through to `stream`, each line without the spaces a table pads it with."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self._partial = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    def write(self, text: str) -> int:
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        if lines:
            self._stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._partial:
            self._stream.write(self._partial)
            self._partial = ""
        self._stream.flush()


class _ClosedBytes(io.RawIOBase):
    """The binary side of a stream that was closed at start: every write fails as on a closed
    file, so image bytes meant for it are rescued rather than lost."""

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        raise ValueError("I/O operation on closed file")

    def write(self, _data: object) -> int:
        raise ValueError("I/O operation on closed file")


class ClosedText(io.TextIOBase):
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


def stand_in_for_closed_streams() -> None:
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
                sys.stdout = ClosedText()
            elif fd == 2:
                sys.stderr = ClosedText()
    if sys.stdout is None:
        sys.stdout = ClosedText()
    if sys.stderr is None:
        sys.stderr = ClosedText()


def point_at_devnull(stream: TextIO) -> None:
    """Once the reader of `stream` has gone (`| head`): so that the interpreter's final flush
    cannot fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        fd = stream.fileno()
        if devnull != fd:
            os.dup2(devnull, fd)
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def flush_quietly() -> None:
    """Flush stdout and stderr; a stream that cannot take it any more is silenced."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            point_at_devnull(sys.stdout)
