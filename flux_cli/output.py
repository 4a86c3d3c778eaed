"""Where images go: name templates, safe names, atomic no-clobber writes, stdout, rescue.

The flow for a run (README.md#commands `-o/--output`, docs/reliability.md#security):

1. `plan_outputs(spec, count=…, default_dir=…)` turns `-o` into an `OutputPlan`, before anything
   is sent: stdout, or a directory plus a name template. Template errors are UsageErrors here.
2. `preflight(plan.directory)` creates the directory if needed and proves it is writable, still
   before the paid request.
3. After each image arrives, `plan.name_for(fields)` renders its file name (the extension always
   follows the image's real format) and `write_atomic(plan.directory, name, data)` publishes it
   without clobbering anything. If that fails, `rescue(data, name_hint=name)` keeps the paid bytes.

Only the final path component is ever generated or sanitised; the directories in a user-given
path are the user's choice and are used as given. Names are never longer than 255 bytes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import select
import stat
import tempfile
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from string import Formatter
from typing import BinaryIO

from flux_cli import paths
from flux_cli.choices import DEFAULT_NAME_TEMPLATE
from flux_cli.errors import OutputError, UsageError
from flux_cli.images import EXTENSIONS, FORMATS, format_from_extension, sniff_format

DEFAULT_TEMPLATE = DEFAULT_NAME_TEMPLATE  # the one definition is in flux_cli.choices
TEMPLATE_FIELDS = ("date", "time", "model", "seed", "slug", "index", "n", "ext", "id")
MAX_NAME_BYTES = 255
MAX_SUFFIX = 999  # name, name-1 … name-999, then give up
FALLBACK_NAME = "image"

# Extensions of image formats flux2 cannot write: `-o fox.gif` is refused rather than guessed at.
_UNWRITABLE_EXTENSIONS = frozenset(
    {".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".jxl", ".svg", ".ico", ".psd"}
)


# --- names --------------------------------------------------------------------------------------

_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d",
     "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i"}
)  # fmt: skip
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(prompt: str, max_len: int = 40) -> str:
    """Lower-case ASCII words joined by `-`, at most `max_len` characters, never empty.

    Accents are transliterated (NFKD, plus a few letters NFKD leaves alone: ß → ss, ø → o …);
    everything else that is not a letter or digit separates words. Cut at a word boundary where
    one is near."""
    ascii_text = (
        unicodedata.normalize("NFKD", prompt.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1]
        boundary = cut.rfind("-")
        slug = cut[:boundary] if boundary >= max_len // 2 else slug[:max_len]
        slug = slug.strip("-")
    return slug or FALLBACK_NAME


# Dropped: controls (C0, DEL, C1), bidi marks, embeddings, overrides and isolates, and lone
# surrogates (not encodable). Replaced by "_": path separators and the other characters Windows
# forbids in names.
_DROP = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_REPLACE = re.compile(r'[/\\<>:"|?*]')
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in [*"123456789", "¹", "²", "³"]]
)
_LEADING = " -."
_TRAILING = " ."


def _split_extension(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    if not stem or len(ext.encode()) > 32:
        return name, ""
    return stem, ext


def _truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def _fit(stem: str, ext: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """stem + ext in at most max_bytes, shortening the stem; "" if the stem does not survive."""
    ext = _truncate_utf8(ext, max_bytes // 2)
    stem = _truncate_utf8(stem, max_bytes - len(ext.encode())).rstrip(_TRAILING)
    return stem + ext if stem else ""


def sanitize_component(name: str, *, fallback: str = FALLBACK_NAME) -> str:
    """Make `name` one safe file-name component (docs/reliability.md#security).

    NFC; controls, bidi overrides and lone surrogates removed; `/ \\ < > : " | ? *` replaced by
    `_`; `..` collapsed to `.`; no leading `-`, `.` or space and no trailing `.` or space; Windows
    device names (CON, NUL, COM1 … with or without an extension) prefixed with `_`; at most 255
    bytes of UTF-8, shortening the stem and keeping the extension. An empty result becomes
    `fallback` (itself sanitised, so it should already be safe)."""
    text = unicodedata.normalize("NFC", _DROP.sub("", name))
    text = _REPLACE.sub("_", text)
    while ".." in text:
        text = text.replace("..", ".")
    text = text.lstrip(_LEADING).rstrip(_TRAILING)
    stem, ext = _split_extension(text)
    if stem.split(".", 1)[0].rstrip(" ").upper() in _DEVICE_NAMES:
        stem = "_" + stem
    text = _fit(stem, ext)
    if not text:
        return FALLBACK_NAME if fallback == FALLBACK_NAME else sanitize_component(fallback)
    return text


def with_format_extension(name: str, fmt: str) -> str:
    """`name` with an extension that matches `fmt` ("png", "jpeg", "webp").

    An extension that already names the format is kept as spelled (`fox.JPEG` stays); another
    image extension is swapped (`fox.png` → `fox.jpg`); anything else gets one appended
    (`fox` → `fox.png`, `fox.v2` → `fox.v2.png`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    current = format_from_extension(name)
    if current == fmt:
        return name
    stem = os.path.splitext(name)[0] if current else name
    return f"{stem}.{EXTENSIONS[fmt]}"


@dataclass(frozen=True)
class NameFields:
    """The values a name template can use. `fmt` is the image's real format; {ext} follows it."""

    when: datetime
    model: str
    seed: int
    prompt: str
    index: int = 1
    n: int = 1
    fmt: str = "png"
    generation_id: str = ""

    def values(self) -> dict[str, object]:
        return {
            "date": self.when.strftime("%Y-%m-%d"),
            "time": self.when.strftime("%H%M%S"),
            "model": self.model.rstrip("/").rsplit("/", 1)[-1] or "model",
            "seed": self.seed,
            "slug": slugify(self.prompt),
            "index": self.index,
            "n": self.n,
            "ext": EXTENSIONS.get(self.fmt, self.fmt),
            "id": self.generation_id or "unknown",
        }


_SAMPLE_FIELDS = NameFields(
    when=datetime(2000, 1, 1), model="flux.2-pro", seed=1, prompt="sample", generation_id="gen-1"
)


def _template_error(template: str, problem: str) -> UsageError:
    valid = " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    return UsageError(
        f"bad output name template {template!r}: {problem}",
        hint=f"valid fields: {valid}; write {{{{ and }}}} for literal braces",
    )


def _check_template(template: str) -> None:
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise _template_error(template, str(exc)) from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            problem = "empty field {}" if not field else f"unknown field {{{field}}}"
            raise _template_error(template, problem)
        if conversion or (spec and ("{" in spec or "}" in spec)):
            raise _template_error(template, f"field {{{field}}} has an unsupported conversion")


def render_name(template: str, fields: NameFields) -> str:
    """Fill in `template` and sanitise the result into one safe file name.

    Fields may carry a format spec (`{index:03}`, `{slug:.20}`). An unknown field, bad braces or
    a spec that does not fit its field is a UsageError naming the problem and the valid fields.
    The extension is not adjusted here; `OutputPlan.name_for` does that."""
    _check_template(template)
    try:
        rendered = template.format_map(fields.values())
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise _template_error(template, str(exc)) from None
    return sanitize_component(rendered)


# --- planning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputPlan:
    """Where a run's images go: stdout (`directory is None`) or `directory` + a name `template`.

    `requested_format` is the format the user's own extension asked for (`-o fox.png` → "png",
    `-o "{seed}.webp"` → "webp"), None when they named none; the caller decides what to do with it
    (e.g. pick it when --format is absent, refuse a conflict)."""

    directory: Path | None
    template: str = DEFAULT_TEMPLATE
    requested_format: str | None = None

    @property
    def to_stdout(self) -> bool:
        return self.directory is None

    def name_for(self, fields: NameFields) -> str:
        """The file name for one image; its extension always matches `fields.fmt`."""
        name = with_format_extension(render_name(self.template, fields), fields.fmt)
        return sanitize_component(name)


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _requested_format(final_component: str) -> str | None:
    _, ext = os.path.splitext(final_component)
    if "{" in ext or "}" in ext:
        return None
    if ext.lower() in _UNWRITABLE_EXTENSIONS:
        raise UsageError(
            f"flux2 writes PNG, JPEG or WebP files, not {ext.lstrip('.').upper()} ({final_component})",
            hint="use a .png, .jpg or .webp name, or pick the format with --format",
        )
    return format_from_extension(final_component)


def plan_outputs(spec: str | None, *, count: int, default_dir: Path) -> OutputPlan:
    """Interpret `-o/--output` for a run of `count` images.

    - None: `default_dir` with DEFAULT_TEMPLATE.
    - `-`: stdout (count must be 1).
    - an existing directory, or a path ending in `/`: that directory with DEFAULT_TEMPLATE.
    - a path whose file name contains `{`: a template in that file name's directory (braces in
      the directory part are refused).
    - any other path: that file; with count > 1, `-{index}` goes before the extension.

    A leading `~` is expanded. Relative paths stay relative (to the working directory). The
    template is checked now, so a bad one fails before anything is paid for. The directory is
    neither created nor probed here: that is `preflight`'s job."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if spec is None:
        return OutputPlan(directory=default_dir)
    if spec == "-":
        if count != 1:
            raise UsageError(
                f"-o - writes a single image to stdout, but {count} were asked for",
                hint="use a directory or a name template such as -o 'out/{seed}-{index}.{ext}'",
            )
        return OutputPlan(directory=None)
    if not spec.strip():
        raise UsageError("the output path is empty")
    if "\x00" in spec:
        raise UsageError("the output path contains a NUL character")
    path = os.path.expanduser(spec)
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        if "{" in path:
            raise UsageError(f"braces are only allowed in the file name, not in {spec!r}")
        return OutputPlan(directory=Path(path))
    head, tail = os.path.split(path)
    if "{" in head:
        raise UsageError(
            f"only the file name can be a template, not the directories in {spec!r}",
            hint="make the directory first, or use a fixed directory with a templated name",
        )
    directory = Path(head) if head else Path(".")
    if tail in (".", ".."):
        return OutputPlan(directory=Path(path))
    requested = _requested_format(tail)
    if "{" in tail:
        template = tail
    else:
        stem, ext = _split_extension(tail)
        template = _escape_braces(stem) + ("-{index}" if count > 1 else "") + _escape_braces(ext)
    render_name(template, replace(_SAMPLE_FIELDS, n=count))  # a bad template fails now
    return OutputPlan(directory=directory, template=template, requested_format=requested)


# --- the file system ----------------------------------------------------------------------------

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
    stem, ext = _split_extension(name)
    for number in range(1, MAX_SUFFIX + 1):
        suffix = f"-{number}{ext}"
        yield _truncate_utf8(stem, MAX_NAME_BYTES - len(suffix.encode())) + suffix


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
    prefix = f".{_truncate_utf8(name, 200)}.{os.getpid()}."
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
