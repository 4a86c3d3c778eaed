"""Writing files that never clobber and never leave a partial file behind.

`preflight` proves a directory writable before a paid request. `write_atomic` publishes bytes
under the first free name (`name`, `name-1` … `name-999`) or, with `force`, replaces a regular
file, never a link, directory or FIFO; a temp file a killed flux2 left behind is swept. `rescue`
keeps paid bytes whose real destination failed, and `write_stdout` writes them to stdout. Every
OS error is an OutputError naming the path and the reason (docs/reliability.md#security).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import stat
import tempfile
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from flux_cli import paths
from flux_cli.errors import OutputError
from flux_cli.filenames import (
    MAX_NAME_BYTES,
    sanitize_component,
    split_extension,
    truncate_utf8,
    with_format_extension,
)
from flux_cli.images import sniff_format

MAX_SUFFIX = 999  # name, name-1 … name-999, then give up

_HINTS = {
    errno.ENOSPC: "free some disk space or write somewhere else with -o",
    errno.EDQUOT: "the disk quota is used up; free some space or write somewhere else with -o",
    errno.EACCES: "check the directory's permissions or write somewhere else with -o",
    errno.EPERM: "check the directory's permissions or write somewhere else with -o",
    errno.EROFS: "the file system is read-only; write somewhere else with -o",
}


def _os_error(what: str, path: Path | str, exc: OSError) -> OutputError:
    reason = exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__
    return OutputError(f"{what} {path}: {reason}", hint=_HINTS.get(exc.errno or 0))


def preflight(directory: Path, *, create: bool = True) -> None:
    """Make sure `directory` exists (creating it and its parents with the default mode when
    `create`) and that a file can really be created in it. Runs before any paid request; any
    failure is an OutputError naming the directory and the reason."""
    try:
        if not directory.is_dir():
            if directory.exists() or directory.is_symlink():
                raise OutputError(f"cannot write to {directory}: it is not a directory")
            if not create:
                raise OutputError(f"cannot write to {directory}: no such directory")
            directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".flux2-probe.", suffix=".tmp", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _os_error("cannot write to", directory, exc) from None


def _check_component(name: str) -> None:
    if (
        not name
        or name in (".", "..")
        or "/" in name
        or os.sep in name
        or "\x00" in name
        or len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES
    ):
        raise ValueError(f"not a single safe file name: {name!r}")


def _candidate_names(name: str) -> Iterator[str]:
    yield name
    stem, ext = split_extension(name)
    for number in range(1, MAX_SUFFIX + 1):
        suffix = f"-{number}{ext}"
        yield truncate_utf8(stem, MAX_NAME_BYTES - len(suffix.encode())) + suffix


def write_all(fd: int, data: bytes, *, wait_when_blocked: bool = False) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            # Another program may hand us a non-blocking stdout; wait until it drains.
            if not wait_when_blocked:
                raise
            select.select([], [fd], [])
            continue
        if written <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    """Best effort: some file systems cannot fsync a directory, and the file is already safe."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV}


