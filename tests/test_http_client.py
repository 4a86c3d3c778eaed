"""The HTTP client factory: one User-Agent, one capped reader, and a wall-clock deadline that holds
against servers that drip their headers or their image one byte at a time."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from flux_cli import __version__, http_client
from flux_cli.credentials import ApiKey
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient, Timeouts
from flux_cli.openrouter.wire import ImageRequest
from tests.conftest import CANARY_KEY
from tests.faults.conftest import DripServer

REQUEST = ImageRequest(model="black-forest-labs/flux.2-pro", prompt="a fox", seed=1)


def _endless_headers(_method: str, _path: str) -> bytes:
    return b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 10_000


def _client(base_url: str, attempt: float, **kwargs: object) -> OpenRouterClient:
    return OpenRouterClient(
        base_url,
        ApiKey(CANARY_KEY, "test"),
        timeouts=Timeouts(attempt=attempt),
        max_retries=0,
        sleep=lambda _s: None,
        **kwargs,  # type: ignore[arg-type]
    )


def test_headers_sent_one_byte_at_a_time_end_at_the_attempt_limit() -> None:
    with DripServer(_endless_headers) as server:
        started = time.monotonic()
        with (
            pytest.raises(E.OutcomeUnknownError) as info,
            _client(server.base_url, 0.6) as client,
        ):
            client.generate(REQUEST)
        elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 1.0, elapsed
    assert "no answer within 0.6 s (--timeout)" in info.value.message
    assert info.value.exit_code == 9  # sent, no answer: may have been billed


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 200, 10)).save(buf, "JPEG")
    return buf.getvalue()


def test_the_chat_routes_image_download_counts_within_the_same_attempt() -> None:
    image = _jpeg()

    def reply(_method: str, _path: str) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n"
            + f"Content-Length: {len(image) * 100}\r\n\r\n".encode()
            + image * 100
        )

    with DripServer(reply) as cdn:
        chat = {
            "choices": [
                {
                    "message": {
                        "role": "assistant",
                        "images": [{"image_url": {"url": cdn.root_url + "/img.jpg"}}],
                    }
                }
            ],
            "usage": {"cost": 0.03},
        }
        body = json.dumps(chat).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        with DripServer(lambda _m, _p: head.encode() + b"\r\n\r\n" + body, every=0) as api:
            started = time.monotonic()
            with (
                pytest.raises(E.BadResponseError) as info,
                _client(api.base_url, 0.6) as client,
            ):
                client.generate(REQUEST, "chat")
        elapsed = time.monotonic() - started
    assert elapsed < 0.6 + 1.0, elapsed
    assert "limit" in info.value.message
    assert cdn.requests == [("GET", "/img.jpg")]
    assert info.value.cost_micros == 30_000  # billed: the charge is kept for the ledger


def test_deadlines_nest_and_an_inner_one_never_extends_the_outer() -> None:
    assert http_client.time_left() is None
    now = time.monotonic()
    with http_client.deadline(now + 5):
        with http_client.deadline(now + 50):
            left = http_client.time_left()
            assert left is not None
            assert left <= 5
        with http_client.deadline(now - 1):
            assert http_client.deadline_passed()
        assert not http_client.deadline_passed()
    assert http_client.time_left() is None


def test_one_user_agent_with_the_version_everywhere() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["user-agent"])
        return httpx.Response(200, content=_jpeg())

    transport = httpx.MockTransport(handler)
    with http_client.make_client(transport=transport, timeout=5) as client:
        client.get("https://example.test/")
    from flux_cli import inputs

    inputs.download("https://example.test/x.jpg", transport=transport)
    assert seen == [f"flux2/{__version__}"] * 2


def test_the_capped_reader_keeps_nothing_past_the_cap() -> None:
    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    with (
        http_client.make_client(transport=httpx.MockTransport(handler), timeout=5) as client,
        client.stream("GET", "https://example.test/") as response,
        pytest.raises(http_client.BodyTooLarge),
    ):
        http_client.read_capped(response, 4096)
    with (
        http_client.make_client(transport=httpx.MockTransport(handler), timeout=5) as client,
        client.stream("GET", "https://example.test/") as response,
    ):
        assert http_client.read_capped(response, 5000) == b"x" * 5000


def test_a_base64_image_with_line_breaks_is_kept_for_rescue() -> None:
    image = _jpeg()
    wrapped = base64.encodebytes(image).decode()  # MIME style: a line break every 76 characters
    assert "\n" in wrapped
    body = {"data": [{"b64_json": wrapped}], "usage": {"cost": 0.03}}

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
        )

    with (
        pytest.raises(E.BadResponseError) as info,
        OpenRouterClient(
            "https://openrouter.test/api/v1",
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(handler),
        ) as client,
    ):
        client.generate(REQUEST)
    assert info.value.raw == image  # the paid bytes, for the rescue dir
    assert info.value.cost_micros == 30_000


@pytest.fixture(autouse=True)
def _no_leftover_deadline() -> Iterator[None]:
    yield
    assert http_client.time_left() is None
