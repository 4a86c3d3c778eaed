"""Reading a file the user named (a key file, a batch, a prompt file): bounded, never blocking.

Each is opened without blocking (a FIFO that no one writes to would otherwise hang the open), must
be a regular file (`/dev/zero`, a FIFO or a directory is refused by name, before any byte is read),
and is read only up to a limit, so no file can exhaust memory.
"""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, BinaryIO, cast

from flux_cli.errors import Flux2Error, UsageError

__all__ = ["bounded_lines", "open_regular", "read_regular"]

ErrorType = Callable[[str], Flux2Error]


def open_regular(
    path: Path, what: str, *, error: ErrorType = UsageError, follow_symlinks: bool = True
) -> BinaryIO:
    """`path` opened for reading, if it is a regular file; `error(message)` names `what` if not."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and path.is_symlink():
            raise error(
                f"{what} {path} is a symbolic link; flux2 only reads a regular file"
            ) from None
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise error(f"{what} {path} is {kind}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(
    path: Path,
    what: str,
    max_bytes: int,
    *,
    error: ErrorType = UsageError,
    follow_symlinks: bool = True,
) -> bytes:
    """At most the first `max_bytes` bytes of the regular file `path` (ask for one more than you
    accept to tell whether there was more)."""
    with open_regular(path, what, error=error, follow_symlinks=follow_symlinks) as handle:
        try:
            return handle.read(max_bytes)
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None


class _CappedLines(io.BufferedIOBase):
    def __init__(self, stream: IO[bytes], max_line: int) -> None:
        super().__init__()
        self._stream = stream
        self._max_line = max_line

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        return self._stream.read(-1 if size is None else size)

    def readline(self, size: int | None = -1) -> bytes:
        line = self._stream.readline(self._max_line + 1)
        if len(line) > self._max_line and not line.endswith(b"\n"):
            while True:  # skip to the end of this line, a bounded piece at a time
                rest = self._stream.readline(io.DEFAULT_BUFFER_SIZE)
                if not rest or rest.endswith(b"\n"):
                    break
        return line


def bounded_lines(stream: IO[bytes], max_line: int) -> IO[bytes]:
    """`stream`, read line by line with each line cut to at most `max_line + 1` bytes: a longer
    line is still seen as too long, but the rest of it is skipped rather than held in memory."""
    return cast(IO[bytes], _CappedLines(stream, max_line))
