"""Writing files: preflight, atomic no-clobber writes, --force, rescue, stdout, stale temps."""

from __future__ import annotations

import errno
import io
import os
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from flux_cli import atomic_write
from flux_cli.atomic_write import preflight, rescue, write_atomic, write_stdout
from flux_cli.errors import OutputError

PNG = b"\x89PNG\r\n\x1a\n" + b"pretend image bytes"
JPEG = b"\xff\xd8\xff" + b"pretend jpeg bytes"


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory (tmp_path itself holds the isolated home and XDG dirs)."""
    directory = tmp_path / "out"
    directory.mkdir()
    return directory


def temp_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.fixture
def locked_dir(tmp_path: Path) -> Iterator[Path]:
    """A 0500 directory, or a skip where permissions do not stop us (root, CAP_DAC_OVERRIDE);
    the simulated tests below cover the same paths there."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        (locked / "probe").touch()
    except PermissionError:
        yield locked
    else:
        pytest.skip("permissions do not apply to this user (root?); simulated tests cover it")
    finally:
        locked.chmod(0o700)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


# --- preflight ----------------------------------------------------------------------------------


def test_preflight_creates_missing_directories(tmp_path: Path, umask_022: None) -> None:
    target = tmp_path / "a" / "b" / "c"
    preflight(target)
    assert target.is_dir()
    assert mode_of(target) == mode_of(target.parent) == mode_of(tmp_path / "a") == 0o755
    assert list(target.iterdir()) == []


def test_preflight_without_create(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="no such directory"):
        preflight(tmp_path / "missing", create=False)
    preflight(tmp_path, create=False)


def test_preflight_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a directory"):
        preflight(tmp_path / "file")
    with pytest.raises(OutputError, match="Not a directory"):
        preflight(tmp_path / "file" / "sub")


def test_preflight_read_only_directory(locked_dir: Path) -> None:
    with pytest.raises(OutputError, match="Permission denied") as caught:
        preflight(locked_dir)
    assert str(locked_dir) in caught.value.message
    with pytest.raises(OutputError, match="Permission denied"):
        preflight(locked_dir / "sub")


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system")],
)
def test_preflight_unwritable_directory_simulated(
    code: int, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError) as caught:
        preflight(tmp_path)
    assert caught.value.message == f"cannot write to {tmp_path}: {reason}"
    assert caught.value.hint


# --- atomic writes ------------------------------------------------------------------------------


def test_write_atomic_basics(out: Path, umask_022: None) -> None:
    path = write_atomic(out, "fox.png", PNG)
    assert path == out / "fox.png"
    assert path.read_bytes() == PNG
    assert mode_of(path) == 0o644
    assert temp_files(out) == []


def test_write_atomic_follows_the_umask(out: Path) -> None:
    previous = os.umask(0o077)
    try:
        path = write_atomic(out, "fox.png", PNG)
    finally:
        os.umask(previous)
    assert mode_of(path) == 0o600


