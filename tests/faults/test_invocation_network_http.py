"""docs/reliability.md#faults, items 1–37: invocation/config, network, HTTP statuses and headers.

Every item is a row, by number and name. Rows run the installed `flux2` in a subprocess against
the real sandbox (or a raw loopback server) and are checked by `FaultEnv.check` (exit code, paid
requests, files, ledger row, canary key). What a loopback server cannot produce (a blackholed
connect, the full status table) runs through the real `OpenRouterClient` over
`httpx.MockTransport` (`Case.in_process`). Exit codes are README.md#exit-codes's, not the reference's
sysexits numbers. No row is skipped: keyring items (17, 76 in the reference's security list) are
not in this half, and item 17 here is the read timeout.
"""

from __future__ import annotations

import base64
import io
import os
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from flux_cli.credentials import ApiKey
from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient, Timeouts
from flux_cli.openrouter.retry import MAX_RETRY_AFTER, Decision, classify_status
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sandbox import Fault
from tests.conftest import CANARY_KEY
from tests.faults.conftest import TALLY, Case, FaultEnv, RawServer, fault

pytestmark = pytest.mark.e2e

KEY_FILE = "keys/openrouter.key"


def _write_stored_key(
    mode: int = 0o600, *, content: bytes | None = None
) -> Callable[[FaultEnv], None]:
    def setup(env: FaultEnv) -> None:
        env.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = env.config_dir / "api-key"
        path.write_bytes(content if content is not None else (CANARY_KEY + "\n").encode())
        path.chmod(mode)

    return setup


def _symlinked_key(env: FaultEnv) -> None:
    env.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = env.tmp / "keytarget"
    target.write_text(CANARY_KEY + "\n")
    target.chmod(0o600)
    (env.config_dir / "api-key").symlink_to(target)


def _foreign_key(env: FaultEnv) -> None:
    _write_stored_key()(env)
    os.chown(env.config_dir / "api-key", 12345, 12345)


def _key_file_with_newline(env: FaultEnv) -> None:
    path = env.tmp / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CANARY_KEY + "\n")  # what `echo "$KEY" > file` leaves
    path.chmod(0o600)  # a key file must be private to its owner


def _config_toml(content: bytes | None) -> Callable[[FaultEnv], None]:
    def setup(env: FaultEnv) -> None:
        env.config_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = env.config_dir / "config.toml"
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)

    return setup


# == Invocation / config (items 1–10) =============================================================

