"""Key, credits and generation lookups: against the sandbox, and odd shapes via MockTransport."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from flux_cli.credentials import ApiKey
from flux_cli.exit_codes import ExitCode
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.account import (
    Credits,
    GenerationInfo,
    KeyInfo,
    Unavailable,
    credits,
    generation,
    key_info,
)
from flux_cli.openrouter.client import OpenRouterClient, RetryNotice
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sandbox import SANDBOX_KEY, Fault, Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY

BASE = "https://openrouter.test/api/v1"
PRO = "black-forest-labs/flux.2-pro"


# -- against the sandbox ----------------------------------------------------------------------------


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[OpenRouterClient]:
    with OpenRouterClient(sandbox.base_url, ApiKey(SANDBOX_KEY, "test"), sleep=lambda _: None) as c:
        yield c


def _generate(client: OpenRouterClient) -> str:
    result = client.generate(ImageRequest(model=PRO, prompt="a lighthouse", seed=3))
    assert result.generation_id is not None
    return result.generation_id


def test_key_info_from_the_sandbox(client: OpenRouterClient) -> None:
    before = key_info(client)
    assert before.label == "sk-or-v1-san...000"
    assert before.unlimited
    assert before.limit_remaining_micros is None
    assert before.usage_micros == 0
    assert before.is_free_tier is False
    assert before.is_management_key is False
    _generate(client)
    after = key_info(client)
    assert after.usage_micros == 30_000
    assert after.usage_daily_micros == after.usage_monthly_micros == 30_000


def test_credits_from_the_sandbox(client: OpenRouterClient) -> None:
    _generate(client)
    balance = credits(client)
    assert balance == Credits(total_micros=10_000_000, usage_micros=30_000)
    assert isinstance(balance, Credits)
    assert balance.remaining_micros == 9_970_000


def test_credits_for_a_non_management_key_degrade(
    client: OpenRouterClient, sandbox: Sandbox
) -> None:
    sandbox.push_fault("credits", Fault(status=403, variant="management"))
    answer = credits(client)
    assert isinstance(answer, Unavailable)
    assert answer.status == 403
    assert "management keys" in answer.reason
    assert [r.route for r in sandbox.requests].count("credits") == 1  # a 403 is not retried


def test_credits_with_a_refused_key_degrade(client: OpenRouterClient, sandbox: Sandbox) -> None:
    sandbox.push_fault("credits", Fault(status=401))
    answer = credits(client)
    assert isinstance(answer, Unavailable)
    assert answer.status == 401


def test_credits_other_errors_are_raised(client: OpenRouterClient, sandbox: Sandbox) -> None:
    sandbox.set_rule("credits", Fault(status=503, times=3))
    with pytest.raises(E.UnavailableError) as caught:
        credits(client)
    assert caught.value.attempts == 3
    assert caught.value.exit_code == ExitCode.UNAVAILABLE


def test_generation_from_the_sandbox(client: OpenRouterClient) -> None:
    gen_id = _generate(client)
    info = generation(client, gen_id)
    assert info is not None
    assert info.id == gen_id
    assert info.total_cost_micros == 30_000
    assert info.provider == "Black Forest Labs"
    assert info.model == PRO
    assert info.api_type == "image"
    assert info.finish_reason == "complete"
    assert info.tokens_completion == 4096
    assert info.created_at is not None
    assert info.created_at.tzinfo is not None


def test_a_generation_not_known_yet_is_none() -> None:
    with (
        Sandbox(SandboxConfig(port=0, generation_delay=3600)) as sb,
        OpenRouterClient(sb.base_url, ApiKey(SANDBOX_KEY, "test")) as client,
    ):
        gen_id = _generate(client)
        assert generation(client, gen_id) is None
        assert [r.route for r in sb.requests].count("generation") == 1  # 404: not retried


def test_an_unknown_generation_is_none(client: OpenRouterClient) -> None:
    assert generation(client, "gen-img-0-nothing") is None


def test_a_generation_id_must_look_like_one(client: OpenRouterClient) -> None:
    for bad in ("", "   ", "x" * 201, "gen\n1"):
        with pytest.raises(ValueError, match="not a generation id"):
            generation(client, bad)


def test_a_wrong_key_is_an_authentication_error() -> None:
    with (
        Sandbox(SandboxConfig(port=0, key="sk-or-v1-" + "a" * 32)) as sb,
        OpenRouterClient(sb.base_url, ApiKey(SANDBOX_KEY, "test")) as client,
    ):
        with pytest.raises(E.AuthenticationError) as caught:
            key_info(client)
        assert caught.value.exit_code == ExitCode.AUTH


# -- odd shapes through MockTransport ---------------------------------------------------------------


class Harness:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.notices: list[RetryNotice] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    def client(self, **kwargs: Any) -> OpenRouterClient:
        return OpenRouterClient(
            BASE,
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(self.handler),
            sleep=self.sleeps.append,
            rand=lambda: 0.0,
            on_retry=self.notices.append,
            **kwargs,
        )


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


def error(status: int, message: str = "boom", **headers: str) -> httpx.Response:
    return httpx.Response(
        status, json={"error": {"code": status, "message": message}}, headers=headers
    )


DOC_KEY = {
    "data": {
        "label": "sk-or-v1-au7...890",
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "include_byok_in_limit": False,
        "usage": 25.5,
        "usage_daily": 25.5,
        "usage_weekly": 25.5,
        "usage_monthly": 25.5,
        "byok_usage": 17.38,
        "is_free_tier": False,
        "is_management_key": False,
        "is_provisioning_key": False,
        "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000",
        "expires_at": "2027-12-31T23:59:59Z",
        "rate_limit": {"requests": 1000, "interval": "1h", "note": "deprecated"},
    }
}


def test_the_documented_key_body() -> None:
    harness = Harness(ok(DOC_KEY))
    with harness.client() as client:
        info = key_info(client)
    assert info == KeyInfo(
        label="sk-or-v1-au7...890",
        limit_micros=100_000_000,
        limit_remaining_micros=74_500_000,
        limit_reset="monthly",
        usage_micros=25_500_000,
        usage_daily_micros=25_500_000,
        usage_weekly_micros=25_500_000,
        usage_monthly_micros=25_500_000,
        is_free_tier=False,
        is_management_key=False,
        expires_at=datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    assert not info.unlimited
    request = harness.requests[0]
    assert request.method == "GET"
    assert str(request.url) == BASE + "/key"
    assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert "content-type" not in request.headers


def test_the_old_key_shape_at_the_legacy_path() -> None:
    old = {
        "data": {
            "label": "old",
            "usage": 0.1,
            "limit": None,
            "is_free_tier": True,
            "rate_limit": {"requests": 10, "interval": "10s"},
        }
    }
    harness = Harness(error(404, "Not Found"), ok(old))
    with harness.client() as client:
        info = key_info(client)
    assert [r.url.path for r in harness.requests] == ["/api/v1/key", "/api/v1/auth/key"]
    assert info.label == "old"
    assert info.unlimited
    assert info.usage_micros == 100_000
    assert info.usage_daily_micros is None
    assert info.limit_reset is None
    assert info.is_free_tier is True
    assert info.is_management_key is None
    assert info.expires_at is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"label": 5, "limit": "lots", "usage": True, "is_free_tier": "no", "expires_at": "soon"},
        {"limit": "12.5", "usage": "-0"},
    ],
)
def test_odd_key_fields_are_none_not_crashes(data: dict[str, Any]) -> None:
    with Harness(ok({"data": data})).client() as client:
        info = key_info(client)
    assert info.label is None
    assert info.is_free_tier is None
    assert info.expires_at is None
    if data.get("limit") == "12.5":
        assert info.limit_micros == 12_500_000
        assert info.usage_micros == 0
    else:
        assert info.unlimited


def test_money_is_exact() -> None:
    body = b'{"data": {"total_credits": 100.1, "total_usage": 0.2}}'
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    with Harness(response).client() as client:
        balance = credits(client)
    assert isinstance(balance, Credits)
    assert balance.remaining_micros == 99_900_000  # 100.1 - 0.2, no binary-float residue


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"total_credits": 10}},
        {"data": {"total_credits": "ten", "total_usage": 1}},
        {"data": None},
        ["not", "an", "object"],
    ],
)
def test_a_credits_body_without_numbers_is_a_bad_response(body: Any) -> None:
    with Harness(ok(body)).client() as client, pytest.raises(E.BadResponseError):
        credits(client)


def test_a_server_without_credits_degrades() -> None:
    with Harness(error(404, "Not Found")).client() as client:
        answer = credits(client)
    assert isinstance(answer, Unavailable)
    assert answer.status == 404


def test_the_recorded_generation_body() -> None:
    recorded = {
        "data": {
            "created_at": "2026-10-02T23:25:52.374Z",
            "model": "black-forest-labs/flux.2-klein-4b",
            "tokens_prompt": 19,
            "tokens_completion": 14417.92,
            "usage": 0.014,
            "api_type": "image",
            "id": "gen-img-1790983552-TOdyb7qrp6185EBMwzAV",
            "total_cost": 0.014,
            "provider_name": "Black Forest Labs",
            "finish_reason": "complete",
            "cancelled": False,
        }
    }
    harness = Harness(ok(recorded))
    with harness.client() as client:
        info = generation(client, " gen-img-1790983552-TOdyb7qrp6185EBMwzAV ")
    assert info == GenerationInfo(
        id="gen-img-1790983552-TOdyb7qrp6185EBMwzAV",
        total_cost_micros=14_000,
        provider="Black Forest Labs",
        model="black-forest-labs/flux.2-klein-4b",
        created_at=datetime(2026, 10, 2, 23, 25, 52, 374_000, tzinfo=UTC),
        tokens_prompt=Decimal(19),
        tokens_completion=Decimal("14417.92"),
        api_type="image",
        finish_reason="complete",
        cancelled=False,
        cost_reported=True,
    )
    assert harness.requests[0].url.params["id"] == "gen-img-1790983552-TOdyb7qrp6185EBMwzAV"


def test_a_sparse_generation_body() -> None:
    body = {"data": {"usage": "0.03", "created_at": "2026-10-02T23:25:52.37+02:00"}}
    with Harness(ok(body)).client() as client:
        info = generation(client, "gen-1")
    assert info is not None
    assert info.id == "gen-1"
    assert info.total_cost_micros == 30_000  # from `usage` when total_cost is absent
    assert info.created_at == datetime(2026, 10, 2, 21, 25, 52, 370_000, tzinfo=UTC)
    assert info.provider is None
    assert info.tokens_prompt is None


def test_a_generation_id_is_sent_as_a_query_parameter() -> None:
    harness = Harness(error(404, "Generation gen-a&b=c not found"))
    with harness.client() as client:
        assert generation(client, "gen-a&b=c") is None
    assert harness.requests[0].url.params["id"] == "gen-a&b=c"


# -- get_json: the retry policy for GETs ------------------------------------------------------------


def test_transient_failures_are_retried() -> None:
    harness = Harness(
        error(429, "slow down", **{"retry-after": "2"}),
        httpx.ConnectError("refused"),
        ok(DOC_KEY),
    )
    with harness.client() as client:
        assert key_info(client).label == "sk-or-v1-au7...890"
    assert len(harness.requests) == 3
    assert harness.sleeps == [2.0, 1.0]  # Retry-After, then backoff 0.5·2¹
    assert [n.attempt for n in harness.notices] == [1, 2]


@pytest.mark.parametrize("status", [500, 504, 524])
def test_a_5xx_to_a_get_is_retried_and_never_may_be_billed(status: int) -> None:
    harness = Harness(error(status, "Internal Server Error"))
    with harness.client(max_retries=2) as client, pytest.raises(E.UnavailableError) as caught:
        key_info(client)
    assert len(harness.requests) == 3
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert not caught.value.may_be_billed
    assert "gave up after 3 attempts" in caught.value.message


def test_a_read_timeout_on_a_get_is_retried() -> None:
    harness = Harness(
        httpx.ReadTimeout("slow"), ok({"data": {"total_credits": 1, "total_usage": 0}})
    )
    with harness.client() as client:
        assert isinstance(credits(client), Credits)
    assert len(harness.requests) == 2


def test_connection_failures_give_up_with_exit_8() -> None:
    harness = Harness(httpx.ConnectError("refused"))
    with harness.client(max_retries=1) as client, pytest.raises(E.ConnectionFailedError) as caught:
        key_info(client)
    assert caught.value.exit_code == ExitCode.UNAVAILABLE
    assert caught.value.attempts == 2


def test_a_401_is_final() -> None:
    harness = Harness(error(401, "User not found."))
    with harness.client() as client, pytest.raises(E.AuthenticationError) as caught:
        key_info(client)
    assert len(harness.requests) == 1
    assert CANARY_KEY not in caught.value.message


def test_a_retry_after_beyond_the_cap_stops_at_once() -> None:
    harness = Harness(error(429, "later", **{"retry-after": "3600"}))
    with harness.client() as client, pytest.raises(E.UnavailableError) as caught:
        key_info(client)
    assert harness.sleeps == []
    assert "3600" in caught.value.message


def test_an_error_inside_a_200_is_raised() -> None:
    body = {"error": {"code": 403, "message": "Only management keys can perform this operation"}}
    with Harness(ok(body)).client() as client:
        answer = credits(client)
    assert isinstance(answer, Unavailable)
    assert answer.status == 403
    server_error = ok({"error": {"code": "server_error", "message": "x"}})
    with Harness(server_error).client() as client, pytest.raises(E.UnavailableError):
        key_info(client)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}),
        httpx.Response(200, content=b'{"data": NaN}', headers={"content-type": "application/json"}),
    ],
)
def test_a_body_that_is_not_json_is_a_bad_response(response: httpx.Response) -> None:
    with Harness(response).client() as client, pytest.raises(E.BadResponseError) as caught:
        key_info(client)
    assert caught.value.exit_code == ExitCode.BAD_RESPONSE


def test_redirects_are_not_followed_with_the_key() -> None:
    harness = Harness(httpx.Response(302, headers={"location": "https://evil.test/key"}))
    with harness.client() as client, pytest.raises(E.BadRequestError):
        key_info(client)
    assert [r.url.host for r in harness.requests] == ["openrouter.test"]