def test_write_atomic_relative_directory(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(out)
    assert write_atomic(Path("."), "fox.png", PNG) == Path("fox.png")
    assert (out / "fox.png").read_bytes() == PNG


def test_no_clobber_picks_the_next_free_suffix(out: Path) -> None:
    (out / "fox.png").write_bytes(b"precious")
    (out / "fox-2.png").write_bytes(b"precious too")
    first = write_atomic(out, "fox.png", b"one")
    second = write_atomic(out, "fox.png", b"two")
    assert (first.name, second.name) == ("fox-1.png", "fox-3.png")
    assert (out / "fox.png").read_bytes() == b"precious"
    assert (out / "fox-2.png").read_bytes() == b"precious too"
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")
    assert write_atomic(out, "archive.tar.gz", b"a").name == "archive.tar.gz"
    assert write_atomic(out, "archive.tar.gz", b"b").name == "archive.tar-1.gz"
    assert write_atomic(out, "noext", b"a").name == "noext"
    assert write_atomic(out, "noext", b"b").name == "noext-1"
    assert temp_files(out) == []


def test_no_clobber_gives_up_after_the_suffix_limit(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(atomic_write, "MAX_SUFFIX", 3)
    for name in ("fox.png", "fox-1.png", "fox-2.png", "fox-3.png"):
        (out / name).write_bytes(b"taken")
    with pytest.raises(OutputError, match="3 numbered variants exist") as caught:
        write_atomic(out, "fox.png", PNG)
    assert caught.value.hint
    assert "--force" in caught.value.hint
    assert temp_files(out) == []


def test_suffixes_keep_long_names_within_255_bytes(out: Path) -> None:
    name = "é" * 125 + ".png"  # 254 bytes
    assert write_atomic(out, name, b"1").name == name
    second = write_atomic(out, name, b"2")
    assert second.name.endswith("-1.png")
    assert len(second.name.encode()) <= 255
    assert temp_files(out) == []


def test_force_replaces_a_regular_file(out: Path, umask_022: None) -> None:
    target = out / "fox.png"
    target.write_bytes(b"old")
    target.chmod(0o600)
    hard_link = out / "other-name.png"
    os.link(target, hard_link)
    assert write_atomic(out, "fox.png", PNG, force=True) == target
    assert target.read_bytes() == PNG
    assert mode_of(target) == 0o644
    assert hard_link.read_bytes() == b"old"  # replaced, not written through
    assert sorted(p.name for p in out.iterdir()) == ["fox.png", "other-name.png"]


def test_force_to_a_new_name(out: Path) -> None:
    assert write_atomic(out, "fox.png", PNG, force=True).read_bytes() == PNG


@pytest.fixture(params=["symlink", "dangling symlink", "directory", "fifo"])
def occupied(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    target = tmp_path / "out" / "fox.png"
    target.parent.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("do not touch")
    kind: str = request.param
    if kind == "symlink":
        target.symlink_to(victim)
    elif kind == "dangling symlink":
        target.symlink_to(tmp_path / "nowhere.png")
    elif kind == "directory":
        target.mkdir()
    else:
        os.mkfifo(target)
    return target, kind


def test_force_never_replaces_links_directories_or_fifos(occupied: tuple[Path, str]) -> None:
    target, kind = occupied
    before = target.lstat()
    with pytest.raises(OutputError, match="refusing to replace") as caught:
        write_atomic(target.parent, target.name, PNG, force=True)
    assert kind.split()[-1].replace("fifo", "FIFO").replace("symlink", "symbolic link") in str(
        caught.value
    )
    after = target.lstat()
    assert (before.st_ino, before.st_mode) == (after.st_ino, after.st_mode)
    assert (target.parent.parent / "victim.txt").read_text() == "do not touch"
    assert not (target.parent.parent / "nowhere.png").exists()
    assert temp_files(target.parent) == []


def test_no_clobber_steps_around_links_directories_and_fifos(occupied: tuple[Path, str]) -> None:
    target, _ = occupied
    written = write_atomic(target.parent, target.name, PNG)
    assert written.name == "fox-1.png"
    assert written.read_bytes() == PNG
    assert (target.parent.parent / "victim.txt").read_text() == "do not touch"
    assert not (target.parent.parent / "nowhere.png").exists()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x.png", "a\x00b", "x" * 256])
def test_write_atomic_wants_one_component(name: str, out: Path) -> None:
    with pytest.raises(ValueError, match="single safe file name"):
        write_atomic(out, name, PNG)


def test_write_atomic_missing_directory(out: Path) -> None:
    with pytest.raises(OutputError, match="No such file or directory") as caught:
        write_atomic(out / "missing", "fox.png", PNG)
    assert str(out / "missing" / "fox.png") in caught.value.message


def test_disk_full_leaves_nothing_behind(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write
    calls = []

    def fill_up(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", fill_up)
    with pytest.raises(OutputError) as caught:
        write_atomic(out, "fox.png", PNG * 100)
    monkeypatch.undo()
    assert len(calls) == 2  # a partial write, then the failure
    assert caught.value.message == f"cannot write {out / 'fox.png'}: No space left on device"
    assert caught.value.hint
    assert "disk space" in caught.value.hint
    assert list(out.iterdir()) == []


@pytest.mark.parametrize(
    ("function", "code"),
    [
        ("fsync", errno.EIO),
        ("fsync", errno.EDQUOT),
        ("link", errno.EROFS),
        ("link", errno.EACCES),
        ("write", errno.ENOSPC),
        ("open", errno.EACCES),
    ],
)
def test_os_errors_become_output_errors(
    function: str, code: int, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, function, fail)
    with pytest.raises(OutputError, match=os.strerror(code)):
        write_atomic(out, "fox.png", PNG)
    monkeypatch.undo()
    assert list(out.iterdir()) == []


def test_interrupt_during_the_write_removes_the_temp_file(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(out, "fox.png", PNG)
    monkeypatch.undo()
    assert list(out.iterdir()) == []


def test_write_atomic_read_only_directory(locked_dir: Path) -> None:
    with pytest.raises(OutputError, match="Permission denied"):
        write_atomic(locked_dir, "fox.png", PNG)
    assert list(locked_dir.iterdir()) == []


def test_file_systems_without_hard_links(out: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(src: object, dst: object, **options: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)
    (out / "fox.png").write_bytes(b"precious")
    written = write_atomic(out, "fox.png", PNG)
    assert written.name == "fox-1.png"
    assert written.read_bytes() == PNG
    assert (out / "fox.png").read_bytes() == b"precious"
    assert temp_files(out) == []


def test_racing_threads_get_distinct_files(out: Path) -> None:
    barrier = threading.Barrier(12)
    results: list[Path] = []
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        payload = f"writer {number} ".encode() * 1000
        barrier.wait()
        try:
            results.append(write_atomic(out, "fox.png", payload))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 12
    contents = {path.read_bytes() for path in results}
    assert contents == {f"writer {n} ".encode() * 1000 for n in range(12)}
    assert temp_files(out) == []


RACER = """
import sys, time
from pathlib import Path
from flux_cli.atomic_write import write_atomic
directory, me, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
while time.time() < start:
    pass
for i in range(15):
    print(write_atomic(directory, "fox.png", f"{me}:{i}".encode() * 500).name)
"""


def test_racing_processes_get_distinct_files(out: Path) -> None:
    import time

    start = time.time() + 1.0
    root = str(Path(atomic_write.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": root}
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(out), str(n), str(start)],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for n in range(3)
    ]
    names = []
    for racer in racers:
        printed, _ = racer.communicate(timeout=30)
        assert racer.returncode == 0
        names += printed.split()
    assert len(names) == len(set(names)) == 45
    contents = {(out / name).read_bytes() for name in names}
    assert contents == {f"{n}:{i}".encode() * 500 for n in range(3) for i in range(15)}
    assert temp_files(out) == []


# --- rescue -------------------------------------------------------------------------------------


def test_rescue_keeps_the_bytes_privately(isolated_environment: Path) -> None:
    path = rescue(PNG, name_hint="fox.jpg", now=lambda: datetime(2026, 3, 4, 5, 6, 7))
    assert path.parent == isolated_environment / "state" / "rescue"
    assert path.read_bytes() == PNG
    assert mode_of(path.parent) == 0o700
    assert mode_of(path) == 0o600
    assert path.name.startswith("20260304-050607-")
    assert path.name.endswith("-fox.png")  # the extension follows the bytes
    assert temp_files(path.parent) == []


@pytest.mark.parametrize(
    ("data", "hint", "ending"),
    [
        (b"<html>nope</html>", "fox.png", "-fox.png.bin"),
        (b"garbage", "fox.bin", "-fox.bin"),
        (JPEG, "../../fox", "-_._fox.jpg"),
        (PNG, "", "-image.png"),
    ],
)
def test_rescue_names(data: bytes, hint: str, ending: str) -> None:
    path = rescue(data, name_hint=hint)
    assert path.name.endswith(ending)
    assert path.parent.name == "rescue"


def test_rescues_never_collide() -> None:
    fixed = lambda: datetime(2026, 1, 1)  # noqa: E731
    paths = {rescue(PNG, name_hint="fox.png", now=fixed) for _ in range(20)}
    assert len(paths) == 20


def test_rescue_tightens_an_existing_directory(isolated_environment: Path) -> None:
    directory = isolated_environment / "state" / "rescue"
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    rescue(PNG, name_hint="fox.png")
    assert mode_of(directory) == 0o700


def test_rescue_failure_is_an_output_error(isolated_environment: Path) -> None:
    (isolated_environment / "state").write_text("not a directory")
    with pytest.raises(OutputError, match="rescue directory"):
        rescue(PNG, name_hint="fox.png")


# --- stdout -------------------------------------------------------------------------------------


def test_write_stdout() -> None:
    stream = io.BytesIO()
    write_stdout(PNG, stream)
    assert stream.getvalue() == PNG


class FailingStream(io.BytesIO):
    def __init__(self, exc: Exception) -> None:
        super().__init__()
        self.exc = exc

    def write(self, data: object) -> int:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), "the reader went away"),
        (OSError(errno.ENOSPC, "No space left on device"), "stdout: No space left on device"),
        (OSError(errno.EIO, "Input/output error"), "stdout: Input/output error"),
        (ValueError("I/O operation on closed file."), "it is closed"),
    ],
)
def test_write_stdout_failures(exc: Exception, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        write_stdout(PNG, FailingStream(exc))


def test_write_stdout_to_a_closed_pipe() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "wb") as stream, pytest.raises(OutputError, match="went away"):
        write_stdout(PNG * 10_000, stream)


def test_write_stdout_waits_on_a_non_blocking_pipe() -> None:
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    payload = os.urandom(1 << 20)  # far more than a pipe buffer holds
    received = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    with open(write_end, "wb") as stream:
        write_stdout(payload, stream)
    reader.join()
    os.close(read_end)
    assert bytes(received) == payload


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_write_stdout_to_dev_full() -> None:
    with open("/dev/full", "wb") as stream, pytest.raises(OutputError, match="No space left"):
        write_stdout(PNG, stream)


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    return int(child.stdout)


def test_stale_temp_files_of_killed_writers_are_swept_and_nothing_else(tmp_path: Path) -> None:
    """`kill -9` while an image was synced on the named-temp path (--force, or no O_TMPFILE)
    leaves `.NAME.PID.HEX.tmp`; the next write in that directory removes it, and only it."""
    import time

    dead = tmp_path / f".fox.jpg.{_dead_pid()}.0123456789ab.tmp"
    alive = tmp_path / f".fox.jpg.{os.getpid()}.0123456789ab.tmp"  # a write going on right now
    old_form = tmp_path / ".fox.jpg.a1b2c3d4e5f6.tmp"  # from before the pid was in the name
    old_form_recent = tmp_path / ".cat.jpg.a1b2c3d4e5f6.tmp"
    not_ours = [tmp_path / ".fox.jpg.tmp", tmp_path / "notes.0123456789ab.tmp", tmp_path / "a.jpg"]
    for path in [dead, alive, old_form, old_form_recent, *not_ours]:
        path.write_bytes(b"partial")
    day_ago = time.time() - atomic_write.STALE_TEMP_SECONDS - 60
    os.utime(old_form, (day_ago, day_ago))
    link = tmp_path / f".link.jpg.{_dead_pid()}.0123456789ab.tmp"
    link.symlink_to(tmp_path / "a.jpg")  # a symlink is never ours to remove

    written = atomic_write.write_atomic(tmp_path, "new.jpg", b"image", force=True)

    assert written.read_bytes() == b"image"
    assert not dead.exists()
    assert not old_form.exists()
    for kept in [alive, old_form_recent, *not_ours]:
        assert kept.read_bytes() == b"partial", kept
    assert link.is_symlink()
