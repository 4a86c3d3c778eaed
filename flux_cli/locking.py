"""`--lock NAME`: one run at a time per name, for cron jobs that may overlap (README.md#commands).

An advisory `flock` on a file in the state directory: released by the kernel when the process
ends, however it ends (even `kill -9`), so a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from flux_cli import paths
from flux_cli.errors import Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class LockHeld(Flux2Error):
    """Another run holds the lock: nothing was sent, safe to try again later."""

    exit_code = ExitCode.UNAVAILABLE


@contextmanager
def hold(name: str) -> Iterator[None]:
    import fcntl

    if not _NAME.match(name):
        raise UsageError(
            f"--lock name {name!r} must be 1–64 letters, digits, '.', '_' or '-' (starting with a letter or digit)"
        )
    directory = paths.state_dir() / "locks"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "another process"
            raise LockHeld(
                f"another flux2 run (pid {holder}) holds the lock {name!r}; nothing was sent",
                hint="it is safe to run again once that run has finished",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