def _publish_new(tmp: str, final: str) -> bool:
    """Give `tmp` the name `final` only if nothing has it; False if the name is taken."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links here (FAT, some network file systems): claim the name with an exclusive
        # create, then rename over our own placeholder.
        try:
            fd = os.open(final, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0))
        except FileExistsError:
            return False
        os.close(fd)
        try:
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(final)
            raise
    return True


def _replace_existing(tmp: str, final: str, display: Path) -> None:
    """--force: replace a regular file (or nothing) at `final`, never a link, dir or FIFO."""
    try:
        existing = os.lstat(final)
    except FileNotFoundError:
        existing = None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        kind = (
            "a symbolic link"
            if stat.S_ISLNK(existing.st_mode)
            else "a directory"
            if stat.S_ISDIR(existing.st_mode)
            else "a FIFO"
            if stat.S_ISFIFO(existing.st_mode)
            else "not a regular file"
        )
        raise OutputError(
            f"refusing to replace {display}: it is {kind}",
            hint="remove it yourself or choose another name with -o",
        )
    os.replace(tmp, final)


def _write_unnamed(directory: Path, name: str, data: bytes, mode: int | None) -> Path | None:
    """Linux: write `data` to an unnamed file in `directory` (O_TMPFILE), sync it, link it to
    the first free name of `name`, and sync the directory. Nothing is left behind if the process
    dies at any point, and there is no temporary name to create and remove. None where the
    system cannot do it (no O_TMPFILE, a file system without it, no /proc): the caller takes the
    named-temp path. Errors writing or syncing are raised as they are."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None or not os.path.isdir("/proc/self/fd"):
        return None
    with contextlib.ExitStack() as close:
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            close.callback(os.close, dir_fd)
            fd = os.open(directory, flag | os.O_WRONLY | os.O_CLOEXEC, _create_mode(mode))
            close.callback(os.close, fd)
        except OSError:
            return None
        _fill(fd, data, mode)
        # linkat(AT_SYMLINK_FOLLOW) on the descriptor's /proc link names the unnamed file;
        # a dir_fd makes Python use linkat (plain link() would link the /proc link itself).
        for candidate in _candidate_names(name):
            try:
                os.link(f"/proc/self/fd/{fd}", candidate, dst_dir_fd=dir_fd, follow_symlinks=True)
            except FileExistsError:
                continue
            except OSError:
                return None  # no linking here: the named-temp path decides, and says why
            os.fsync(dir_fd)
            return directory / candidate
    raise _names_taken(directory, name)


def _create_mode(mode: int | None) -> int:
    """The mode to create a file with: `mode`, or 0o666 for the kernel to filter by the umask."""
    return 0o666 if mode is None else mode


def _fill(fd: int, data: bytes, mode: int | None) -> None:
    """Write all of `data`, give the file `mode` exactly (when one is asked for) and sync it."""
    write_all(fd, data)
    if mode is not None:
        os.fchmod(fd, mode)
    os.fsync(fd)


def _names_taken(directory: Path, name: str) -> OutputError:
    return OutputError(
        f"cannot write {directory / name}: it and {MAX_SUFFIX} numbered variants exist",
        hint="use --force to replace it, or choose another name with -o",
    )


#: `.<name>.<pid>.<12 hex>.tmp`: a temp file of ours, with the process that wrote it. The older
#: form without the pid is ours too.
_TEMP_NAME = re.compile(r"^\..+?\.(?:(\d{1,10})\.)?[0-9a-f]{12}\.tmp$")
#: A temp file this old is stale whoever wrote it: a write takes seconds, not a day (and a pid
#: may have been reused by then).
STALE_TEMP_SECONDS = 24 * 3600
_swept: set[str] = set()


def _create_temp(directory: Path, name: str, mode: int) -> tuple[int, str]:
    """A new file `.<name>.<pid>.<random>.tmp` in `directory`, created with O_EXCL and `mode`
    (which the kernel filters through the umask): (its descriptor, its path)."""
    prefix = f".{truncate_utf8(name, 200)}.{os.getpid()}."
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    for _ in range(100):
        path = os.path.join(directory, f"{prefix}{os.urandom(6).hex()}.tmp")
        try:
            return os.open(path, flags, mode), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", str(directory))


def _process_gone(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError, OverflowError):
        return False  # alive under another user, or not ours to ask about
    return False


