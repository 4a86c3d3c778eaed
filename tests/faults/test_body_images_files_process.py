"""Fault matrix items 38-76 (docs/reliability.md#faults): response body, image bytes, filesystem, process.

Every case names its item, the fault, the exit code (README.md#exit-codes), how many paid requests the
server saw, the files left behind (never a partial one, never a `.tmp`), the ledger row's status
and that the canary key is nowhere. Cases the sandbox can serve run `flux2` as a subprocess
against it; bodies it cannot produce go through an `httpx.MockTransport` that answers the paid
route in-process (catalog requests still go to the sandbox); signals and pipes are always real
subprocesses.
"""

from __future__ import annotations

import base64
import errno
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

from flux_cli.errors import Interrupted
from flux_cli.ledger import Ledger
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import flux2_command

pytestmark = pytest.mark.e2e

PAID = ("/images", "/chat/completions")

# -- helpers -----------------------------------------------------------------------------------


def _png(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30) if mode == "RGB" else 0).save(buf, "PNG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _handmade_png(width: int, height: int) -> bytes:
    """A valid all-zero 1-bit PNG built row by row (tests/test_images.py), any header size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(max(height, 1))) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _bad_crc_png() -> bytes:
    data = bytearray(_png())
    at = data.index(b"IDAT") + 4 + 10
    data[at] ^= 0xFF
    return bytes(data)


def _encode(fmt: str, **kw: Any) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (0, 90, 200)).save(buf, fmt, **kw)
    return buf.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 255, 0))]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _images_body(b64: str | None, *, media: str | None = "image/png", **top: Any) -> Any:
    item: dict[str, Any] = {"b64_json": b64}
    if media is not None:
        item["media_type"] = media
    return {"created": 1, "data": [item], "usage": {"cost": 0.03}, **top}


@dataclass
class Outcome:
    code: int
    stdout: bytes
    stderr: str
    paid: int  # paid requests the server (sandbox or mock) saw


@dataclass
class World:
    """One hermetic run: a sandbox, a work dir, and the per-test state dirs from tests/conftest."""

    sandbox: Sandbox
    work: Path
    root: Path
    mock_paid: list[httpx.Request] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.root / "state"

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["FLUX2_BASE_URL"] = self.sandbox.base_url
        env["OPENROUTER_API_KEY"] = CANARY_KEY
        env.update(extra)
        return env

    def paid(self) -> int:
        return sum(1 for r in self.sandbox.requests if r.path.endswith(PAID)) + len(self.mock_paid)

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 30, stdin: bytes = b""
    ) -> Outcome:
        p = subprocess.run(
            [*flux2_command(), *args],
            cwd=self.work,
            input=stdin,
            capture_output=True,
            env=env or self.env(),
            timeout=timeout,
            check=False,
        )
        return Outcome(p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), self.paid())

    def run_inprocess(
        self,
        monkeypatch: pytest.MonkeyPatch,
        *args: str,
        answer: Callable[[httpx.Request], httpx.Response] | None = None,
    ) -> Outcome:
        """`flux2` in this process (CliRunner); `answer` replaces the paid route's server."""
        from flux_cli.cli.registry import app
        from flux_cli.openrouter import client as client_module

        monkeypatch.chdir(self.work)
        monkeypatch.setenv("FLUX2_BASE_URL", self.sandbox.base_url)
        monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
        if answer is not None:
            real = httpx.HTTPTransport()

            def route(request: httpx.Request) -> httpx.Response:
                if request.url.path.endswith(PAID):
                    self.mock_paid.append(request)
                    return answer(request)
                return real.handle_request(request)

            original = client_module.OpenRouterClient

            def with_transport(*a: Any, **kw: Any) -> Any:
                kw.setdefault("transport", httpx.MockTransport(route))
                return original(*a, **kw)

            # generate, edit and batches make their client through `App.make_client`, which
            # takes the class from its module when it is called.
            monkeypatch.setattr(client_module, "OpenRouterClient", with_transport)
        try:
            result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        except Interrupted as exc:  # flux_cli.cli.main.run turns this into 128 + signum
            return Outcome(128 + exc.signum, b"", "", self.paid())
        return Outcome(result.exit_code, result.stdout_bytes, result.stderr, self.paid())

    def rows(self) -> list[Any]:
        with Ledger.open() as ledger:
            return ledger.rows(self.sandbox.base_url)

    def files(self, where: Path | None = None) -> list[str]:
        base = where or self.work
        return sorted(str(p.relative_to(base)) for p in base.rglob("*") if p.is_file())

    def rescued(self) -> list[Path]:
        d = self.state / "rescue"
        return sorted(d.iterdir()) if d.is_dir() else []


@pytest.fixture
def world(isolated_environment: Path) -> Iterator[World]:
    work = isolated_environment / "work"
    work.mkdir()
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield World(sb, work, isolated_environment)


def check(
    world: World,
    out: Outcome,
    *,
    code: int,
    paid: int,
    files: list[str] | None = None,
    ledger: list[str] | None = None,
    rescued: int | None = None,
) -> None:
    """The common assertions of every case."""
    assert out.code == code, out.stderr
    assert out.paid == paid
    assert "Traceback" not in out.stderr, out.stderr
    if files is not None:
        assert world.files() == files
    leftovers = [p for p in world.root.rglob("*.tmp") if ".stale." not in p.name]
    assert leftovers == []
    if ledger is not None:
        assert sorted(r.status for r in world.rows()) == sorted(ledger)
    if rescued is not None:
        assert len(world.rescued()) == rescued
    assert_no_canary(world, out)


def assert_no_canary(world: World, out: Outcome) -> None:
    key = CANARY_KEY.encode()
    assert key not in out.stdout
    assert CANARY_KEY not in out.stderr
    for path in world.root.rglob("*"):
        if path.is_file():
            assert key[9:] not in path.read_bytes(), path


def _wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _json(obj: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(obj).encode(), headers=_JSON)


_JSON = {"content-type": "application/json"}

# == Response body (38-46) ======================================================================


@dataclass(frozen=True)
class BodyCase:
    fault: Fault | None = None  # served by the sandbox
    answer: Callable[[httpx.Request], httpx.Response] | None = None  # served by a MockTransport
    args: tuple[str, ...] = ("-o", "fox.png")
    code: int = 10
    paid: int = 1
    files: tuple[str, ...] = ()
    ledger: tuple[str, ...] = ("failed",)
    check_cost: bool = False  # the ledger row's charge is a finite, sane number


def _raw(body: bytes, ctype: str = "application/json") -> Callable[[httpx.Request], httpx.Response]:
    return lambda _r: httpx.Response(200, content=body, headers={"content-type": ctype})


def _body(obj: Any) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _r: _json(obj)


PORTAL = b"<html><head><title>Hotel WiFi</title></head><body>Log in to continue</body></html>"
GOOD = _b64(_png())

BODY_CASES = [
    pytest.param(
        BodyCase(answer=_raw(PORTAL, "text/html"), ledger=("unknown",)),
        id="38-html-captive-portal-200",
    ),
    pytest.param(
        BodyCase(answer=_raw(PORTAL, "application/json"), ledger=("unknown",)),
        id="38-html-labelled-json",
    ),
    pytest.param(
        BodyCase(fault=Fault(kind="error-in-200"), ledger=("unknown",)), id="39-error-object-in-200"
    ),
    pytest.param(BodyCase(fault=Fault(kind="empty-data")), id="40-data-empty-list"),
    pytest.param(
        BodyCase(answer=_body({"created": 1, "usage": {"cost": 0.03}})), id="40-data-missing"
    ),
    pytest.param(BodyCase(answer=_body(_images_body(None))), id="40-b64-json-null"),
    pytest.param(BodyCase(answer=_body(_images_body(""))), id="40-b64-json-empty"),
    pytest.param(BodyCase(fault=Fault(kind="corrupt-base64")), id="41-base64-junk-chars"),
    pytest.param(
        BodyCase(answer=_body(_images_body(GOOD[:40] + "\n" + GOOD[40:]))), id="41-base64-newlines"
    ),
    pytest.param(
        BodyCase(answer=_body(_images_body(base64.urlsafe_b64encode(_png((64, 64))).decode()))),
        id="41-base64-url-safe-alphabet",
    ),
    pytest.param(
        BodyCase(answer=_body(_images_body(GOOD.rstrip("=") + "="))), id="41-base64-bad-padding"
    ),
    # 42 has its own test below (memory is measured).
    pytest.param(
        # NaN is not JSON, but it spoils only the charge: the paid image is kept, the estimate
        # is counted, and exit 10 says the charge was not believed
        BodyCase(
            answer=_raw(json.dumps(_images_body(GOOD)).replace("0.03", "NaN").encode()),
            code=10,
            files=("fox.png",),
            ledger=("ok",),
            check_cost=True,
        ),
        id="43-cost-nan",
    ),
    pytest.param(
        # so is inf
        BodyCase(
            answer=_raw(json.dumps(_images_body(GOOD)).replace("0.03", "1e999").encode()),
            code=10,
            files=("fox.png",),
            ledger=("ok",),
            check_cost=True,
        ),
        id="43-cost-1e999",
    ),
    pytest.param(
        BodyCase(
            answer=_raw(
                json.dumps(_images_body(GOOD))
                .replace('"created": 1', '"created": ' + "9" * 5000)
                .encode()
            ),
            ledger=("unknown",),
            check_cost=True,
        ),
        id="43-created-5000-digits",
    ),
    pytest.param(
        BodyCase(fault=Fault(kind="lying-media-type"), args=("-o", "out/"), code=0, ledger=("ok",)),
        id="44-media-type-lies-png-for-jpeg",
    ),
    pytest.param(
        BodyCase(
            fault=Fault(kind="missing-media-type"), args=("-o", "out/"), code=0, ledger=("ok",)
        ),
        id="44-media-type-missing",
    ),
    pytest.param(
        BodyCase(
            answer=_body(
                _images_body(
                    _b64(b'<svg xmlns="http://www.w3.org/2000/svg"/>'), media="image/svg+xml"
                )
            )
        ),
        id="45-svg-media-type-refused",
    ),
    pytest.param(
        BodyCase(
            fault=Fault(kind="empty-data"),
            args=("-n", "2", "-o", "fox.png"),
            code=3,
            paid=2,
            files=("fox-?.png",),
            ledger=("ok", "failed"),
        ),
        id="46-fewer-images-than-n",
    ),
]


@pytest.mark.parametrize("case", BODY_CASES)
def test_response_body(case: BodyCase, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    if case.fault is not None:
        world.sandbox.push_fault("images", case.fault)
        out = world.run("generate", "a red fox", *case.args)
    else:
        out = world.run_inprocess(
            monkeypatch, "generate", "a red fox", *case.args, answer=case.answer
        )
    files = list(case.files)
    if case.args[-1] == "out/" and case.code == 0:
        (written,) = world.files(world.work / "out")
        files = [f"out/{written}"]
        with Image.open(world.work / files[0]) as im:
            fmt = im.format
        assert Path(written).suffix == {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}[str(fmt)]
    if files == ["fox-?.png"]:  # which of the parallel requests got the empty answer varies
        (one,) = world.files()
        files = [one] if one in ("fox-1.png", "fox-2.png") else files
    check(world, out, code=case.code, paid=case.paid, files=files, ledger=list(case.ledger))
    if case.check_cost:
        (row,) = world.rows()
        assert row.charged_micros is None  # never NaN/inf: the estimate counts instead
        assert row.counted_micros == row.estimate_micros > 0
        with Ledger.open() as ledger:
            ledger.spent(world.sandbox.base_url)  # spend accounting still answers


def test_42_body_over_cap_is_aborted_while_streaming(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """42: 200 MB of junk after a 200 → aborted at the 32 MiB cap, memory bounded, exit 9
    (a 200 was sent: the image may have been made and billed, so no retry)."""
    sent = [0]
    mib = b"A" * (1 << 20)

    def junk() -> Iterator[bytes]:
        for _ in range(200):
            sent[0] += 1
            yield mib

    def answer(_r: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=_JSON, content=junk())

    tracemalloc.start()
    try:
        out = world.run_inprocess(
            monkeypatch, "generate", "a red fox", "-o", "fox.png", answer=answer
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check(world, out, code=9, paid=1, files=[], ledger=["unknown"])
    assert sent[0] <= 40  # stopped reading soon after the cap
    assert peak < 32 * 2**20 * 3  # the cap (chunks + one join) plus a small overhead


# == Image bytes (47-53) ========================================================================


IMAGE_CASES = [
    pytest.param(_png()[:-40], 10, id="47-truncated-png"),
    pytest.param(_bad_crc_png(), 10, id="48-png-bad-idat-crc"),
    pytest.param(_handmade_png(30000, 30000), 10, id="49-30000x30000-png-bomb"),
    pytest.param(_handmade_png(0, 16), 10, id="50-width-zero"),
    pytest.param(_handmade_png(16, 0), 10, id="50-height-zero"),
    pytest.param(_encode("GIF"), 10, id="51-gif-bytes"),
    pytest.param(_encode("TIFF"), 10, id="51-tiff-bytes"),
    pytest.param(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", 10, id="51-pdf-bytes"),
    pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 10, id="51-eps-bytes"),
    pytest.param(_png() + os.urandom(3 * 2**20), 0, id="52-trailing-bytes-after-iend"),
    pytest.param(_animated("WEBP"), 10, id="53-animated-webp"),
    pytest.param(_animated("PNG"), 10, id="53-apng"),
]


@pytest.mark.parametrize(("data", "code"), IMAGE_CASES)
def test_image_bytes(data: bytes, code: int, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    body = _images_body(_b64(data))
    out = world.run_inprocess(
        monkeypatch, "generate", "a red fox", "-o", "fox.png", answer=_body(body)
    )
    if code == 0:  # policy: bytes after IEND are dropped, what is written is what was checked
        check(world, out, code=0, paid=1, files=["fox.png"], ledger=["ok"], rescued=0)
        written = (world.work / "fox.png").read_bytes()
        assert written.endswith(b"IEND\xaeB`\x82")
        assert len(written) < len(data) - 2**20
    else:  # refused; nothing at the final path; the paid raw bytes rescued (0600)
        check(world, out, code=code, paid=1, files=[], ledger=["failed"], rescued=1)
        (kept,) = world.rescued()
        assert kept.read_bytes() == data
        assert kept.stat().st_mode & 0o777 == 0o600


# == Filesystem (54-64) =========================================================================


def _fifo(p: Path) -> None:
    os.mkfifo(p)


FS_CASES = [
    # (setup, args, code, paid, files expected after, ledger, rescued)
    pytest.param(
        lambda w: (w / "fox.png").write_bytes(b"old"),
        ("-o", "fox.png"),
        0,
        1,
        ["fox-1.png", "fox.png"],
        ["ok"],
        0,
        id="54-target-exists-gets-suffix",
    ),
    pytest.param(
        lambda w: (w / "fox.png").write_bytes(b"old"),
        ("-o", "fox.png", "--force"),
        0,
        1,
        ["fox.png"],
        ["ok"],
        0,
        id="54-target-exists-force-replaces",
    ),
    pytest.param(
        lambda w: None,
        ("-o", "new/deeper/fox.png"),
        0,
        1,
        ["new/deeper/fox.png"],
        ["ok"],
        0,
        id="55-output-dir-missing-created",
    ),
    pytest.param(
        lambda w: (w / "plain").write_bytes(b"x"),
        ("-o", "plain/sub/fox.png"),
        2,  # a bad -o, found before sending: 11 means a paid image could not be written
        0,
        ["plain"],
        [],
        0,
        id="56-output-dir-unwritable-preflight",
    ),
    pytest.param(
        lambda w: (w / "fox.png").symlink_to(w.parent / "secret"),
        ("-o", "fox.png"),
        0,
        1,
        ["fox-1.png"],
        ["ok"],
        0,
        id="59-symlink-dangling-not-followed",
    ),
    pytest.param(
        lambda w: (
            (w.parent / "secret").write_bytes(b"root:x:0:0"),
            (w / "fox.png").symlink_to(w.parent / "secret"),
        ),
        ("-o", "fox.png", "--force"),
        11,
        1,
        [],
        ["ok"],
        1,
        id="59-symlink-force-refused",
    ),
    pytest.param(
        lambda w: _fifo(w / "fox.png"),
        ("-o", "fox.png"),
        0,
        1,
        ["fox-1.png"],
        ["ok"],
        0,
        id="60-fifo-target-suffix-no-hang",
    ),
    pytest.param(
        lambda w: _fifo(w / "fox.png"),
        ("-o", "fox.png", "--force"),
        11,
        1,
        [],
        ["ok"],
        1,
        id="60-fifo-target-force-refused",
    ),
    pytest.param(
        lambda w: (w / "fox.png").mkdir(),
        ("-o", "fox.png/", "--force"),
        0,
        1,
        None,
        ["ok"],
        0,
        id="60-directory-target-is-a-directory",
    ),
    pytest.param(
        lambda w: (w / "out").mkdir(),
        ("-o", "out/{slug}-{model}.{ext}"),
        0,
        1,
        None,
        ["ok"],
        0,
        id="61-hostile-name-sanitised",
    ),
    pytest.param(
        lambda w: (w / ".fox.png.stale.tmp").write_bytes(b"half"),
        ("-o", "fox.png"),
        0,
        1,
        ["fox.png"],
        ["ok"],
        0,
        id="63-stale-tmp-never-published",
    ),
]

HOSTILE = "../../etc/passwd\tCON \u202egnp.exe " + "é" * 200


@pytest.mark.parametrize(("setup", "args", "code", "paid", "files", "ledger", "rescued"), FS_CASES)
def test_filesystem(
    setup: Callable[[Path], object],
    args: tuple[str, ...],
    code: int,
    paid: int,
    files: list[str] | None,
    ledger: list[str],
    rescued: int,
    world: World,
) -> None:
    setup(world.work)
    prompt = HOSTILE if "{slug}" in args[1] else "a red fox"
    out = world.run("generate", prompt, *args, timeout=20)  # a FIFO must never block: timeout
    check(world, out, code=code, paid=paid, ledger=ledger, rescued=rescued)
    present = sorted(
        str(p.relative_to(world.work))
        for p in world.work.rglob("*")
        if p.is_file() and not p.is_symlink() and ".stale." not in p.name
    )
    if files is not None:
        assert present == files
    for line in out.stdout.decode().splitlines():
        path = (world.work / line).resolve()
        assert path.is_relative_to(world.work.resolve())
        assert len(path.name.encode()) <= 255
        with Image.open(path) as im:
            im.load()
    if "{slug}" in args[1]:
        (name,) = os.listdir(world.work / "out")
        assert "/" not in name
        assert "\t" not in name
        assert "\u202e" not in name
        assert not name.startswith(".")
    if "secret" in str(setup.__code__.co_consts) or (world.work.parent / "secret").exists():
        secret = world.work.parent / "secret"
        assert not secret.exists() or secret.read_bytes() == b"root:x:0:0"
    if (world.work / ".fox.png.stale.tmp").exists():
        # Never published; flux2 does not sweep others' temp files (it cannot tell a crashed run's
        # from a live one's), so the stale file is left exactly as it was.
        assert (world.work / ".fox.png.stale.tmp").read_bytes() == b"half"
        assert (world.work / "fox.png").read_bytes() != b"half"


@pytest.mark.parametrize(
    "err",
    [errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS],
    ids=["57-enospc", "58-edquot", "58-eio", "58-erofs"],
)
def test_write_errors_leave_nothing_partial(
    err: int, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """57/58: the disk fails mid-write (os.write mocked in-process, after the preflight) →
    exit 11 naming the path, no final file, no temp, the paid bytes rescued."""
    from flux_cli import atomic_write

    real_write = atomic_write.write_all
    rescue = str(world.state / "rescue")

    def failing(fd: int, data: bytes, **kw: Any) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(rescue):
            return real_write(fd, data, **kw)
        os.write(fd, data[: len(data) // 2])
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(atomic_write, "write_all", failing)
    out = world.run_inprocess(monkeypatch, "generate", "a red fox", "-o", "fox.png")
    # The call was billed and is "ok" in the ledger; only the file failed (and was rescued).
    check(world, out, code=11, paid=1, files=[], ledger=["ok"], rescued=1)
    assert "fox.png" in out.stderr
    assert os.strerror(err) in out.stderr


def test_62_two_processes_race_for_one_name(world: World) -> None:
    procs = [
        subprocess.Popen(
            [*flux2_command(), "generate", "a red fox", "-o", "fox.png"],
            cwd=world.work,
            env=world.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=30) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e for _, e in outs]
    assert sorted(o.decode().strip().rsplit("/", 1)[-1] for o, _ in outs) == [
        "fox-1.png",
        "fox.png",
    ]
    check(
        world,
        Outcome(0, b"".join(o for o, _ in outs), "", world.paid()),
        code=0,
        paid=2,
        files=["fox-1.png", "fox.png"],
        ledger=["ok", "ok"],
    )


_KILL_BETWEEN = """
import os, signal, sys
from pathlib import Path
from flux_cli import atomic_write
real = atomic_write.os.link
def link(a, b, **options):
    if sys.argv[2] == "after":
        real(a, b, **options)
    os.kill(os.getpid(), signal.SIGKILL)
atomic_write.os.link = link
atomic_write.write_atomic(Path(sys.argv[1]), "fox.png", bytes(range(256)) * 4096)
"""


@pytest.mark.parametrize(
    "when", ["before", "after"], ids=["64-sigkill-before-link", "64-sigkill-after-link"]
)
def test_64_sigkill_between_write_and_link(when: str, world: World) -> None:
    """64: a real SIGKILL between fsync and link (or right after it): the final path is absent
    or complete — never partial. 0 requests: this is the writer alone."""
    p = subprocess.run(
        [sys.executable, "-c", _KILL_BETWEEN, str(world.work), when], timeout=30, check=False
    )
    assert p.returncode == -signal.SIGKILL
    final = world.work / "fox.png"
    if when == "before":
        assert not final.exists()
    else:
        assert final.read_bytes() == bytes(range(256)) * 4096
    # Nothing else is left: the data went to an unnamed file (Linux's O_TMPFILE), which the
    # kernel frees with the process; elsewhere a complete temp file may stay, never published.
    if sys.platform == "linux":
        assert [p.name for p in world.work.iterdir()] == (["fox.png"] if when == "after" else [])
    assert world.paid() == 0


# == Process, signals, environment (65-76) ======================================================


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
    ids=["65-sigint-waiting-for-response", "67-sigterm-from-timeout-in-cron"],
)
def test_signal_during_request(sig: int, code: int, world: World) -> None:
    world.sandbox.push_fault("images", Fault(kind="slow", delay=6))
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a red fox", "-o", "fox.png"],
        cwd=world.work,
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(
        lambda: (
            any(r.status == "pending" for r in world.rows())
            if (world.root / "data").exists()
            else False
        )
    )
    # The POST is out and the sandbox sits on it.
    _wait_for(lambda: any(r.path.endswith("/images") for r in world.sandbox.requests))
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=15)
    out = Outcome(proc.returncode, stdout, stderr.decode("utf-8", "replace"), world.paid())
    check(world, out, code=code, paid=1, files=[], ledger=["unknown"])
    assert "billed" in out.stderr


def test_66_sigint_during_the_write(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """66: Ctrl-C while the file is being written (in-process: the write raises
    KeyboardInterrupt) → exit 130, temp removed, no final file, the paid bytes rescued."""
    from flux_cli import atomic_write

    real_write = atomic_write.write_all
    rescue = str(world.state / "rescue")

    def interrupted(fd: int, data: bytes, **kw: Any) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(rescue):
            return real_write(fd, data, **kw)
        os.write(fd, data[:100])
        raise Interrupted(signal.SIGINT)  # what flux2's SIGINT handler raises

    monkeypatch.setattr(atomic_write, "write_all", interrupted)
    out = world.run_inprocess(monkeypatch, "generate", "a red fox", "-o", "fox.png")
    check(world, out, code=130, paid=1, files=[])  # exit 130, no final file, no temp left
    # The answer had arrived: the row should say "ok" (billed) and the bytes be rescued.
    check(world, out, code=130, paid=1, files=[], ledger=["ok"], rescued=1)


def _sh(world: World, script: str, env: dict[str, str] | None = None) -> Outcome:
    p = subprocess.run(
        ["bash", "-c", script],
        cwd=world.work,
        env=env or world.env(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    return Outcome(p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"), world.paid())


FLUX = " ".join(flux2_command())


def test_68_stdout_reader_goes_away(world: World) -> None:
    """68: `| head -c0` → no traceback; the work's exit code (0) is kept, the image stays."""
    out = _sh(world, f"{FLUX} generate 'a red fox' -o fox.png | head -c0; exit ${{PIPESTATUS[0]}}")
    check(world, out, code=0, paid=1, files=["fox.png"], ledger=["ok"])


def test_68_image_bytes_to_a_reader_that_went_away(world: World) -> None:
    """68 with `-o -`: writing the image *is* the work → exit 11, the bytes rescued."""
    out = _sh(world, f"{FLUX} generate 'a red fox' -o - | head -c0; exit ${{PIPESTATUS[0]}}")
    check(world, out, code=11, paid=1, files=[], rescued=1)


@pytest.mark.parametrize(
    ("args", "code", "files"),
    [
        (("-o", "-"), 11, []),
        (("-o", "fox.png"), 11, ["fox.png"]),
    ],
    ids=["69-dev-full-image-bytes", "69-dev-full-path-lines"],
)
def test_69_stdout_is_dev_full(
    args: tuple[str, ...], code: int, files: list[str], world: World
) -> None:
    a = " ".join(args)
    out = _sh(world, f"{FLUX} generate 'a red fox' {a} >/dev/full")
    check(world, out, code=code, paid=1, files=files)
    assert "stdout" in out.stderr


@pytest.mark.parametrize(
    ("redirect", "prompt", "code", "paid"),
    [
        ("0<&-", "'a red fox'", 0, 1),
        ("</dev/null", "'a red fox'", 0, 1),
        ("0<&-", "", 2, 0),
        ("</dev/null", "", 2, 0),
    ],
    ids=[
        "70-stdin-closed",
        "70-stdin-dev-null",
        "70-stdin-closed-no-prompt",
        "70-stdin-dev-null-no-prompt",
    ],
)
def test_70_stdin(redirect: str, prompt: str, code: int, paid: int, world: World) -> None:
    out = _sh(world, f"{FLUX} generate {prompt} -o fox.png {redirect}")
    check(world, out, code=code, paid=paid, files=["fox.png"] if code == 0 else [])


def test_71_no_tty_no_colour(world: World) -> None:
    """71: non-TTY, NO_COLOR=1, TERM=dumb → no ANSI anywhere; stdout holds only the path.
    (flux2 has no --print0: a path line is sanitised to one safe name, so it holds no newline.)"""
    out = world.run(
        "generate", "a red fox", "-o", "fox.png", env=world.env(NO_COLOR="1", TERM="dumb")
    )
    check(world, out, code=0, paid=1, files=["fox.png"], ledger=["ok"])
    assert b"\x1b[" not in out.stdout
    assert "\x1b[" not in out.stderr
    assert (
        out.stdout.decode().splitlines() == [str(world.work / "fox.png")]
        or out.stdout == b"fox.png\n"
    )


def test_72_c_locale_emoji_prompt(world: World) -> None:
    env = world.env(LC_ALL="C", LANG="C")
    env.pop("PYTHONIOENCODING", None)
    out = world.run("generate", "a red fox 🦊 in snow ❄", "-o", "fox.png", env=env)
    check(world, out, code=0, paid=1, files=["fox.png"], ledger=["ok"])
    assert "UnicodeEncodeError" not in out.stderr


def test_73_home_unset(world: World) -> None:
    """73: HOME unset (cron); the dirs come from FLUX2_*_DIR → works."""
    env = world.env()
    del env["HOME"]
    out = world.run("generate", "a red fox", "-o", "fox.png", env=env)
    check(world, out, code=0, paid=1, files=["fox.png"], ledger=["ok"])


def test_73_env_i_nothing_set(world: World) -> None:
    """73 with `env -i`: no HOME, no XDG, no key → exit 4 (no key) at once, nothing sent,
    nothing written outside the work dir."""
    out = _sh(world, f"env -i PATH=/usr/bin:/bin {FLUX} generate 'a red fox' -o fox.png")
    check(world, out, code=4, paid=0, files=[])


def test_74_clock_off_by_an_hour_retry_after_date_is_bounded() -> None:
    """74: the server's Retry-After is an HTTP date; with the local clock 1 h fast the date lies
    in the past (→ a short, bounded wait), 1 h slow it lies 1 h ahead (→ over the 120 s cap:
    exit 8 at once, one request, no hour-long sleep)."""
    from flux_cli.credentials import ApiKey
    from flux_cli.openrouter import errors as E
    from flux_cli.openrouter.client import OpenRouterClient
    from flux_cli.openrouter.wire import ImageRequest

    def attempt(skew: float) -> tuple[int, int, list[float]]:
        calls: list[int] = []
        slept: list[float] = []

        def answer(_r: httpx.Request) -> httpx.Response:
            calls.append(1)
            if len(calls) == 1:
                return httpx.Response(
                    429,
                    headers={"retry-after": formatdate(time.time() + 5, usegmt=True)},
                    json={"error": {"code": 429, "message": "slow down"}},
                )
            return _json(_images_body(GOOD))

        def skewed() -> float:
            return time.time() + skew

        client = OpenRouterClient(
            "http://127.0.0.1:9/api/v1",
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(answer),
            sleep=slept.append,
            wall_clock=skewed,
        )
        with client:
            try:
                client.generate(ImageRequest(model="black-forest-labs/flux.2-pro", prompt="fox"))
            except E.OpenRouterError as exc:
                return int(exc.exit_code), len(calls), slept
        return 0, len(calls), slept

    fast = attempt(3600.0)  # the date is in the past: a short wait, then success
    assert fast[:2] == (0, 2)
    assert all(0 <= s <= 120 for s in fast[2])
    slow = attempt(-3600.0)  # the date is an hour ahead: over the cap, exit 8 at once
    assert slow == (8, 1, [])


def test_75_overlapping_cron_runs(world: World) -> None:
    """75: a second run with the same --lock exits 8 at once and sends nothing."""
    world.sandbox.push_fault("images", Fault(kind="slow", delay=3))
    first = subprocess.Popen(
        [*flux2_command(), "generate", "a red fox", "-o", "a.png", "--lock", "nightly"],
        cwd=world.work,
        env=world.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _wait_for(lambda: world.paid() == 1)
    second = world.run("generate", "a red fox", "-o", "b.png", "--lock", "nightly", timeout=10)
    assert second.code == 8, second.stderr
    assert second.paid == 1
    stdout, stderr = first.communicate(timeout=30)
    check(
        world,
        Outcome(
            first.returncode, stdout + second.stdout, stderr.decode() + second.stderr, world.paid()
        ),
        code=0,
        paid=1,
        files=["a.png"],
        ledger=["ok"],
    )


def test_76_keyring_backend_hangs_is_not_applicable(world: World) -> None:
    """76: not applicable — flux2 has no keyring (README "The API key"): the key comes from the
    env, a 0600 key file or the config, so no keyring backend can hang a cron run. Asserted:
    `auth status` never imports a keyring module and returns promptly."""
    script = (
        "import sys, runpy; sys.argv = ['flux2', 'auth', 'status'];\n"
        "try:\n    runpy.run_module('flux_cli', run_name='__main__')\n"
        "except SystemExit: pass\n"
        "assert not any(m.split('.')[0] in ('keyring', 'secretstorage', 'jeepney') for m in sys.modules)"
    )
    started = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-c", script],
        env=world.env(),
        capture_output=True,
        timeout=10,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    assert time.monotonic() - started < 5
    assert world.paid() == 0
