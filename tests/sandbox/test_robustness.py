"""Garbage in, JSON out: no traceback and no HTML page, whatever a client sends."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig
from tests.sandbox.helpers import KLEIN, PRO


def raw_exchange(sandbox: Sandbox, data: bytes) -> bytes:
    """Send raw bytes, read until the server closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", sandbox.port), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def assert_clean(payload: bytes) -> None:
    lowered = payload.lower()
    assert b"<html" not in lowered
    assert b"<!doctype" not in lowered
    assert b"traceback" not in lowered
    assert b'file "' not in lowered


@pytest.mark.parametrize(
    "data",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /api/v1/key HTTP/1.1\r\nBroken header line\r\n\r\n",
        b"BREW /api/v1/images HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n",
        b"POST /api/v1/images HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"POST /api/v1/images HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        b"POST /api/v1/images HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on plain http
        b"GET /api/v1/key HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n",
    ],
)
def test_malformed_requests_get_json_errors(sandbox: Sandbox, data: bytes) -> None:
    answer = raw_exchange(sandbox, data)
    assert_clean(answer)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith((b"HTTP/1.1 4", b"HTTP/1.1 5"))
    assert b"Content-Type: application/json" in head
    assert b'"error"' in body


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"a string"', "application/json"),
        (b"\xff\xfe\x00garbage", "application/octet-stream"),
        (b"", "application/json"),
        (b"model=x&prompt=y", "application/x-www-form-urlencoded"),
    ],
)
@pytest.mark.parametrize("path", ["/images", "/chat/completions"])
def test_bad_bodies_are_400_envelopes(
    client: httpx.Client, path: str, content: bytes, content_type: str
) -> None:
    response = client.post(path, content=content, headers={"Content-Type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == 400
    assert_clean(response.content)


def test_json_is_read_whatever_the_content_type(client: httpx.Client) -> None:
    response = client.post(
        "/images",
        content=b'{"model": "%s", "prompt": "x"}' % KLEIN.encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/v1",
        "/api/v1/",
        "/api/v1/images/generations",
        "/favicon.ico",
        "/api/v2/images",
        "/api/v1/nope",
    ],
)
def test_unknown_paths_are_json_404(anon: httpx.Client, sandbox: Sandbox, path: str) -> None:
    response = anon.get(sandbox.root_url + path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404
    assert_clean(response.content)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/images", "POST"),
        ("PUT", "/chat/completions", "POST"),
        ("DELETE", "/key", "GET"),
        ("POST", "/models", "GET"),
        ("PATCH", "/images/models", "GET"),
        ("OPTIONS", "/credits", "GET"),
    ],
)
def test_wrong_methods_are_json_405(anon: httpx.Client, method: str, path: str, allow: str) -> None:
    response = anon.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.json() == {"error": {"message": "Method Not Allowed", "code": 405}}


def test_head_has_no_body(anon: httpx.Client) -> None:
    response = anon.head("/images/models")
    assert response.status_code == 200
    assert response.content == b""


def test_http_1_0_gets_a_content_length(sandbox: Sandbox) -> None:
    answer = raw_exchange(sandbox, b"GET /api/v1/images/models HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Length: %d" % len(body) in head
    assert b"Transfer-Encoding" not in head


def test_a_chunked_upload_is_read(sandbox: Sandbox) -> None:
    body = b'{"model": "%s", "prompt": "chunked"}' % KLEIN.encode()
    request = (
        b"POST /api/v1/images HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Authorization: Bearer " + SANDBOX_KEY.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    assert raw_exchange(sandbox, request).startswith(b"HTTP/1.1 200 OK")


@pytest.fixture
def small_sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(max_body_bytes=4096)) as sb:
        yield sb


def test_a_body_over_the_cap_is_413(small_sandbox: Sandbox) -> None:
    response = httpx.post(
        small_sandbox.base_url + "/images",
        json={"model": PRO, "prompt": "x" * 5000},
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
    )
    assert response.status_code == 413
    assert response.json() == {"error": {"message": "Request payload too large", "code": 413}}
    assert response.headers["connection"] == "close"


def test_a_declared_huge_body_is_refused_before_it_is_read(sandbox: Sandbox) -> None:
    answer = raw_exchange(
        sandbox, b"POST /api/v1/images HTTP/1.1\r\nContent-Length: 999999999999\r\n\r\n{"
    )
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"Request payload too large" in answer


def test_a_crash_inside_a_route_is_a_masked_500(client: httpx.Client, sandbox: Sandbox) -> None:
    def explode(*_: object) -> None:
        raise RuntimeError("secret internals")

    assert sandbox.api is not None
    sandbox.api._handlers["key"] = explode  # type: ignore[assignment]
    response = client.get("/key")
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "Internal Server Error", "code": 500}}
    assert b"secret" not in response.content
    assert client.get("/credits").status_code == 200  # the connection and server live on


def test_the_server_survives_clients_that_hang_up(sandbox: Sandbox) -> None:
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", sandbox.port)) as sock:
            sock.sendall(b"POST /api/v1/images HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    assert httpx.get(sandbox.base_url + "/images/models").status_code == 200


def test_control_plane_errors_are_json(sandbox: Sandbox) -> None:
    for method, path in [
        ("GET", "/_sandbox"),
        ("PUT", "/_sandbox/faults"),
        ("GET", "/_sandbox/files/x.jpg"),
    ]:
        response = httpx.request(method, sandbox.root_url + path)
        assert response.status_code in (404, 405)
        assert response.json()["error"]
    bad = httpx.post(sandbox.root_url + "/_sandbox/faults", content=b"{oops")
    assert bad.status_code == 400
