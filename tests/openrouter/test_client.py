"""The client against httpx.MockTransport: attempts counted, sleeps recorded, nothing waits."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import httpx
import pytest
from PIL import Image

from flux_cli.credentials import ApiKey
from flux_cli.errors import ConfigError, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient, RetryNotice
from flux_cli.openrouter.wire import ImageRequest
from tests.conftest import CANARY_KEY

BASE = "https://openrouter.test/api/v1"
REQUEST = ImageRequest(
    model="black-forest-labs/flux.2-pro", prompt="a red fox", seed=7, aspect_ratio="1:1"
)


def _jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


def _ok_body(data: bytes | None = None, cost: str = "0.03") -> bytes:
    b64 = base64.b64encode(data if data is not None else _jpeg()).decode()
    return (
        f'{{"created":0,"data":[{{"b64_json":"{b64}","media_type":"image/jpeg"}}],'
        f'"usage":{{"prompt_tokens":3,"completion_tokens":4096,"total_tokens":4099,"cost":{cost}}}}}'
    ).encode()


def _ok(data: bytes | None = None, cost: str = "0.03") -> httpx.Response:
    return httpx.Response(
        200,
        content=_ok_body(data, cost),
        headers={
            "content-type": "application/json",
            "x-generation-id": "gen-img-1-abc",
            "x-provider-name": "Black Forest Labs",
        },
    )


def _err(
    status: int, message: str = "boom", headers: dict[str, str] | None = None, **extra: object
) -> httpx.Response:
    error: dict[str, object] = {"code": status, "message": message, **extra}
    return httpx.Response(status, json={"error": error}, headers=headers or {})


class Harness:
    def __init__(
        self,
        responses: list[httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]],
    ) -> None:
        self.responses = responses
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.notices: list[RetryNotice] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if isinstance(item, Exception):
            raise item
        if callable(item):
            return item(request)
        return item

    def client(self, **kwargs: object) -> OpenRouterClient:
        return OpenRouterClient(
            BASE,
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(self.handler),
            sleep=self.sleeps.append,
            rand=lambda: 0.0,
            on_retry=self.notices.append,
            **kwargs,  # type: ignore[arg-type]
        )

    def generate(self, route: str = "images", **kwargs: object) -> object:
        with self.client(**kwargs) as client:
            return client.generate(REQUEST, route)


def _assert_no_canary(exc: BaseException) -> None:
    text = f"{exc} {exc!r} {getattr(exc, 'hint', '')}"
    assert CANARY_KEY not in text
    assert CANARY_KEY[9:] not in text


def test_success_returns_image_cost_and_ids() -> None:
    h = Harness([_ok()])
    result = h.generate()
    assert result.format == "jpeg"  # type: ignore[attr-defined]
    assert (result.width, result.height) == (64, 48)  # type: ignore[attr-defined]
    assert result.cost_micros == 30_000  # type: ignore[attr-defined]
    assert result.generation_id == "gen-img-1-abc"  # type: ignore[attr-defined]
    assert result.provider == "Black Forest Labs"  # type: ignore[attr-defined]
    assert result.attempts == 1  # type: ignore[attr-defined]
    sent = h.requests[0]
    assert sent.url == httpx.URL(BASE + "/images")
    assert sent.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert sent.headers["x-openrouter-title"] == "flux2"
    assert json.loads(sent.content) == {
        "model": "black-forest-labs/flux.2-pro",
        "prompt": "a red fox",
        "n": 1,
        "aspect_ratio": "1:1",
        "seed": 7,
    }


def test_429_then_success_honours_retry_after() -> None:
    h = Harness([_err(429, "Rate limit exceeded", headers={"Retry-After": "2"}), _ok()])
    result = h.generate()
    assert len(h.requests) == 2
    assert h.sleeps == [2.0]
    assert result.attempts == 2  # type: ignore[attr-defined]
    assert h.notices
    assert h.notices[0].attempt == 1


def test_429_forever_gives_up_after_the_retries_with_exit_8() -> None:
    h = Harness([_err(429, "Rate limit exceeded")])
    with pytest.raises(E.UnavailableError) as info:
        h.generate()
    assert len(h.requests) == 3
    assert h.sleeps == [0.5, 1.0]
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "3 attempts" in info.value.message
    assert "nothing was billed" in info.value.message


def test_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    h = Harness([_err(429, "slow down", headers={"Retry-After": "3600"})])
    with pytest.raises(E.UnavailableError) as info:
        h.generate()
    assert len(h.requests) == 1
    assert h.sleeps == []
    assert "60 min" in (info.value.hint or "")


def test_retryable_false_in_the_body_stops_retries() -> None:
    h = Harness([_err(429, "capacity", availability={"code": "x", "retryable": False})])
    with pytest.raises(E.UnavailableError):
        h.generate()
    assert len(h.requests) == 1


@pytest.mark.parametrize("status", [408, 502, 503, 529])
def test_unbilled_failures_are_retried(status: int) -> None:
    h = Harness([_err(status, "Provider returned error"), _ok()])
    h.generate()
    assert len(h.requests) == 2


@pytest.mark.parametrize("status", [500, 504, 524])
def test_ambiguous_statuses_are_not_retried_by_default(status: int) -> None:
    h = Harness([_err(status, "Internal Server Error"), _ok()])
    with pytest.raises(E.ServerOutcomeUnknownError) as info:
        h.generate()
    assert len(h.requests) == 1
    assert info.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert "may have been billed" in info.value.message


def test_retry_ambiguous_allows_exactly_one_more_attempt() -> None:
    h = Harness([_err(500, "x"), _err(500, "x"), _ok()])
    with pytest.raises(E.ServerOutcomeUnknownError):
        h.generate(retry_ambiguous=1)
    assert len(h.requests) == 2


def test_524_html_page_is_parsed_safely() -> None:
    page = httpx.Response(
        524,
        content=b"<html><body>A timeout occurred</body></html>",
        headers={"content-type": "text/html"},
    )
    h = Harness([page])
    with pytest.raises(E.ServerOutcomeUnknownError) as info:
        h.generate()
    assert "<html>" not in info.value.message


def test_read_timeout_after_sending_is_outcome_unknown_with_one_request() -> None:
    h = Harness([httpx.ReadTimeout("timed out")])
    with pytest.raises(E.OutcomeUnknownError) as info:
        h.generate()
    assert len(h.requests) == 1
    assert info.value.exit_code == ExitCode.OUTCOME_UNKNOWN
    assert "may have been billed" in info.value.message


def test_connection_refused_is_retried_then_exit_8() -> None:
    h = Harness([httpx.ConnectError("connection refused")])
    with pytest.raises(E.ConnectionFailedError) as info:
        h.generate()
    assert len(h.requests) == 3
    assert info.value.exit_code == ExitCode.UNAVAILABLE
    assert "nothing was sent" in info.value.message


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (_err(401, "User not found."), E.AuthenticationError, ExitCode.AUTH),
        (
            _err(402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
            E.PaymentRequiredError,
            ExitCode.CREDITS,
        ),
        (
            _err(403, "Only management keys can perform this operation"),
            E.AuthenticationError,
            ExitCode.AUTH,
        ),
        (
            _err(
                403,
                "flagged",
                metadata={
                    "reasons": ["violence"],
                    "flagged_input": "a...x",
                    "provider_name": "p",
                    "model_slug": "m",
                },
            ),
            E.ModerationError,
            ExitCode.MODERATION,
        ),
        (
            _err(
                400,
                "Provider returned error",
                metadata={"raw": "Request Moderated", "provider_name": "Black Forest Labs"},
            ),
            E.ModerationError,
            ExitCode.MODERATION,
        ),
        (
            _err(400, "No provider supports the requested parameter(s): n"),
            E.BadRequestError,
            ExitCode.USAGE,
        ),
        (_err(404, "No endpoints found"), E.BadRequestError, ExitCode.USAGE),
        (_err(413, "Request payload too large"), E.BadRequestError, ExitCode.USAGE),
    ],
)
def test_final_errors_are_not_retried(
    response: httpx.Response, error: type[E.OpenRouterError], code: ExitCode
) -> None:
    h = Harness([response])
    with pytest.raises(error) as info:
        h.generate()
    assert len(h.requests) == 1
    assert info.value.exit_code == code
    _assert_no_canary(info.value)


def test_402_in_flight_budget_is_retried() -> None:
    h = Harness(
        [_err(402, "in flight", metadata={"limit_source": "openrouter_in_flight_budget"}), _ok()]
    )
    h.generate()
    assert len(h.requests) == 2


def test_error_inside_a_200_body_is_a_bad_response() -> None:
    body = {"error": {"code": 502, "message": "Provider returned error"}, "user_id": "user_1"}
    h = Harness([httpx.Response(200, json=body, headers={"x-generation-id": "gen-img-9"})])
    with pytest.raises(E.BadResponseError) as info:
        h.generate()
    assert len(h.requests) == 1
    assert info.value.exit_code == ExitCode.BAD_RESPONSE
    assert "gen-img-9" in info.value.message


def test_moderation_inside_a_200_body_is_exit_6() -> None:
    body = {
        "error": {
            "code": "content_policy_violation",
            "message": "Content Moderated",
            "metadata": {"error_type": "content_policy_violation"},
        }
    }
    h = Harness([httpx.Response(200, json=body)])
    with pytest.raises(E.ModerationError):
        h.generate()


@pytest.mark.parametrize(
    "body",
    [
        {"created": 0, "data": []},
        {"created": 0},
        {"created": 0, "data": [{"b64_json": ""}]},
        {"created": 0, "data": [{"b64_json": None}]},
        {"created": 0, "data": ["x"]},
        [1, 2],
    ],
)
def test_bodies_without_an_image_are_bad_responses(body: object) -> None:
    h = Harness([httpx.Response(200, json=body)])
    with pytest.raises(E.BadResponseError) as info:
        h.generate()
    assert info.value.exit_code == ExitCode.BAD_RESPONSE


def test_empty_data_keeps_the_reported_cost() -> None:
    h = Harness([httpx.Response(200, json={"created": 0, "data": [], "usage": {"cost": 0.03}})])
    with pytest.raises(E.BadResponseError) as info:
        h.generate()
    assert info.value.cost_micros == 30_000


@pytest.mark.parametrize(
    "b64",
    [
        "!!!!" + base64.b64encode(_jpeg()).decode(),
        base64.b64encode(_jpeg()).decode()[:-3],
        "aGVsbG8=\nd29ybGQ=",
    ],
)
def test_corrupt_base64_is_refused_strictly(b64: str) -> None:
    body = {"created": 0, "data": [{"b64_json": b64, "media_type": "image/jpeg"}]}
    h = Harness([httpx.Response(200, json=body)])
    with pytest.raises(E.BadResponseError) as info:
        h.generate()
    assert info.value.exit_code == ExitCode.BAD_RESPONSE


def test_bytes_that_are_not_an_image_are_refused_and_kept_for_rescue() -> None:
    junk = b"GIF89a" + b"\x00" * 64
    h = Harness([_ok(junk)])
    with pytest.raises(E.BadResponseError) as info:
        h.generate()
    assert info.value.raw == junk


def test_media_type_that_lies_is_overruled_by_the_bytes() -> None:
    body = json.loads(_ok_body())
    body["data"][0]["media_type"] = "image/png"
    h = Harness([httpx.Response(200, json=body)])
    result = h.generate()
    assert result.format == "jpeg"  # type: ignore[attr-defined]
    assert result.media_type == "image/png"  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefix", [b"\n\n\n", b"   \r\n  "])
def test_leading_whitespace_before_json_is_accepted(prefix: bytes) -> None:
    h = Harness(
        [
            httpx.Response(
                200, content=prefix + _ok_body(), headers={"content-type": "application/json"}
            )
        ]
    )
    assert h.generate().cost_micros == 30_000  # type: ignore[attr-defined]


@pytest.mark.parametrize("cost", ["NaN", "Infinity", "1e999"])
def test_non_finite_numbers_never_become_money(cost: str) -> None:
    h = Harness(
        [
            httpx.Response(
                200, content=_ok_body(cost=cost), headers={"content-type": "application/json"}
            )
        ]
    )
    try:
        result = h.generate()
    except E.BadResponseError:
        return
    assert result.cost_micros is None  # type: ignore[attr-defined]


def test_fractional_token_counts_are_accepted() -> None:
    body = json.loads(_ok_body())
    body["usage"]["completion_tokens"] = 14417.92
    h = Harness([httpx.Response(200, json=body)])
    assert str(h.generate().usage.completion_tokens) == "14417.92"  # type: ignore[attr-defined]


def test_html_200_is_a_bad_response() -> None:
    h = Harness(
        [
            httpx.Response(
                200, content=b"<html>captive portal</html>", headers={"content-type": "text/html"}
            )
        ]
    )
    with pytest.raises(E.BadResponseError, match="not JSON"):
        h.generate()


def test_redirects_are_not_followed_and_the_key_goes_nowhere_else() -> None:
    h = Harness([httpx.Response(302, headers={"location": "https://evil.example/steal"})])
    with pytest.raises(E.BadRequestError, match="redirect"):
        h.generate()
    assert [r.url.host for r in h.requests] == ["openrouter.test"]


def test_chat_route_body_and_data_url() -> None:
    data_url = "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode()
    chat = {
        "id": "gen-1-chat",
        "object": "chat.completion",
        "created": 1,
        "model": "black-forest-labs/flux.2-pro",
        "provider": "Black Forest Labs",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "images": [{"type": "image_url", "image_url": {"url": data_url}}],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 3,
            "completion_tokens": 4096,
            "total_tokens": 4099,
            "cost": 0.03,
        },
    }
    h = Harness([httpx.Response(200, json=chat)])
    result = h.generate(route="chat")
    assert result.generation_id == "gen-1-chat"  # type: ignore[attr-defined]
    assert result.route == "chat"  # type: ignore[attr-defined]
    sent = json.loads(h.requests[0].content)
    assert h.requests[0].url.path == "/api/v1/chat/completions"
    assert sent["modalities"] == ["image"]
    assert sent["image_config"] == {"aspect_ratio": "1:1"}
    assert sent["messages"] == [{"role": "user", "content": "a red fox"}]


def test_chat_route_downloads_an_https_image_without_the_key() -> None:
    chat = {
        "id": "gen-2",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "images": [{"image_url": {"url": "https://cdn.example/img.jpg"}}],
                },
            }
        ],
        "usage": {"cost": 0.03},
    }

    def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "cdn.example":
            assert "authorization" not in request.headers
            return httpx.Response(200, content=_jpeg())
        return httpx.Response(200, json=chat)

    h = Harness([route])
    result = h.generate(route="chat")
    assert result.format == "jpeg"  # type: ignore[attr-defined]
    assert [r.url.host for r in h.requests] == ["openrouter.test", "cdn.example"]


def test_chat_route_refuses_plain_http_image_urls_off_this_machine() -> None:
    chat = {
        "id": "g",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "images": [{"image_url": {"url": "http://10.0.0.1/x.jpg"}}],
                },
            }
        ],
    }
    h = Harness([httpx.Response(200, json=chat)])
    with pytest.raises(E.BadResponseError, match="will not fetch"):
        h.generate(route="chat")
    assert len(h.requests) == 1


def test_plain_http_base_url_is_refused_unless_loopback() -> None:
    with pytest.raises(UsageError, match="https"):
        OpenRouterClient("http://openrouter.ai/api/v1", ApiKey(CANARY_KEY, "t"))
    OpenRouterClient("http://127.0.0.1:9/api/v1", ApiKey(CANARY_KEY, "t")).close()


def test_key_with_illegal_characters_never_reaches_an_error_message() -> None:
    """A key with a newline would put itself into httpx's LocalProtocolError (docs/reliability.md#hostile-input)."""
    from flux_cli.credentials import normalise_key

    assert normalise_key(CANARY_KEY + "\n", "test") == CANARY_KEY
    with pytest.raises(ConfigError) as info:
        normalise_key("sk-or-v1-abc def", "test")
    assert "abc" not in str(info.value)


