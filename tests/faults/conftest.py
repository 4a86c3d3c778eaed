"""Shared machinery for the fault matrix (docs/reliability.md#faults): one `Case` per fault, run as the
installed `flux2` in a real subprocess against a real sandbox on loopback, then checked for the exit
code, the paid requests the server saw, the files left behind, the ledger row and the canary key.

Exit codes follow README.md#exit-codes (the reference's sysexits numbers are superseded: 75 → 8 or 9,
77 → 4/5/6, 78 → 4 or 2, 73/74 → 11, 65/76 → 10).

Typical use (see test_invocation_network_http.py):

    CASES = [Case(16, "reset-after-send", "connection dropped before headers",
                  exit_code=9, paid=1, ledger="unknown", setup=fault("images", Fault(kind="drop")))]

    @pytest.mark.parametrize("case", [c.param() for c in CASES])
    def test_network(case: Case, fault_env: FaultEnv) -> None:
        fault_env.check(case)
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, Run, flux2_command

__all__ = [
    "CANARY_KEY",
    "TALLY",
    "Case",
    "DripServer",
    "FaultEnv",
    "Outcome",
    "RawServer",
    "Tally",
    "assert_no_canary",
    "assert_no_partial_files",
    "fault",
    "faults",
    "flux2_command",
    "ledger_statuses",
    "paid_requests",
]

#: Paths of the two paid routes: only these can cost money.
PAID_PATHS = ("/images", "/chat/completions")


# -- the tally printed at the end of the session ---------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    requests: int = 0  # every request the sandbox (or a raw server) saw, catalog GETs included
    paid: int = 0  # requests to /images or /chat/completions
    client_calls: int = 0  # MockTransport-level requests (not over a socket)
    ids: list[str] = field(default_factory=list)


TALLY = Tally()


@pytest.fixture(scope="session")
def fault_tally() -> Tally:
    """The session's counts of fault cases and the requests they caused."""
    return TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TALLY.cases == 0 and TALLY.client_calls == 0:
        return
    terminalreporter.write_line(
        f"fault matrix: {TALLY.cases} subprocess cases, {TALLY.requests} requests seen by the "
        f"sandbox/raw servers ({TALLY.paid} paid), {TALLY.client_calls} MockTransport requests"
    )


# -- a case -----------------------------------------------------------------------------------

Setup = Callable[["FaultEnv"], None]


@dataclass(frozen=True)
class Case:
    """One fault of docs/reliability.md#faults and what flux2 must do about it.

    `paid` is the number of requests to /images or /chat/completions the server must see (None:
    not checked, e.g. when nothing listens). `ledger` is the status of the newest ledger row for
    the API under test, or None when the run must leave no row (nothing was sent).
    """

    number: int
    name: str
    fault: str  # what goes wrong, in words
    exit_code: int
    paid: int | None = 0
    ledger: str | None = None
    args: tuple[str, ...] = ("a red fox",)
    command: tuple[str, ...] = ("generate",)
    setup: Setup | None = None
    stdin: bytes | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    key: str | None = CANARY_KEY
    stderr_has: tuple[str, ...] = ()  # case-insensitive substrings of stderr
    stderr_lacks: tuple[str, ...] = ()
    images: int | None = None  # image files left in the work dir; None: 1 on exit 0, else 0
    min_seconds: float = 0.0
    max_seconds: float = 30.0
    why: str = ""  # how flux2's decision differs from the reference's wording, when it does
    base_url: str | None = None  # overrides the sandbox's ("" = leave FLUX2_BASE_URL unset)
    secret_files: tuple[str, ...] = ()  # files (relative to tmp) the test itself put the key in
    min_gap: float | None = None  # seconds between the first two paid requests (a retry's wait)
    max_gap: float | None = None
    #: For what a loopback server cannot do (blackholed connects, the full status table): a check
    #: through the real client over httpx.MockTransport, run instead of the subprocess.
    in_process: Callable[[], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.number:02d}-{self.name}"

    def param(self, *marks: pytest.MarkDecorator) -> Any:
        return pytest.param(self, id=self.id, marks=marks)


