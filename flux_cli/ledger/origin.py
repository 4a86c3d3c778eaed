"""Where a row comes from: the OS user and process that wrote it, and its identity across
ledgers (`uid`)."""

from __future__ import annotations

import getpass
import os


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name and no passwd entry
        return None


def new_uid() -> str:
    """A row's identity across ledgers: 128 random bits, as 32 hex digits."""
    return os.urandom(16).hex()


def pid_alive(pid: int) -> bool:
    """Whether process `pid` of this host may still run (True when that cannot be told)."""
    if pid == os.getpid():
        return True
    if pid <= 0 or os.name != "posix":
        return True  # cannot tell: the age rule decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    return True