def test_a_plain_http_client_loads_no_ca_bundle_and_could_never_skip_verification() -> None:
    """http:// (a sandbox on loopback) never speaks TLS, so the CA bundle is not loaded; the
    context it holds still demands verified certificates and trusts none, so a TLS connection
    through it could only fail. https:// gets httpx's default, verified transport."""
    import ssl

    from flux_cli.http_client import plain_http_transport

    assert plain_http_transport("https://openrouter.ai/api/v1") is None
    transport = plain_http_transport("http://127.0.0.1:8788/api/v1")
    assert transport is not None
    context = transport._pool._ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0
    client = OpenRouterClient("http://127.0.0.1:8788/api/v1", ApiKey(CANARY_KEY, "test"))
    client.close()


def test_lanes_are_separate_connection_pools_sharing_one_tls_context(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch sends each of its K requests at once through its own pool: threads sharing one
    pool queue on its lock. Over https the lanes share one TLS context (one CA bundle load)."""
    built: list[object] = []
    real = httpx.create_ssl_context

    def counting(*args: object, **kwargs: object) -> object:
        built.append(real(*args, **kwargs))  # type: ignore[arg-type]
        return built[-1]

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    client = OpenRouterClient(BASE, ApiKey(CANARY_KEY, "test"), lanes=3)
    pools = [lane._transport._pool for lane in client._lanes]  # type: ignore[attr-defined]
    assert len({id(pool) for pool in pools}) == 3
    assert len(built) == 1  # shared (each httpx client would otherwise build its own)
    assert {id(pool._ssl_context) for pool in pools} == {id(built[0])}
    client.close()
    assert all(lane.is_closed for lane in client._lanes)

    plain = OpenRouterClient("http://127.0.0.1:8788/api/v1", ApiKey(CANARY_KEY, "t"), lanes=2)
    assert plain._lanes[0]._transport is not plain._lanes[1]._transport
    plain.close()


def test_each_lane_sends_and_a_lane_is_used_as_asked() -> None:
    seen: list[int] = []
    transports = []
    for number in range(2):

        def handler(request: httpx.Request, number: int = number) -> httpx.Response:
            seen.append(number)
            return _ok()

        transports.append(httpx.MockTransport(handler))
    client = OpenRouterClient(BASE, ApiKey(CANARY_KEY, "test"), transport=transports[0], lanes=2)
    client._lanes[1]._transport = transports[1]  # tell the lanes apart
    for lane in (1, 0, 1):
        result = client.generate(REQUEST, lane=lane)
        assert result.width == 64
    assert seen == [1, 0, 1]
    client.close()


def test_a_huge_retry_after_is_capped_in_the_message_and_not_waited_for() -> None:
    h = Harness([_err(429, "slow down", headers={"Retry-After": "1e20"})])
    with pytest.raises(E.UnavailableError) as info:
        h.generate()
    assert len(h.requests) == 1
    assert h.sleeps == []
    text = f"{info.value.message} {info.value.hint}"
    assert "a day or more" in text
    assert "1666666" not in text
    assert "e+20" not in text