INVOCATION = [
    Case(1, "empty-prompt", "whitespace-only prompt", 2, args=("   ",), stderr_has=("empty",)),
    Case(1, "empty-prompt-stdin", "empty prompt on stdin", 2, args=("-",), stdin=b" \n\t\n"),
    Case(
        2,
        "prompt-100kb",
        "a 100 KB prompt on stdin",
        2,
        args=("-",),
        stdin=b"x" * 100_000,
        stderr_has=("32,000",),
    ),
    Case(
        2,
        "prompt-nul",
        "NUL inside the prompt",
        2,
        args=("-",),
        stdin=b"a \x00 fox",
        stderr_has=("NUL",),
    ),
    Case(
        2,
        "prompt-invalid-utf8",
        "invalid UTF-8 on stdin",
        2,
        args=("-",),
        stdin=b"a \xff\xfe fox",
        stderr_has=("UTF-8",),
    ),
    # 78 → 4 (README.md#exit-codes: no key is an authentication failure).
    Case(
        3,
        "no-key-non-tty",
        "no key anywhere, stdin not a TTY",
        4,
        key=None,
        max_seconds=5,
        stderr_has=("no OpenRouter API key",),
    ),
    Case(
        4,
        "key-trailing-newline-env",
        "key with trailing newline and space in the environment",
        0,
        paid=1,
        ledger="ok",
        key=CANARY_KEY + "\n ",
    ),
    Case(
        4,
        "key-trailing-newline-file",
        "key file written by `echo > file`",
        0,
        paid=1,
        ledger="ok",
        key=None,
        setup=_key_file_with_newline,
        env={"OPENROUTER_API_KEY_FILE": "{tmp}/" + KEY_FILE},
        secret_files=(KEY_FILE,),
    ),
    Case(
        5,
        "key-non-ascii",
        "key with a non-ASCII character",
        4,
        key=CANARY_KEY[:30] + "é" + CANARY_KEY[30:],
        stderr_has=("not printable ASCII",),
    ),
    # flux2 is stricter than "warn": a group/world-readable stored key is refused (README.md#configuration-and-environment).
    Case(
        6,
        "config-file-0644",
        "stored key file mode 0644",
        4,
        key=None,
        setup=_write_stored_key(0o644),
        stderr_has=("chmod 600",),
        secret_files=("config/api-key",),
        why="refused, not warned about: README.md#configuration-and-environment",
    ),
    Case(
        6,
        "config-file-symlink",
        "stored key file is a symlink",
        4,
        key=None,
        setup=_symlinked_key,
        stderr_has=("symbolic link",),
        secret_files=("keytarget",),
    ),
    Case(
        6,
        "config-file-other-uid",
        "stored key file owned by another uid",
        4,
        key=None,
        setup=_foreign_key,
        stderr_has=("another user",),
        secret_files=("config/api-key",),
    ),
    # 78 → 2 for config.toml (a usage problem, names the path), → 4 for the key file.
    Case(
        7,
        "config-file-corrupt",
        "config.toml is not TOML",
        2,
        setup=_config_toml(b"model = [unclosed\n\x00"),
        stderr_has=("config.toml",),
    ),
    Case(
        7,
        "config-file-directory",
        "config.toml is a directory",
        2,
        setup=_config_toml(None),
        stderr_has=("config.toml", "directory"),
    ),
    Case(
        7,
        "config-file-unreadable",
        "config.toml holds bytes that are not UTF-8 (root reads any mode, so this stands in)",
        2,
        setup=_config_toml(b"model = '\xff\xfe'\n"),
        stderr_has=("config.toml",),
    ),
    Case(
        7,
        "config-file-empty",
        "config.toml is empty",
        0,
        paid=1,
        ledger="ok",
        setup=_config_toml(b""),
        why="an empty TOML file is a valid, empty config: defaults apply",
    ),
    Case(
        7,
        "key-file-empty",
        "stored key file is empty",
        4,
        key=None,
        setup=_write_stored_key(content=b"\n"),
        stderr_has=("api-key", "empty"),
    ),
    Case(
        7,
        "key-file-unreadable",
        "stored key file holds bytes that are not UTF-8",
        4,
        key=None,
        setup=_write_stored_key(content=b"sk-or-v1-\xff\xfe\n"),
        stderr_has=("api-key",),
    ),
    Case(
        8,
        "size-and-aspect-ratio",
        "--size with a mismatched --aspect-ratio",
        2,
        args=("a fox", "--size", "1024x1024", "-a", "16:9"),
        stderr_has=("not both",),
    ),
    Case(9, "n-zero", "-n 0", 2, args=("a fox", "-n", "0")),
    # flux2 takes -n 1..16 (README "Decisions"), so the reference's n=11 is valid here; 17 is not.
    Case(9, "n-over-max", "-n 17", 2, args=("a fox", "-n", "17"), stderr_has=("between 1 and 16",)),
    Case(9, "seed-negative", "--seed -1", 2, args=("a fox", "--seed", "-1")),
    Case(9, "seed-oversized", "--seed 2**32", 2, args=("a fox", "--seed", "4294967296")),
    # 69 → 2: an unknown model is a usage error; the catalog catches it before anything is sent.
    Case(
        10,
        "unknown-model-local",
        "a model id the catalog does not list",
        2,
        args=("a fox", "-m", "black-forest-labs/flux.9-nope"),
        stderr_has=("unknown model",),
    ),
    Case(
        10,
        "unknown-model-server-400",
        "the server answers 400 model_not_found with fallback_models",
        2,
        paid=1,
        ledger="failed",
        setup=fault(
            "images",
            Fault(
                status=400,
                body={
                    "error": {
                        "code": 400,
                        "message": "black-forest-labs/flux.2-pro is not a valid model ID",
                        "availability": {
                            "code": "model_not_found",
                            "retryable": False,
                            "fallback_models": ["black-forest-labs/flux.2-max"],
                        },
                    }
                },
            ),
        ),
        stderr_has=("not a valid model", "black-forest-labs/flux.2-max"),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in INVOCATION])
