"""Writing and removing the stored API key, and private files in general (README.md#configuration-and-environment).

Reading the key, with its checks (regular file, owner, no group/world bits), is
`flux_cli.credentials.resolve_key`'s job; this module makes files that pass them. No typer, no rich.

    path, replaced = store_key(key)      # config_dir()/api-key, 0600, in a 0700 directory
    removed = remove_key()               # "file", "link" or None when there was none

A private file is never readable by anyone else, not even for an instant: it is created 0600
with O_EXCL|O_NOFOLLOW under a temporary name in the same directory, fsynced, and renamed over
the old one, so a reader sees the old file or the new one and never half of either.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Literal

# The same careful write and directory sync the image files get (the names stay private to
# atomic_write.py, whose fault tests patch them).
from flux_cli.atomic_write import fsync_directory, write_all
from flux_cli.credentials import stored_key_path
from flux_cli.errors import ConfigError, OutputError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "ensure_private_dir",
    "remove_key",
    "store_key",
    "write_private_file",
]

FILE_MODE = 0o600
DIR_MODE = 0o700
_CREATE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _reason(exc: OSError) -> str:
    return exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__


def _owned_by_someone_else(info: os.stat_result) -> bool:
    return hasattr(os, "getuid") and info.st_uid != os.getuid()


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (and its parents) or tighten it to 0700 if group or others may enter.

    A symbolic link to a directory is followed (a config dir kept with other dotfiles is common);
    the directory it leads to must belong to the current user."""
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        info = directory.stat()
    except FileExistsError:
        raise OutputError(f"cannot use {directory}: it exists and is not a directory") from None
    except OSError as exc:
        raise OutputError(f"cannot create the directory {directory}: {_reason(exc)}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot use {directory}: it is not a directory")
    if _owned_by_someone_else(info):
        raise ConfigError(f"the directory {directory} belongs to another user")
    if stat.S_IMODE(info.st_mode) != DIR_MODE:
        try:
            directory.chmod(DIR_MODE)
        except OSError as exc:
            raise OutputError(
                f"cannot make {directory} private (chmod 700): {_reason(exc)}"
            ) from None


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, mode 0600, in a 0700 directory.

    A symbolic link at `path` is replaced by the file, never written through; a directory there
    is an error. Any OS failure is an OutputError (exit 11) naming the path; nothing is left
    behind."""
    directory = path.parent
    ensure_private_dir(directory)
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, _CREATE_FLAGS, FILE_MODE)
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, FILE_MODE)  # exactly 0600, whatever the umask took away
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write {path}: {_reason(exc)}") from None
        raise
    fsync_directory(directory)


def store_key(key: str) -> tuple[Path, bool]:
    """Store a key (already normalised) in the key file. Returns the path and whether a key file
    was there before and has been replaced."""
    path = stored_key_path()
    replaced = os.path.lexists(path)
    write_private_file(path, (key + "\n").encode("ascii"))
    return path, replaced


def remove_key() -> Literal["file", "link"] | None:
    """Delete the key file: "file" when a key file was removed, "link" when it was a symbolic
    link (the link is removed, never what it points to), None when there was nothing."""
    path = stored_key_path()
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot remove the key file {path}: {_reason(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot remove the key file {path}: it is a directory")
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise OutputError(f"cannot remove the key file {path}: {_reason(exc)}") from None
    fsync_directory(path.parent)
    return "link" if stat.S_ISLNK(info.st_mode) else "file"
