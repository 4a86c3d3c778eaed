"""Fault injection: every kind, from Python, from the control plane, and from spec strings."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

import httpx
import pytest

from flux_cli.sandbox import SANDBOX_KEY, Fault, Sandbox, SandboxConfig, parse_fault_spec
from tests.sandbox.helpers import KLEIN, PRO, chat, decode, generate

# --- status faults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Invalid request parameters"),
        (401, "User not found."),
        (402, "Insufficient credits. Add more using https://openrouter.ai/credits"),
        (408, "Operation timed out. Please try again later."),
        (413, "Request payload too large"),
        (422, "Invalid argument"),
        (429, "Rate limit exceeded"),
        (500, "Internal Server Error"),
        (502, "Provider returned error"),
        (503, "Service temporarily unavailable"),
        (524, "Request timed out. Please try again later."),
        (529, "Provider returned error"),
    ],
)
def test_status_faults_send_the_documented_body(
    client: httpx.Client, sandbox: Sandbox, status: int, message: str
) -> None:
    sandbox.push_fault("images", Fault(status=status))
    response = generate(client)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == status
    assert error["message"] == message
    # The fault was used once; nothing was charged for it.
    assert generate(client, model=KLEIN).status_code == 200
    assert sandbox.spent_micros() == 14_000


def test_429_with_retry_after(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=429, headers={"Retry-After": "1"}))
    response = generate(client)
    assert response.headers["retry-after"] == "1"
    metadata = response.json()["error"]["metadata"]
    assert metadata["retry_after_seconds"] == 1
    assert metadata["error_type"] == "rate_limit_exceeded"


def test_upstream_429_is_the_recorded_provider_shape(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.push_fault("images", Fault(status=429, variant="upstream", retry_after=2))
    body = generate(client).json()
    assert body["user_id"] == "user_sandbox"
    metadata = body["error"]["metadata"]
    assert metadata["provider_name"] == "Black Forest Labs"
    assert metadata["limit_source"] == "upstream_provider_shared_pool"
    assert metadata["headers"] == {"Retry-After": "2"}


def test_502_carries_provider_metadata(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("chat", Fault(status=502))
    metadata = chat(client).json()["error"]["metadata"]
    assert metadata["provider_name"] == "Black Forest Labs"
    assert metadata["raw"]


@pytest.mark.parametrize(
    ("variant", "limit_source"),
    [
        ("key-limit", "openrouter_key_limit"),
        ("max-tokens", "openrouter_credits"),
        ("in-flight", "openrouter_in_flight_budget"),
        ("credits", "openrouter_credits"),
    ],
)
def test_402_variants(
    client: httpx.Client, sandbox: Sandbox, variant: str, limit_source: str
) -> None:
    sandbox.push_fault("chat", Fault(status=402, variant=variant))
    body = chat(client).json()
    assert body["error"]["metadata"]["limit_source"] == limit_source


def test_403_moderation_quotes_the_prompt(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=403))
    metadata = generate(client, prompt="p" * 300).json()["error"]["metadata"]
    assert metadata["reasons"]
    assert len(metadata["flagged_input"]) == 100
    assert "..." in metadata["flagged_input"]
    assert metadata["model_slug"] == PRO


def test_403_management_variant_on_credits(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("credits", Fault(status=403, variant="management"))
    response = client.get("/credits")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Only management keys can perform this operation"


def test_message_and_body_overrides(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=500, message="boom"))
    sandbox.push_fault("images", Fault(status=502, body="<not json>"))
    sandbox.push_fault("images", Fault(status=418, body={"whatever": 1}))
    assert generate(client).json()["error"]["message"] == "boom"
    assert generate(client).text == "<not json>"
    assert generate(client).json() == {"whatever": 1}


def test_faults_are_fifo_per_route_and_star_matches_any(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.push_fault("images", Fault(status=429))
    sandbox.push_fault("images", Fault(status=503))
    sandbox.push_fault("*", Fault(status=500))
    assert client.get("/key").status_code == 500  # the * fault
    assert generate(client).status_code == 429
    assert generate(client).status_code == 503
    assert generate(client).status_code == 200


def test_rules_apply_until_cleared_or_used_up(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.set_rule("key", Fault(status=503))
    assert [client.get("/key").status_code for _ in range(3)] == [503, 503, 503]
    sandbox.clear_faults()
    assert client.get("/key").status_code == 200
    sandbox.set_rule("key", Fault(status=503, times=2))
    assert [client.get("/key").status_code for _ in range(3)] == [503, 503, 200]


def test_a_star_rule_of_a_generation_kind_leaves_other_routes_alone(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.set_rule("*", Fault(kind="empty-data"))
    assert client.get("/key").status_code == 200
    assert generate(client).json()["data"] == []


# --- transport faults ---------------------------------------------------------------------------


def test_drop_closes_without_an_answer(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        generate(client)
    assert sandbox.spent_micros() == 0
    assert sandbox.requests[-1].status is None
    assert generate(client).status_code == 200  # the client recovers on a new connection


def test_drop_after_headers_is_billed_and_findable(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="drop-after-headers"))
    with client.stream("POST", "/images", json={"model": KLEIN, "prompt": "x"}) as response:
        assert response.status_code == 200
        generation_id = response.headers["x-generation-id"]
        with pytest.raises(httpx.RemoteProtocolError):
            response.read()
    assert sandbox.spent_micros() == 14_000
    assert client.get("/generation", params={"id": generation_id}).status_code == 200


def test_slow_delays_the_headers(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("image-models", Fault(kind="slow", delay=0.3))
    start = time.monotonic()
    assert client.get("/images/models").status_code == 200
    assert time.monotonic() - start >= 0.3
    sandbox.push_fault("image-models", Fault(kind="slow", delay=1))
    with pytest.raises(httpx.ReadTimeout):
        client.get("/images/models", timeout=0.2)


def test_drip_sends_the_body_slowly_in_pieces(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("image-models", Fault(kind="drip", drip=(500, 0.02)))
    start = time.monotonic()
    with client.stream("GET", "/images/models") as response:
        pieces = list(response.iter_raw())
    assert len(pieces) > 3
    assert time.monotonic() - start >= 0.06
    assert json.loads(b"".join(pieces))["data"]


def test_latency_applies_to_generations_only() -> None:
    with (
        Sandbox(SandboxConfig(latency=0.3)) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        start = time.monotonic()
        c.get("/images/models")
        quick = time.monotonic() - start
        generate(c, model=KLEIN)
        slow = time.monotonic() - start - quick
    assert quick < 0.25
    assert slow >= 0.3


def test_latency_counts_from_arrival_and_is_the_reported_generation_time() -> None:
    """The answer leaves `latency` after the request arrived, rendering included (not rendering
    plus latency), and /generation reports that time, as the real API reports its own."""
    with (
        Sandbox(SandboxConfig(latency=0.3, generation_delay=0)) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        start = time.monotonic()
        response = generate(c, model=KLEIN)
        took = time.monotonic() - start
        found = c.get("/generation", params={"id": response.headers["x-generation-id"]})
    assert took >= 0.3
    assert found.json()["data"]["latency"] == 300


def test_peak_in_flight_counts_generations_answered_at_once() -> None:
    import threading

    with (
        Sandbox(SandboxConfig(latency=0.3)) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        c.get("/images/models")  # not a generation: never counted
        threads = [threading.Thread(target=generate, args=(c,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sb.peak_in_flight == 3
        deadline = time.monotonic() + 5  # a handler counts down just after its last byte
        while sb.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sb.in_flight == 0


def test_leading_whitespace_before_the_json(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("chat", Fault(kind="leading-whitespace"))
    response = chat(client)
    assert response.content.startswith(b"\n")
    assert response.json()["choices"][0]["message"]["images"]
    assert sandbox.spent_micros() == 30_000


# --- body faults -----------------------------------------------------------------------------


def test_error_in_200_is_not_billed(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="error-in-200"))
    response = generate(client)
    assert response.status_code == 200
    body = response.json()
    assert body["error"]["code"] == 502
    assert body["error"]["message"] == "Provider returned error"
    assert body["user_id"] == "user_sandbox"
    assert "data" not in body
    assert sandbox.spent_micros() == 0
    gen_id = response.headers["x-generation-id"]
    assert client.get("/generation", params={"id": gen_id}).status_code == 404


def test_error_in_200_on_an_account_route(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("key", Fault(kind="error-in-200", status=500))
    response = client.get("/key")
    assert response.status_code == 200
    assert response.json()["error"]["code"] == 500


def test_error_in_200_on_a_chat_stream_is_a_mid_stream_chunk(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    sandbox.push_fault("chat", Fault(kind="error-in-200", status=429))
    events = [e for e in chat(client, stream=True).text.split("\n\n") if e.startswith("data: {")]
    (only,) = events
    chunk = json.loads(only.removeprefix("data: "))
    assert chunk["error"]["code"] == 429
    assert chunk["choices"][0]["finish_reason"] == "error"


def test_empty_data(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="empty-data"))
    sandbox.push_fault("chat", Fault(kind="empty-data"))
    images = generate(client).json()
    assert images["data"] == []
    assert images["usage"]["cost"] == 0
    message = chat(client).json()["choices"][0]["message"]
    assert "images" not in message
    assert sandbox.spent_micros() == 0


def test_corrupt_base64_is_billed_but_undecodable(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="corrupt-base64"))
    body = generate(client).json()
    text = body["data"][0]["b64_json"]
    with pytest.raises(binascii.Error):
        base64.b64decode(text, validate=True)
    with pytest.raises(binascii.Error):
        base64.b64decode(text)
    assert body["usage"]["cost"] == 0.03
    assert sandbox.spent_micros() == 30_000


def test_lying_media_type(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="lying-media-type"))
    body = generate(client, output_format="png").json()
    assert body["data"][0]["media_type"] == "image/png"
    assert base64.b64decode(body["data"][0]["b64_json"])[:3] == b"\xff\xd8\xff"
    sandbox.push_fault("chat", Fault(kind="lying-media-type"))
    url = chat(client).json()["choices"][0]["message"]["images"][0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,/9j/")


def test_missing_media_type(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(kind="missing-media-type"))
    body = generate(client).json()
    assert list(body["data"][0]) == ["b64_json"]
    assert decode(body).format == "JPEG"
    sandbox.push_fault("chat", Fault(kind="missing-media-type"))
    url = chat(client).json()["choices"][0]["message"]["images"][0]["image_url"]["url"]
    assert url.startswith("data:;base64,")


def test_fractional_tokens(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("chat", Fault(kind="fractional-tokens"))
    usage = chat(client).json()["usage"]
    assert (
        usage["completion_tokens"] == 14417.92
    )  # the recorded value (docs/openrouter.md#image-response)
    assert usage["cost"] == 0.03


def test_https_url_points_at_a_downloadable_file(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.push_fault("chat", Fault(kind="https-url"))
    body = chat(client).json()
    url = body["choices"][0]["message"]["images"][0]["image_url"]["url"]
    assert url == sandbox.file_url(body["id"] + ".jpg")
    download = httpx.get(url)
    assert download.headers["content-type"] == "image/jpeg"
    assert download.content[:3] == b"\xff\xd8\xff"
    sandbox.push_fault("chat", Fault(kind="https-url", url="https://cdn.example/x.png"))
    body = chat(client).json()
    assert (
        body["choices"][0]["message"]["images"][0]["image_url"]["url"]
        == "https://cdn.example/x.png"
    )


def test_generation_kinds_refuse_other_routes(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="applies only"):
        sandbox.push_fault("key", Fault(kind="corrupt-base64"))
    with pytest.raises(ValueError, match="applies only"):
        sandbox.push_fault("images", Fault(kind="https-url"))


# --- the control plane -------------------------------------------------------------------------


def test_control_plane_scripts_faults(client: httpx.Client, sandbox: Sandbox) -> None:
    control = sandbox.root_url + "/_sandbox"
    added = httpx.post(
        control + "/faults", json={"route": "images", "spec": "429:retry-after=2:times=2"}
    )
    assert added.status_code == 200
    assert added.json()["fault"]["times"] == 2
    httpx.post(control + "/faults", json={"spec": "key:503"})
    httpx.post(control + "/faults", json={"route": "credits", "status": 502, "rule": True})
    pending = httpx.get(control + "/faults").json()
    assert set(pending["rules"]) == {"images", "credits"}
    assert [f["status"] for f in pending["queued"]["key"]] == [503]
    assert [generate(client).status_code for _ in range(3)] == [429, 429, 200]
    assert client.get("/key").status_code == 503
    assert client.get("/credits").status_code == 502
    assert httpx.delete(control + "/faults").status_code == 200
    assert client.get("/credits").status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"route": "nowhere", "spec": "429"},
        {"spec": "images"},
        {"route": "images", "spec": "teapot"},
        {"route": "images", "kind": "status"},
        {"route": "images", "status": 429, "colour": "red"},
        {"status": 429},
        [],
    ],
)
def test_control_plane_refuses_bad_faults(sandbox: Sandbox, payload: Any) -> None:
    response = httpx.post(sandbox.root_url + "/_sandbox/faults", json=payload)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_control_plane_requests_and_state(client: httpx.Client, sandbox: Sandbox) -> None:
    generate(client, model=KLEIN)
    recorded = httpx.get(sandbox.root_url + "/_sandbox/requests").json()["requests"]
    assert recorded[0]["path"] == "/api/v1/images"
    assert recorded[0]["headers"]["authorization"] == "Bearer sk-or-v1-…0000"
    assert SANDBOX_KEY not in json.dumps(recorded)
    state = httpx.get(sandbox.root_url + "/_sandbox/state").json()
    assert state["spent_usd"] == 0.014
    assert state["generations"][0]["model"] == KLEIN
    assert SANDBOX_KEY not in json.dumps(state)
    httpx.delete(sandbox.root_url + "/_sandbox/requests")
    assert httpx.get(sandbox.root_url + "/_sandbox/requests").json() == {"requests": []}


# --- spec syntax --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "route", "expected"),
    [
        ("images:429", "images", Fault(status=429, times=1)),
        ("images:429:retry-after=2", "images", Fault(status=429, retry_after=2, times=1)),
        ("images:502:times=3", "images", Fault(status=502, times=3)),
        ("*:drop:times=always", "*", Fault(kind="drop", times=None)),
        ("chat:https-url", "chat", Fault(kind="https-url", times=1)),
        (
            "chat:https-url:url=http://127.0.0.1:9/x.png",
            "chat",
            Fault(kind="https-url", url="http://127.0.0.1:9/x.png", times=1),
        ),
        ("key:slow:delay=0.5", "key", Fault(kind="slow", delay=0.5, times=1)),
        ("models:drip:drip=1024/0.1", "models", Fault(kind="drip", drip=(1024, 0.1), times=1)),
        (
            "images:500:message=a: b: c",
            "images",
            Fault(status=500, message="a: b: c", times=1),
        ),
        ("IMAGES:429:Times=2", "images", Fault(status=429, times=2)),
        ("chat:402:variant=key-limit", "chat", Fault(status=402, variant="key-limit", times=1)),
        (
            "images:error-in-200:status=529",
            "images",
            Fault(kind="error-in-200", status=529, times=1),
        ),
        ("generation:404:delay=1", "generation", Fault(status=404, delay=1, times=1)),
    ],
)
def test_spec_parser(spec: str, route: str, expected: Fault) -> None:
    assert parse_fault_spec(spec) == (route, expected)


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("", "ROUTE:WHAT"),
        ("images", "ROUTE:WHAT"),
        ("images:", "ROUTE:WHAT"),
        ("pictures:429", "unknown route"),
        ("images:teapot", "unknown fault"),
        ("images:200", "400-599"),
        ("images:99", "400-599"),
        ("images:429:times=0", "times"),
        ("images:429:times=many", "times"),
        ("images:429:retry-after=soon", "retry-after"),
        ("images:429:retry-after=-1", "retry-after"),
        ("images:429:delay=nan", "delay"),
        ("images:drip:drip=fast", "drip"),
        ("images:drip:drip=0/1", "drip"),
        ("images:429:colour=red", "unknown fault option"),
        ("images:429:retry-after", "name=value"),
        ("images:drop:status=500", "takes no status"),
        ("images:402:variant=bogus", "variant"),
        ("images:500:variant=upstream", "variant"),
        ("key:corrupt-base64", "applies only"),
        ("images:https-url", "applies only"),
        ("images:status", "unknown fault"),
    ],
)
def test_invalid_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_fault_spec(spec)


def test_specs_install_once_or_as_rules(client: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.add_fault_spec("key:503")
    sandbox.add_fault_spec("credits:503:times=always")
    assert [client.get("/key").status_code for _ in range(2)] == [503, 200]
    assert [client.get("/credits").status_code for _ in range(3)] == [503, 503, 503]
