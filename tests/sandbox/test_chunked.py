"""The sandbox's chunked-body reader: a malformed chunk gets a 400 at once, never a read to EOF."""

from __future__ import annotations

import contextlib
import socket
import time

import pytest

from flux_cli.sandbox import SANDBOX_KEY, Sandbox
from tests.sandbox.helpers import KLEIN

HEAD = (
    b"POST /api/v1/images HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
    + SANDBOX_KEY.encode()
    + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def _answer_while_the_client_keeps_sending(sandbox: Sandbox, data: bytes) -> bytes:
    """Send `data`, then keep the connection open and keep sending: the server must answer
    without waiting for the end of the stream."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(0.05)
        answer = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and b"\r\n\r\n" not in answer:
            with contextlib.suppress(OSError):
                sock.sendall(b"x" * 4096)  # more body, for as long as the server reads it
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "body",
    [
        b"-1\r\n",  # a negative size once meant "read to the end of the stream"
        b"+a\r\n",
        b"-0\r\n",
        b"0x10\r\n",
        b" \r\n",
        b"a" * 20 + b"\r\n",  # past 16 hex digits
        b"5\r\nhelloXX",  # no CRLF after the chunk's data
    ],
)
def test_a_malformed_chunk_gets_a_400_without_reading_to_eof(sandbox: Sandbox, body: bytes) -> None:
    started = time.monotonic()
    answer = _answer_while_the_client_keeps_sending(sandbox, HEAD + body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b'"error"' in answer
    assert time.monotonic() - started < 4
    assert sandbox.requests == [] or all(r.status == 400 for r in sandbox.requests)


def test_a_well_formed_chunked_body_with_extensions_and_trailers_is_read(sandbox: Sandbox) -> None:
    payload = b'{"model": "%s", "prompt": "chunked"}' % KLEIN.encode()
    half = len(payload) // 2
    body = (
        b"%x;name=value\r\n" % half
        + payload[:half]
        + b"\r\n"
        + b"%X\r\n" % (len(payload) - half)
        + payload[half:]
        + b"\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=10) as sock:
        sock.sendall(HEAD + body)
        answer = b""
        while b"\r\n0\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