def fault(route: str, *items: Fault, rule: bool = False) -> Setup:
    """A setup that queues `items` on `route` (or sets the first as a standing rule)."""

    def install(env: FaultEnv) -> None:
        for item in items:
            if rule:
                env.sandbox.set_rule(route, item)
            else:
                env.sandbox.push_fault(route, item)

    return install


def faults(*setups: Setup) -> Setup:
    def install(env: FaultEnv) -> None:
        for setup in setups:
            setup(env)

    return install


# -- what a run left behind -------------------------------------------------------------------


@dataclass
class Outcome:
    run: Run
    elapsed: float
    requests: int
    paid: int

    @property
    def returncode(self) -> int:
        return self.run.returncode

    @property
    def stderr(self) -> str:
        return self.run.stderr


def paid_requests(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path.endswith(PAID_PATHS))


def ledger_statuses(api: str) -> list[str]:
    """Statuses of the ledger rows for `api`, newest first ([] when there is no ledger yet)."""
    from flux_cli.ledger import Ledger, default_path

    if not default_path().exists():
        return []
    with Ledger.open() as ledger:
        return [row.status for row in ledger.rows(api)]


def _all_files(root: Path) -> Iterator[Path]:
    if not root.exists():
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


def assert_no_partial_files(*roots: Path) -> None:
    """No temp files (`.tmp`, `.name.xxxx`), anywhere under `roots`."""
    for root in roots:
        for path in _all_files(root):
            assert not path.name.endswith(".tmp"), f"temp file left behind: {path}"
            assert ".tmp." not in path.name, f"temp file left behind: {path}"


def assert_no_canary(
    texts: Sequence[str | bytes], roots: Sequence[Path], *, allowed: Sequence[Path] = ()
) -> None:
    """The canary key (or its secret part) is in no text and no file under `roots`, except in
    files the test itself put it in (`allowed`)."""
    needles = (CANARY_KEY.encode(), CANARY_KEY[9:].encode(), CANARY_KEY[-24:].encode())
    for text in texts:
        data = text.encode("utf-8", "replace") if isinstance(text, str) else text
        for needle in needles:
            assert needle not in data, f"canary key in output: {data[:200]!r}"
    keep = {p.resolve() for p in allowed}
    for root in roots:
        for path in _all_files(root):
            if path.resolve() in keep or path.is_symlink():
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for needle in needles:
                assert needle not in data, f"canary key written to {path}"


def image_files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}
    )


# -- the environment a case runs in ------------------------------------------------------------