def test_invocation_config(case: Case, fault_env: FaultEnv) -> None:
    if case.name == "config-file-other-uid" and os.geteuid() != 0:
        pytest.skip("chown to another uid needs root")  # only a limit of the test machine
    _run_row(case, fault_env)


# == Network (items 11–21) =======================================================================

REQUEST = ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a red fox", seed=7)
BASE = "https://openrouter.test/api/v1"


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _ok(route: str) -> httpx.Response:
    b64 = base64.b64encode(_jpeg()).decode()
    usage = {"prompt_tokens": 3, "completion_tokens": 4096, "cost": 0.03}
    body: dict[str, object]
    if route == "images":
        body = {
            "created": 0,
            "data": [{"b64_json": b64, "media_type": "image/jpeg"}],
            "usage": usage,
        }
    else:
        url = f"data:image/jpeg;base64,{b64}"
        message = {
            "role": "assistant",
            "content": "",
            "images": [{"type": "image_url", "image_url": {"url": url}}],
        }
        body = {
            "id": "gen-1",
            "choices": [{"message": message, "finish_reason": "stop"}],
            "usage": usage,
        }
    return httpx.Response(200, json=body, headers={"x-generation-id": "gen-img-1"})


class Mock:
    """The real client over MockTransport; attempts and sleeps recorded, nothing waits."""

    def __init__(self, reply: Callable[[httpx.Request], httpx.Response]) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    @classmethod
    def of(cls, replies: list[httpx.Response]) -> Mock:
        """Answers with `replies` in turn, the last one for ever after."""
        box: list[Mock] = []
        mock = cls(lambda _request: replies[min(len(box[0].requests), len(replies)) - 1])
        box.append(mock)
        return mock

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        TALLY.client_calls += 1
        return self.reply(request)

    def client(self, **kwargs: object) -> OpenRouterClient:
        return OpenRouterClient(
            BASE,
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(self.handler),
            sleep=self.sleeps.append,
            rand=lambda: 0.0,
            wall_clock=lambda: 1_796_000_000.0,
            **kwargs,  # type: ignore[arg-type]
        )

    def generate(self, route: str = "images", **kwargs: object) -> E.OpenRouterError | None:
        error: E.OpenRouterError | None = None
        with self.client(**kwargs) as client:
            try:
                client.generate(REQUEST, route)
            except E.OpenRouterError as exc:
                error = exc
        if error is not None:
            assert CANARY_KEY[9:] not in f"{error} {error.hint}"
        return error


def _raise(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def reply(request: httpx.Request) -> httpx.Response:
        raise exc

    return reply


def _dns_failure_client() -> None:
    mock = Mock(_raise(httpx.ConnectError("[Errno -2] Name or service not known")))
    error = mock.generate()
    assert isinstance(error, E.ConnectionFailedError)
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert len(mock.requests) == 3
    assert len(mock.sleeps) == 2
    assert sum(mock.sleeps) <= 0.5 + 1.0


def _blackhole_client() -> None:
    mock = Mock(_raise(httpx.ConnectTimeout("timed out")))
    error = mock.generate(timeouts=Timeouts(connect=1.0))
    assert isinstance(error, E.ConnectionFailedError)
    assert error.exit_code == ExitCode.UNAVAILABLE
    assert len(mock.requests) == 3
    # Run time ≤ 3 × connect timeout + backoff (0.5 s + 1 s at most).
    assert 3 * 1.0 + sum(mock.sleeps) <= 3 * 1.0 + 1.5
    timeout = mock.requests[0].extensions["timeout"]
    assert timeout["connect"] == 1.0


class TlsServer:
    """A loopback https server with a self-signed certificate: counts handshake attempts."""

    def __init__(self, directory: Path) -> None:
        cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-days",
                "1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.handshakes = 0
        self.plain_requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.sock.getsockname()[1]}/api/v1"

    def __enter__(self) -> TlsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.handshakes += 1
            conn.settimeout(3)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    if tls.recv(1):
                        self.plain_requests += 1  # the client went on despite the bad certificate
            except (OSError, ssl.SSLError):
                conn.close()


