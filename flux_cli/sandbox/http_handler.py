"""The HTTP side: a threaded stdlib server on 127.0.0.1 that speaks like OpenRouter.

Responses are HTTP/1.1 with `Transfer-Encoding: chunked` and no Content-Length, as the real API
sends them (docs/openrouter.md#endpoints-and-headers), on keep-alive connections. Whatever goes wrong inside,
the client gets a JSON error envelope: never a traceback, never an HTML page.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flux_cli.sandbox import control
from flux_cli.sandbox.keys import mask_authorization
from flux_cli.sandbox.routes import match
from flux_cli.sandbox.state import RecordedRequest
from flux_cli.sandbox.wire import EXTRA_REASONS, Reply, Request, error_payload

if TYPE_CHECKING:
    from flux_cli.sandbox.server import Sandbox

API_PREFIX = "/api/v1"
GENERATION_ROUTES = ("images", "chat")  # `routes.match` names; counted in `in_flight`


@dataclass(frozen=True)
class AccessLogEntry:
    method: str
    path: str  # with the query string
    status: int | None  # None when the connection was dropped on purpose
    elapsed_ms: float
    fault: str | None = None


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[Handler], sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Condition()
        super().__init__(address, handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)
            self._connections_lock.notify_all()

    def close_connections(self, wait: float = 2.0) -> None:
        """Hang up on every open connection, then give their handlers up to `wait` seconds to
        finish, so a request answered just before the stop still reaches the access log."""
        self.stopping.set()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with self._connections_lock:
            self._connections_lock.wait_for(lambda: not self._connections, timeout=wait)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback here; a client hanging up is not worth one.
        return


class _BodyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "flux2-sandbox"
    sys_version = ""
    timeout = 120  # idle keep-alive connections and stalled uploads end after this
    server: HttpServer

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are logged through SandboxConfig.on_request

    def parse_request(self) -> bool:
        # The request line has just been read: this is when the request arrived, before its
        # headers and body are read and before other requests' work delays this thread.
        self._arrived = time.monotonic()
        return super().parse_request()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's answer to unparsable requests, as a JSON envelope instead of HTML."""
        self.close_connection = True
        text = message or _reason(code)
        with contextlib.suppress(OSError):
            self._write(Reply(code, error_payload(code, text)), head_only=False, chunked=False)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    # --- one request -------------------------------------------------------------------------

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        route = match(path[len(API_PREFIX) :]) if path.startswith(API_PREFIX + "/") else None
        counted = route is not None and route[0] in GENERATION_ROUTES
        end = sandbox.generation_started() if counted else None
        try:
            started, reply = self._handle(end)
        finally:
            if end is not None:
                end()
        self._log(sandbox, started, reply)

    def _handle(self, answering: Callable[[], None] | None) -> tuple[float, Reply]:
        """Take in one request and answer it (calling `answering` just before the answer is
        written); (when it arrived, the answer)."""
        started = getattr(self, "_arrived", None) or time.monotonic()
        sandbox = self.server.sandbox
        record: RecordedRequest | None = None
        try:
            split = urlsplit(self.path)
            path = split.path
            query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            if path.startswith(API_PREFIX + "/"):
                record = RecordedRequest(
                    method=self.command,
                    path=path,
                    query=query,
                    headers=_masked_headers(headers),
                    body=None,
                    time=started,
                )
                sandbox.log.add(record)
            try:
                body = self._read_body()
            except _BodyError as exc:
                self.close_connection = True
                reply = Reply(exc.status, error_payload(exc.status, exc.message))
            else:
                if record is not None:
                    record.body = _parse_for_log(body)
                    api = sandbox.api
                    assert api is not None
                    request = Request(self.command, path[len(API_PREFIX) :], query, headers, body)
                    reply = api.handle(request, record)
                elif path == "/_sandbox" or path.startswith("/_sandbox/"):
                    reply = control.handle(sandbox, self.command, path, body)
                else:
                    reply = Reply(404, error_payload(404, "Not Found"))
        except Exception:
            # docs/openrouter.md#status-codes: a 500's message is masked; ours too (no traceback, ever). The request may not
            # have been read to its end, so the connection cannot be reused.
            self.close_connection = True
            reply = Reply(500, error_payload(500, "Internal Server Error"))
        if record is not None:
            record.status = None if reply.drop else reply.status
        try:
            self._send(reply, started, answering)
        except (OSError, ValueError):  # the client went away
            self.close_connection = True
        return started, reply

    def _read_body(self) -> bytes:
        limit = self.server.sandbox.config.max_body_bytes
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            return b""
        try:
            length = int(length_header)
        except ValueError:
            raise _BodyError(400, "Invalid Content-Length") from None
        if length < 0:
            raise _BodyError(400, "Invalid Content-Length")
        if length > limit:
            # docs/openrouter.md#status-codes: the 413 body, verbatim.
            raise _BodyError(413, "Request payload too large")
        return self.rfile.read(length)

    def _read_chunked(self, limit: int) -> bytes:
        """A chunked body, strictly: each size is hex digits (a `-1`, a `+a` or a blank is a
        400), each line ends in CRLF within 1 KiB, each chunk is followed by CRLF, and the body
        and its trailers are bounded, so a malformed or endless body is refused without reading
        it to the end."""
        parts: list[bytes] = []
        total = 0
        while True:
            size = _chunk_size(self.rfile.readline(1024))
            if size == 0:
                for _ in range(64):  # trailers: a bounded number of bounded lines
                    line = self.rfile.readline(1024)
                    if line in (b"\r\n", b"\n"):
                        return b"".join(parts)
                    if not line.endswith(b"\n"):
                        break
                raise _BodyError(400, "Invalid chunked body")
            total += size
            if total > limit:
                raise _BodyError(413, "Request payload too large")
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BodyError(400, "Invalid chunked body")
            parts.append(data)

    def _send(
        self, reply: Reply, started: float, answering: Callable[[], None] | None = None
    ) -> None:
        stopping = self.server.stopping
        body = None if reply.drop else reply.body_bytes()  # encoded while the generation "runs"
        wait = reply.delay + max(0.0, reply.latency - (time.monotonic() - started))
        if wait > 0 and stopping.wait(wait):
            self.close_connection = True
            return
        if answering is not None:
            answering()
        if reply.drop:
            self._hang_up()
            return
        head_only = self.command == "HEAD"
        chunked = self.request_version != "HTTP/1.0"
        if not chunked:
            self.close_connection = True
        self._write(reply, head_only=head_only, chunked=chunked, body=body)

    def _write(
        self, reply: Reply, *, head_only: bool, chunked: bool, body: bytes | None = None
    ) -> None:
        if head_only:
            body = b""
        elif body is None:
            body = reply.body_bytes()
        lines = [
            f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {reply.content_type}",
        ]
        if reply.events is not None:
            lines.append("Cache-Control: no-cache")
        lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
        if self.close_connection or reply.drop_after_headers:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        out = self.wfile
        if head_only:
            out.write(head)
            return
        if reply.drop_after_headers:
            part = body[: max(1, len(body) // 2)]
            out.write(head + (_chunk(part) if chunked else part))
            self._hang_up()
            return
        if not chunked:
            out.write(head + body)
            return
        if reply.events is not None and reply.drip is None:
            out.write(head)
            for event in reply.events:
                out.write(_chunk(event))
            out.write(b"0\r\n\r\n")
            return
        if reply.drip is not None:
            size, interval = reply.drip
            out.write(head)
            for start in range(0, len(body), size):
                out.write(_chunk(body[start : start + size]))
                if interval and self.server.stopping.wait(interval):
                    self._hang_up()
                    return
            out.write(b"0\r\n\r\n")
            return
        out.write(head + (_chunk(body) if body else b"") + b"0\r\n\r\n")

    def _hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, sandbox: Sandbox, started: float, reply: Reply) -> None:
        callback = sandbox.config.on_request
        if callback is None:
            return
        entry = AccessLogEntry(
            method=self.command or "?",
            path=self.path,
            status=None if reply.drop else reply.status,
            elapsed_ms=(time.monotonic() - started) * 1000,
            fault=reply.note or None,
        )
        with contextlib.suppress(Exception):
            callback(entry)


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


def _chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (extensions after `;` ignored); 400 unless it is hex digits
    on a whole line."""
    size = line.split(b";", 1)[0].strip(b" \t\r\n")
    if not line.endswith(b"\n") or _CHUNK_SIZE.fullmatch(size) is None:
        raise _BodyError(400, "Invalid chunked body")
    return int(size, 16)


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _reason(status: int) -> str:
    if status in EXTRA_REASONS:
        return EXTRA_REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _masked_headers(headers: dict[str, str]) -> dict[str, str]:
    masked = dict(headers)
    if "authorization" in masked:
        masked["authorization"] = mask_authorization(masked["authorization"])
    return masked


def _parse_for_log(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