def sweep_stale_temps(directory: Path, *, now: Callable[[], float] | None = None) -> list[str]:
    """Remove the temp files a killed flux2 left in `directory` (`kill -9` while the image was
    being synced, on the named-temp path): only names of our own pattern, only regular files of
    this user, and only when the process that wrote one is gone or the file is a day old. The
    names removed; errors are ignored (this is housekeeping, never a reason to fail)."""
    import time

    clock = time.time() if now is None else now()
    removed: list[str] = []
    uid = os.getuid() if hasattr(os, "getuid") else None
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue
        pid = match.group(1)
        old = clock - info.st_mtime > STALE_TEMP_SECONDS
        if old or (pid is not None and _process_gone(int(pid))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(entry.name)
    return removed


def _sweep_once(directory: Path) -> None:
    key = os.path.realpath(directory)
    if key not in _swept:
        _swept.add(key)
        sweep_stale_temps(directory)


def _write_atomic(
    directory: Path, name: str, data: bytes, *, force: bool, mode: int | None
) -> Path:
    """`mode` None: 0o666 less the umask, applied by the kernel as the file is created."""
    _check_component(name)
    target = directory / name
    # One component cannot leave the directory, but say so where it is decided.
    if os.path.realpath(target.parent) != os.path.realpath(directory):
        raise OutputError(f"refusing to write {target}: it is outside {directory}")
    _sweep_once(directory)
    if not force:
        try:
            published = _write_unnamed(directory, name, data, mode)
        except OSError as exc:
            raise _os_error("cannot write", target, exc) from None
        if published is not None:
            return published
    tmp: str | None = None
    try:
        fd, tmp = _create_temp(directory, name, _create_mode(mode))
        try:
            _fill(fd, data, mode)
        finally:
            os.close(fd)
        for candidate in [name] if force else _candidate_names(name):
            final = os.path.join(directory, candidate)
            target = directory / candidate
            if force:
                _replace_existing(tmp, final, target)
                break
            if _publish_new(tmp, final):
                break
        else:
            raise _names_taken(directory, name)
    except OSError as exc:
        raise _os_error("cannot write", target, exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    fsync_directory(directory)
    return target


def write_atomic(directory: Path, name: str, data: bytes, *, force: bool = False) -> Path:
    """Write `data` as `directory/name` atomically and return the path actually written.

    The bytes go to a temp file in the same directory (`.<name>.<random>.tmp`, O_EXCL), are
    fsynced and get mode `0o666 & ~umask`; then, without `force`, the file is hard-linked to the
    first free name of `name`, `stem-1.ext` … `stem-999.ext` (so nothing is ever clobbered, and
    racing writers get distinct files); with `force`, it atomically replaces a regular file at
    `name`, but a symlink, directory or FIFO there is an OutputError. The directory is fsynced.
    The temp file is always removed, so a failure leaves no partial file anywhere. Any OS error
    is an OutputError with the path and the reason. `name` must be one component (sanitised)."""
    return _write_atomic(directory, name, data, force=force, mode=None)


def rescue_dir() -> Path:
    return paths.state_dir() / "rescue"


def rescue(data: bytes, *, name_hint: str, now: Callable[[], datetime] = datetime.now) -> Path:
    """Keep paid bytes whose real destination failed: `state_dir()/rescue/<time>-<name>`.

    The directory is 0700, the file 0600, written atomically under a unique name. The extension
    follows the bytes' real format (`.bin` when they are not a recognised image). Raises
    OutputError if even this fails."""
    directory = rescue_dir()
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_IMODE(directory.stat().st_mode) != 0o700:
            os.chmod(directory, 0o700)
    except OSError as exc:
        raise _os_error("cannot create the rescue directory", directory, exc) from None
    fmt = sniff_format(data)
    hint = sanitize_component(name_hint)
    if fmt is not None:
        hint = with_format_extension(hint, fmt)
    elif not hint.endswith(".bin"):
        hint += ".bin"
    stamp = now().strftime("%Y%m%d-%H%M%S")
    name = sanitize_component(f"{stamp}-{uuid.uuid4().hex[:8]}-{hint}")
    return _write_atomic(directory, name, data, force=False, mode=0o600)


def write_stdout(data: bytes, stream: BinaryIO) -> None:
    """Write raw bytes to `stream` (stdout's binary buffer) and flush; a closed pipe or a full
    disk is an OutputError. Refusing a terminal is the caller's job.

    When the stream has a file descriptor the bytes bypass its buffer, so a failed write leaves
    nothing behind for the interpreter to fail on again when it flushes stdout at exit."""
    try:
        stream.flush()
        try:
            fd: int | None = stream.fileno()
        except (OSError, AttributeError):  # io.UnsupportedOperation: an in-memory stream
            fd = None
        if fd is None:
            stream.write(data)
            stream.flush()
        else:
            write_all(fd, data, wait_when_blocked=True)
    except BrokenPipeError:
        raise OutputError("cannot write the image to stdout: the reader went away") from None
    except OSError as exc:
        raise _os_error("cannot write the image to", "stdout", exc) from None
    except ValueError:  # the stream is closed
        raise OutputError("cannot write the image to stdout: it is closed") from None