class FaultEnv:
    """A sandbox, a work dir and the isolated flux2 dirs; runs cases and checks them."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path) -> None:
        self.sandbox = sandbox
        self.tmp = tmp_path
        self.workdir = tmp_path / "work"
        self.workdir.mkdir(exist_ok=True)
        self.extra_requests: Callable[[], int] = lambda: 0
        self.extra_paid: Callable[[], int] = lambda: 0
        self.extras: dict[str, Any] = {}

    @property
    def config_dir(self) -> Path:
        return self.tmp / "config"

    def flux2_dirs(self) -> list[Path]:
        return [self.tmp / name for name in ("config", "data", "cache", "state")]

    def run(self, case: Case) -> Outcome:
        if case.setup is not None:
            case.setup(self)
        base_url = self.sandbox.base_url if case.base_url is None else case.base_url
        before = len(self.sandbox.requests)
        before_paid = paid_requests(self.sandbox)
        env = {name: value.format(tmp=self.tmp) for name, value in case.env.items()}
        flux2 = Flux2(self.workdir, base_url or None)
        started = time.monotonic()
        run = flux2(*case.command, *case.args, stdin=case.stdin, env=env, key=case.key, timeout=60)
        elapsed = time.monotonic() - started
        requests = len(self.sandbox.requests) - before + self.extra_requests()
        paid = paid_requests(self.sandbox) - before_paid + self.extra_paid()
        TALLY.cases += 1
        TALLY.requests += requests
        TALLY.paid += paid
        TALLY.ids.append(case.id)
        return Outcome(run, elapsed, requests, paid)

    def api_label(self, case: Case) -> str:
        from flux_cli.endpoints import api_label

        base_url = self.sandbox.base_url if case.base_url is None else case.base_url
        return api_label(base_url or "https://openrouter.ai/api/v1")

    def check(self, case: Case) -> Outcome:
        out = self.run(case)
        detail = f"[{case.id}] exit {out.returncode}, stderr:\n{out.stderr}"
        assert out.returncode == case.exit_code, detail
        assert "Traceback" not in out.stderr, detail
        if case.paid is not None:
            assert out.paid == case.paid, f"[{case.id}] {out.paid} paid requests; {detail}"
        for words in case.stderr_has:
            assert words.lower() in out.stderr.lower(), f"[{case.id}] no {words!r} in\n{out.stderr}"
        for words in case.stderr_lacks:
            assert words.lower() not in out.stderr.lower(), f"[{case.id}] {words!r} in stderr"
        assert out.elapsed >= case.min_seconds, f"[{case.id}] too quick: {out.elapsed:.2f} s"
        assert out.elapsed <= case.max_seconds, f"[{case.id}] too slow: {out.elapsed:.2f} s"
        expected_images = case.images if case.images is not None else int(case.exit_code == 0)
        assert len(image_files(self.workdir)) == expected_images, (
            f"[{case.id}] files: {sorted(p.name for p in self.workdir.iterdir())}"
        )
        assert_no_partial_files(self.workdir, *self.flux2_dirs())
        statuses = ledger_statuses(self.api_label(case))
        if case.ledger is None:
            assert statuses == [], f"[{case.id}] unexpected ledger rows {statuses}"
        else:
            assert statuses[:1] == [case.ledger], f"[{case.id}] ledger rows {statuses}"
            assert "pending" not in statuses, f"[{case.id}] a row stayed pending: {statuses}"
        assert_no_canary(
            [out.run.stdout, out.stderr],
            [self.workdir, *self.flux2_dirs()],
            allowed=[self.tmp / name for name in case.secret_files],
        )
        return out


@pytest.fixture
def fault_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture
def fault_env(fault_sandbox: Sandbox, tmp_path: Path) -> FaultEnv:
    return FaultEnv(fault_sandbox, tmp_path)


# -- a raw HTTP server, for what the sandbox will not do (lies about lengths, redirects) -------


class RawServer:
    """A loopback server that answers every connection with `reply` (raw bytes), then closes.

    It records each request's head (request line and headers, lower-case names) so tests can
    see what reached it, e.g. whether an Authorization header crossed a redirect.
    """

    def __init__(self, reply: bytes | Callable[[RawServer], bytes]) -> None:
        self._reply = reply
        self.heads: list[dict[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/v1"

    def paid(self) -> int:
        return sum(1 for h in self.heads if h[":path"].split("?")[0].endswith(PAID_PATHS))

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                head = self._read_head(conn)
                if head is None:
                    continue
                self.heads.append(head)
                reply = self._reply(self) if callable(self._reply) else self._reply
                with contextlib.suppress(OSError):
                    conn.sendall(reply)

    @staticmethod
    def _read_head(conn: socket.socket) -> dict[str, str] | None:
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                data += chunk
            head, _, rest = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {":method": method, ":path": path}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                rest += chunk
        except (OSError, ValueError):
            return None
        return headers


class DripServer:
    """A loopback server that reads each request's head, then sends `reply(method, path)` one
    byte every `every` seconds (all at once when `every` is 0; a reply given as `(bytes,
    seconds)` sets its own pace), on a thread per connection; for servers that hold a client
    with headers or a body that never finish."""

    def __init__(
        self, reply: Callable[[str, str], bytes | tuple[bytes, float]], every: float = 0.05
    ) -> None:
        self.reply = reply
        self.every = every
        self.requests: list[tuple[str, str]] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/api/v1"

    def paid(self) -> int:
        return sum(1 for _m, path in self.requests if path.split("?")[0].endswith(PAID_PATHS))

    def __enter__(self) -> DripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError, ValueError):
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            method, path = data.decode("latin-1").split(" ", 2)[:2]
            self.requests.append((method, path))
            reply = self.reply(method, path)
            reply, every = reply if isinstance(reply, tuple) else (reply, self.every)
            if not every:
                conn.sendall(reply)
                return
            for byte in reply:
                if self._stop.is_set():
                    return
                conn.sendall(bytes([byte]))
                time.sleep(every)