@pytest.fixture
def raw_servers() -> Iterator[dict[str, RawServer]]:
    """A: truncated body (Content-Length lies). B: a redirect to C. C: must never be asked."""
    truncated = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
        b'X-Generation-Id: gen-img-cut-42\r\nConnection: close\r\n\r\n{"created": 0, "data": ['
    )
    with RawServer(b"") as target, RawServer(truncated) as short:
        redirect = (
            "HTTP/1.1 307 Temporary Redirect\r\n"
            f"Location: {target.base_url}/images\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ).encode()
        with RawServer(redirect) as redirector:
            yield {"short": short, "redirect": redirector, "target": target}


def _use_raw(name: str) -> Callable[[FaultEnv], None]:
    def setup(env: FaultEnv) -> None:
        servers: dict[str, RawServer] = env.extras["raw"]
        server = servers[name]
        env.extra_requests = lambda: len(server.heads) + len(servers["target"].heads)
        env.extra_paid = server.paid

    return setup


NETWORK = [
    # 75 → 8: nothing was sent; DNS failure through a real resolver (.invalid never resolves).
    Case(
        11,
        "dns-failure",
        "the API host does not resolve",
        8,
        paid=None,
        ledger="failed",
        base_url="https://flux2-fault-matrix.invalid/api/v1",
        stderr_has=("nothing was sent", "3 attempts"),
        max_seconds=15,
    ),
    Case(
        11,
        "dns-failure-client",
        "ConnectError(DNS) through the client",
        8,
        in_process=_dns_failure_client,
    ),
    Case(
        12,
        "connection-refused",
        "nothing listens on the port",
        8,
        paid=None,
        ledger="failed",
        base_url="http://127.0.0.1:9/api/v1",
        stderr_has=("refused", "gave up after 3 attempts"),
        max_seconds=15,
    ),
    Case(
        13, "blackholed-connect", "ConnectTimeout on every connect", 8, in_process=_blackhole_client
    ),
    Case(
        14,
        "tls-self-signed",
        "the server's certificate is self-signed",
        8,
        paid=None,
        ledger="failed",
        stderr_has=("certificate",),
        stderr_lacks=("gave up after",),
        max_seconds=15,
        why="nothing was sent, so exit 8; a certificate failure is not retried (it will not heal)",
    ),
    Case(
        15,
        "dead-https-proxy",
        "HTTPS_PROXY points at a closed port",
        8,
        paid=None,
        ledger="failed",
        base_url="",
        env={"HTTPS_PROXY": "http://127.0.0.1:9"},
        stderr_has=("proxy http://127.0.0.1:9",),
        max_seconds=15,
    ),
    # 75 → 9: sent, no answer; may have been billed; not retried by default.
    Case(
        16,
        "reset-before-headers",
        "connection closed after the request, before headers",
        9,
        paid=1,
        ledger="unknown",
        setup=fault("images", Fault(kind="drop")),
        stderr_has=("may have been billed",),
    ),
    Case(
        16,
        "reset-before-headers-retry-ambiguous",
        "same, with --retry-ambiguous (one more attempt, which succeeds)",
        0,
        paid=2,
        ledger="ok",
        args=("a red fox", "--retry-ambiguous"),
        setup=fault("images", Fault(kind="drop")),
    ),
    Case(
        17,
        "read-timeout-before-headers",
        "no status line within --timeout 1",
        9,
        paid=1,
        ledger="unknown",
        args=("a red fox", "--timeout", "1"),
        setup=fault("images", Fault(kind="slow", delay=3)),
        stderr_has=("may have been billed",),
        max_seconds=10,
    ),
    Case(
        18,
        "slow-drip-body",
        "the body drips 1 byte / 0.3 s; the 1 s wall-clock limit fires",
        9,
        paid=1,
        ledger="unknown",
        args=("a red fox", "--timeout", "1"),
        setup=fault("images", Fault(kind="drip", drip=(1, 0.3))),
        stderr_has=("within 1 s",),
        max_seconds=10,
    ),
    Case(
        19,
        "drop-mid-body",
        "200 headers, then the connection drops mid-body",
        9,
        paid=1,
        ledger="unknown",
        setup=fault("images", Fault(kind="drop-after-headers")),
        stderr_has=("generation id gen-",),
    ),
    Case(
        20,
        "body-shorter-than-content-length",
        "Content-Length 5000, 24 bytes, close",
        9,
        paid=1,
        ledger="unknown",
        setup=_use_raw("short"),
        stderr_has=("gen-img-cut-42",),
        max_seconds=15,
    ),
    # Redirects are never followed: the key stays with the configured host. 3xx → 10.
    Case(
        21,
        "redirect-other-host",
        "307 to another host",
        10,
        paid=1,
        ledger="failed",
        setup=_use_raw("redirect"),
        stderr_has=("does not follow redirects",),
        max_seconds=15,
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in NETWORK])
def test_network(
    case: Case, fault_env: FaultEnv, raw_servers: dict[str, RawServer], tmp_path: Path
) -> None:
    fault_env.extras["raw"] = raw_servers
    if case.number in (20, 21):
        server = raw_servers["short" if case.number == 20 else "redirect"]
        case = _with_base(case, server.base_url)
    if case.number == 14:
        with TlsServer(tmp_path) as tls:
            _run_row(_with_base(case, tls.base_url), fault_env)
            assert tls.plain_requests == 0  # never downgraded, nothing sent over a bad channel
        return
    _run_row(case, fault_env)
    if case.number == 21:
        target = raw_servers["target"]
        assert target.heads == []  # no second hop, so no Authorization anywhere else
        posts = [h for h in raw_servers["redirect"].heads if h[":method"] == "POST"]
        assert len(posts) == 1
        assert "authorization" in posts[0]


def _with_base(case: Case, base_url: str) -> Case:
    from dataclasses import replace

    return replace(case, base_url=base_url)


def _run_row(case: Case, env: FaultEnv) -> None:
    if case.in_process is not None:
        case.in_process()
        return
    out = env.check(case)
    if case.min_gap is not None or case.max_gap is not None:
        times = [r.time for r in env.sandbox.requests if r.path.endswith("/images")]
        assert len(times) == 2, times
        gap = times[1] - times[0]
        assert gap >= (case.min_gap or 0), f"[{case.id}] waited {gap:.2f} s"
        assert gap <= (case.max_gap or 1e9), f"[{case.id}] waited {gap:.2f} s"
    assert out is not None


# == HTTP statuses and headers (items 22–37) =====================================================


def _status(status: int, **kwargs: object) -> Callable[[FaultEnv], None]:
    return fault("images", Fault(status=status, **kwargs))  # type: ignore[arg-type]


def _body_retry_after_40_client() -> None:
    body = {
        "error": {
            "code": 503,
            "message": "busy",
            "availability": {
                "code": "temporarily_unavailable",
                "retryable": True,
                "retry_after": 40,
            },
        }
    }
    replies = [httpx.Response(503, json=body), _ok("images")]
    mock = Mock.of(replies)
    assert mock.generate() is None
    assert mock.sleeps == [40.0]
    assert len(mock.requests) == 2


RETRY_AFTER_VALUES: list[tuple[str, str]] = [
    # (value, expected: "backoff" | "exit" | seconds)
    ("0", "backoff"),
    ("-10", "backoff"),
    ("inf", "backoff"),
    ("nan", "backoff"),
    ("", "backoff"),
    ("abc", "backoff"),
    ("1.5", "1.5"),
    ("99999999999999999999", "exit"),
    ("Wed, 21 Oct 2015 07:28:00 GMT", "backoff"),  # in the past
    ("Fri, 29 Sep 100000 00:00:00 GMT", "backoff"),  # year 100000
    ("Sat, 29 Dec 2029 00:00:00 GMT", "exit"),  # far future: beyond the 120 s cap
]


def _retry_after_table_client() -> None:
    for value, expected in RETRY_AFTER_VALUES:
        replies = [
            httpx.Response(
                429,
                json={"error": {"code": 429, "message": "slow down"}},
                headers={"Retry-After": value},
            ),
            _ok("images"),
        ]
        mock = Mock.of(replies)
        error = mock.generate()
        if expected == "exit":
            assert error is not None, value
            assert error.exit_code == ExitCode.UNAVAILABLE, value
            assert len(mock.requests) == 1, value
            assert mock.sleeps == [], value
        else:
            assert error is None, value
            assert len(mock.sleeps) == 1, value
            assert 0 < mock.sleeps[0] <= MAX_RETRY_AFTER, value
            if expected == "backoff":
                assert mock.sleeps[0] == 0.5, value
            else:
                assert mock.sleeps[0] == float(expected), value


_EXIT_FOR: dict[Decision, set[ExitCode]] = {
    Decision.SUCCESS: {ExitCode.OK},
    Decision.RETRY: {ExitCode.UNAVAILABLE},
    Decision.UNKNOWN: {ExitCode.OUTCOME_UNKNOWN},
    Decision.FAIL: {ExitCode.USAGE, ExitCode.AUTH, ExitCode.CREDITS, ExitCode.BAD_RESPONSE},
}


def _every_status_both_routes() -> None:
    """100–599 × {images, chat} through the real client: one decision, attempts, one exit code."""
    from tests.status_exit_codes import exit_code_for_status

    for route in ("images", "chat"):
        for status in range(100, 600):
            decision = classify_status(status)

            def reply(
                request: httpx.Request, status: int = status, route: str = route
            ) -> httpx.Response:
                if 200 <= status < 300:
                    ok = _ok(route)
                    return httpx.Response(status, content=ok.content, headers=ok.headers)
                return httpx.Response(
                    status,
                    json={"error": {"code": status, "message": f"status {status}"}},
                    headers={"Location": "https://elsewhere.test/"} if 300 <= status < 400 else {},
                )

            mock = Mock(reply)
            error = mock.generate(route)
            code = ExitCode.OK if error is None else error.exit_code
            assert code in _EXIT_FOR[decision], (route, status, code)
            assert code == exit_code_for_status(status), (route, status, code)
            attempts = len(mock.requests)
            assert attempts == (3 if decision is Decision.RETRY else 1), (route, status, attempts)
            assert all(r.url.host == "openrouter.test" for r in mock.requests)
            if decision is Decision.UNKNOWN:
                again = Mock(reply)
                again.generate(route, retry_ambiguous=1)
                assert len(again.requests) == 2, (route, status)
            if error is not None:
                assert error.attempts == attempts, (route, status)


HTTP = [
    # 65 → 2 (README.md#exit-codes: a 400 from the server is a usage error). Escapes are stripped.
    Case(
        22,
        "400-invalid-request",
        "400 with an ANSI escape in the message",
        2,
        paid=1,
        ledger="failed",
        setup=_status(400, message="bad \x1b[31maspect\x1b[0m ratio"),
        stderr_has=("aspect",),
        stderr_lacks=("\x1b",),
    ),
    Case(
        23,
        "401",
        "401 invalid key",
        4,
        paid=1,
        ledger="failed",
        setup=_status(401),
        stderr_has=("rejected the API key",),
    ),
    Case(
        24,
        "402-key-limit",
        "402 with metadata.limit_source = openrouter_key_limit",
        5,
        paid=1,
        ledger="failed",
        setup=_status(402, variant="key-limit"),
        stderr_has=("key's limit",),
    ),
    Case(
        25,
        "403-moderation",
        "403 moderation with reasons and flagged_input",
        6,
        paid=1,
        ledger="failed",
        setup=_status(403, variant="moderation"),
        stderr_has=("moderation",),
        stderr_lacks=("\x1b",),
    ),
    Case(26, "408-retried", "408 once, then success", 0, paid=2, ledger="ok", setup=_status(408)),
    Case(
        27,
        "429-retry-after-2",
        "429 with Retry-After: 2, then success",
        0,
        paid=2,
        ledger="ok",
        setup=_status(429, retry_after=2.0),
        min_gap=1.95,
        max_gap=4.0,
    ),
    Case(
        28,
        "429-retry-after-3600",
        "429 with Retry-After: 3600",
        8,
        paid=1,
        ledger="failed",
        setup=_status(429, retry_after=3600.0),
        stderr_has=("60 min",),
        max_seconds=8,
    ),
    Case(
        29,
        "429-retry-after-ms-wins",
        "429 with retry-after-ms: 1500 and Retry-After: 1",
        0,
        paid=2,
        ledger="ok",
        setup=_status(429, headers={"retry-after-ms": "1500", "Retry-After": "1"}),
        min_gap=1.45,
        max_gap=3.0,
    ),
    Case(
        30,
        "429-availability-not-retryable",
        "429 whose body says availability.retryable = false",
        8,
        paid=1,
        ledger="failed",
        setup=_status(
            429,
            body={
                "error": {
                    "code": 429,
                    "message": "capacity exhausted",
                    "availability": {"code": "capacity_exhausted", "retryable": False},
                }
            },
        ),
    ),
    # A 40 s wait is honoured (≤ 120 s); the subprocess row uses 1 s so the suite stays fast,
    # and the 40 s value is checked through the client with a recorded sleep.
    Case(
        31,
        "503-body-retry-after",
        "503, no header, body availability.retry_after = 1",
        0,
        paid=2,
        ledger="ok",
        setup=_status(
            503,
            body={
                "error": {
                    "code": 503,
                    "message": "busy",
                    "availability": {
                        "code": "temporarily_unavailable",
                        "retryable": True,
                        "retry_after": 1,
                    },
                }
            },
        ),
        min_gap=0.95,
        max_gap=3.0,
    ),
    Case(
        31,
        "503-body-retry-after-40-client",
        "same with 40 s, recorded sleep",
        0,
        in_process=_body_retry_after_40_client,
    ),
    Case(
        32,
        "502-retried",
        "502 on /images once, then success",
        0,
        paid=2,
        ledger="ok",
        setup=_status(502),
    ),
    Case(
        33,
        "500-masked",
        "500 with OpenRouter's masked message",
        9,
        paid=1,
        ledger="unknown",
        setup=_status(500),
        stderr_has=("may have been billed",),
    ),
    Case(
        34,
        "524-cloudflare-html",
        "524 with a Cloudflare HTML page",
        9,
        paid=1,
        ledger="unknown",
        setup=_status(
            524,
            body="<!DOCTYPE html><html><head><title>openrouter.ai | 524: A timeout occurred</title></head><body>cf</body></html>",
            headers={"Content-Type": "text/html; charset=UTF-8"},
        ),
        stderr_has=("may have been billed", "524"),
        stderr_lacks=("<html", "<!doctype"),
    ),
    Case(35, "529-retried", "529 once, then success", 0, paid=2, ledger="ok", setup=_status(529)),
    Case(
        36,
        "retry-after-garbage",
        "429 with Retry-After: abc → backoff, then success",
        0,
        paid=2,
        ledger="ok",
        setup=_status(429, headers={"Retry-After": "abc"}),
        max_gap=2.0,
    ),
    Case(
        36,
        "retry-after-huge",
        "429 with Retry-After: 99999999999999999999 → exit at once",
        8,
        paid=1,
        ledger="failed",
        setup=_status(429, headers={"Retry-After": "99999999999999999999"}),
        max_seconds=8,
    ),
    Case(
        36,
        "retry-after-table-client",
        "the whole value table through the client",
        0,
        in_process=_retry_after_table_client,
    ),
    Case(
        37,
        "every-status-both-routes",
        "100–599 × images/chat through the client",
        0,
        in_process=_every_status_both_routes,
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in HTTP])
def test_http_statuses_and_headers(case: Case, fault_env: FaultEnv) -> None:
    _run_row(case, fault_env)


def test_every_item_1_to_37_is_in_a_table() -> None:
    numbers = {c.number for c in INVOCATION + NETWORK + HTTP}
    assert numbers == set(range(1, 38))
    ids = [c.id for c in INVOCATION + NETWORK + HTTP]
    assert len(ids) == len(set(ids))
