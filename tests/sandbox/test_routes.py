"""Each /api/v1 route: its success shape, its auth, and the validation errors it answers with."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from flux_cli.embedded_catalog import MODELS
from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig
from tests.sandbox.helpers import (
    ALL_MODELS,
    FLEX,
    KLEIN,
    MAX,
    PRO,
    chat,
    data_url,
    decode,
    generate,
    ref,
)

GEN_IMG_ID = re.compile(r"gen-img-\d{10}-[A-Za-z0-9]{20}")
GEN_ID = re.compile(r"gen-\d{10}-[A-Za-z0-9]{20}")


def test_images_success_matches_the_recorded_shape(client: httpx.Client) -> None:
    response = generate(client, model=KLEIN)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    assert GEN_IMG_ID.fullmatch(response.headers["x-generation-id"])
    assert response.headers["x-provider-name"] == "Black Forest Labs"
    body = response.json()
    assert list(body) == ["created", "data", "usage"]
    assert body["created"] == 0
    assert list(body["data"][0]) == ["b64_json", "media_type"]
    assert body["data"][0]["media_type"] == "image/jpeg"
    usage = body["usage"]
    assert usage == {
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": 4096,
        "total_tokens": usage["prompt_tokens"] + 4096,
        "cost": 0.014,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": 0.014,
            "upstream_inference_prompt_cost": 0,
            "upstream_inference_completions_cost": 0.014,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": 4096},
    }
    assert decode(body).format == "JPEG"
    assert '"cost":0.014,' in response.text


def test_images_png_on_request(client: httpx.Client) -> None:
    body = generate(client, output_format="png").json()
    assert body["data"][0]["media_type"] == "image/png"
    assert decode(body).format == "PNG"


def test_stream_true_is_ignored_on_images(client: httpx.Client) -> None:
    response = generate(client, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"


def test_keep_alive_reuses_one_connection(client: httpx.Client) -> None:
    for _ in range(3):
        assert client.get("/images/models").status_code == 200
        assert generate(client, model=KLEIN).status_code == 200
    # httpx keeps one pooled connection when the server keeps it open.
    pool = client._transport._pool  # type: ignore[attr-defined]
    assert len(pool.connections) == 1


def test_chat_success_matches_the_documented_shape(client: httpx.Client) -> None:
    response = chat(client)
    assert response.status_code == 200
    body = response.json()
    assert GEN_ID.fullmatch(body["id"])
    assert response.headers["x-generation-id"] == body["id"]
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["created"] > 1_700_000_000
    assert body["model"] == PRO
    assert body["provider"] == "Black Forest Labs"
    assert body["system_fingerprint"] is None
    choice = body["choices"][0]
    assert choice["index"] == 0
    assert choice["finish_reason"] == "stop"
    assert choice["native_finish_reason"] == "stop"
    message = choice["message"]
    assert message["role"] == "assistant"
    assert message["content"] is None
    image = message["images"][0]
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/jpeg;base64,/9j/")
    assert body["usage"]["cost"] == 0.03
    assert body["usage"]["completion_tokens_details"]["image_tokens"] == 4096


def test_chat_takes_text_parts_references_and_aspect_ratio(client: httpx.Client) -> None:
    content = [
        {"type": "text", "text": "make it night"},
        {"type": "image_url", "image_url": {"url": data_url(2048, 1024)}},
    ]
    body = chat(client, content, image_config={"aspect_ratio": "16:9"}).json()
    assert body["usage"]["prompt_tokens"] == 2 * 4096
    # 0.03 for the 1344x768 output + 2 MP of reference at 0.015.
    assert body["usage"]["cost"] == 0.06


@pytest.mark.parametrize(
    ("modalities", "shown"),
    [(["image", "text"], "image, text"), (None, "text"), (["text"], "text")],
)
def test_chat_needs_image_only_modalities(
    client: httpx.Client, modalities: list[str] | None, shown: str
) -> None:
    response = chat(client, modalities=modalities)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": f"No endpoints found that support the requested output modalities: {shown}",
            "code": 404,
        }
    }


def test_chat_stream_sends_sse_with_usage_last(client: httpx.Client) -> None:
    response = chat(client, stream=True)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    lines = [line for line in response.text.split("\n\n") if line]
    assert lines[0] == ": OPENROUTER PROCESSING"
    assert lines[-1] == "data: [DONE]"
    import json

    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[1:-1]]
    assert chunks[0]["choices"][0]["delta"]["images"][0]["image_url"]["url"].startswith("data:")
    assert chunks[-1]["usage"]["cost"] == 0.03
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_image_models_lists_the_recorded_records(anon: httpx.Client) -> None:
    from flux_cli.sandbox.recorded import RECORDED_MODELS

    body = anon.get("/images/models").json()
    ids = [m["id"] for m in body["data"]]
    # The recorded listing in its order, then the FLUX.2 models it omits.
    assert ids == [m["id"] for m in RECORDED_MODELS] + [MAX, FLEX, KLEIN]
    assert len(ids) == 18
    for served, recorded in zip(body["data"], RECORDED_MODELS, strict=False):
        assert {k: v for k, v in served.items() if k != "endpoints"} == recorded
        assert served["endpoints"] == f"/api/v1/images/models/{served['id']}/endpoints"
    pro = next(m for m in body["data"] if m["id"] == PRO)
    assert pro["supported_parameters"] == {
        "aspect_ratio": {
            "type": "enum",
            "values": ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "auto"],
        },
        "output_format": {"type": "enum", "values": ["png", "jpeg"]},
        "n": {"type": "range", "min": 1, "max": 1},
        "input_references": {"type": "range", "min": 0, "max": 8},
        "seed": {"type": "boolean"},
    }
    assert pro["supports_streaming"] is False
    flux3 = next(m for m in body["data"] if m["id"] == "black-forest-labs/flux-3-image")
    assert flux3["supported_parameters"]["resolution"]["values"] == [
        "768",
        "1K",
        "1.5K",
        "2K",
        "4K",
    ]
    assert "seed" not in flux3["supported_parameters"]
    assert len(flux3["supported_parameters"]["aspect_ratio"]["values"]) == 16
    muse = next(m for m in body["data"] if m["id"] == "meta/muse-image")
    assert muse["supported_parameters"] == {}
    assert body["data"][-1]["supported_parameters"]["input_references"]["max"] == 4


def test_endpoints_carry_passthrough_and_pricing(anon: httpx.Client) -> None:
    body = anon.get("/images/models/black-forest-labs/flux.2-flex/endpoints").json()
    assert body["id"] == "black-forest-labs/flux.2-flex"
    (endpoint,) = body["endpoints"]
    assert endpoint["provider_slug"] == "black-forest-labs"
    assert endpoint["allowed_passthrough_parameters"] == [
        "width",
        "height",
        "safety_tolerance",
        "prompt_upsampling",
        "steps",
        "guidance",
    ]
    # The single-line form (docs/openrouter-flux2.md#prices-on-openrouter), no variants.
    assert endpoint["pricing"] == [
        {"billable": "output_image", "unit": "megapixel", "cost_usd": 0.06},
    ]


def test_recorded_endpoints_are_served_as_recorded(anon: httpx.Client) -> None:
    body = anon.get("/images/models/openai/gpt-image-2/endpoints").json()
    (endpoint,) = body["endpoints"]
    assert endpoint["pricing"] == [
        {"billable": "input_image", "unit": "token", "cost_usd": 0.000008},
        {"billable": "input_text", "unit": "token", "cost_usd": 0.000005},
        {"billable": "output_image", "unit": "token", "cost_usd": 0.00003},
    ]
    assert endpoint["allowed_passthrough_parameters"] == ["moderation"]
    assert endpoint["supports_streaming"] is True
    gemini = anon.get("/images/models/google/gemini-3.1-flash-image/endpoints").json()
    assert gemini["endpoints"][0]["pricing"] == [
        {"billable": "output_image", "unit": "token", "cost_usd": 0.00006}
    ]
    assert gemini["endpoints"][0]["allowed_passthrough_parameters"] == ["cachedContent"]


def test_endpoints_without_size_passthrough_keep_other_knobs() -> None:
    with Sandbox(SandboxConfig(size_passthrough=False)) as sb:
        body = httpx.get(sb.base_url + "/images/models/black-forest-labs/flux.2-pro/endpoints")
    assert body.json()["endpoints"][0]["allowed_passthrough_parameters"] == [
        "safety_tolerance",
        "prompt_upsampling",
    ]


def test_endpoints_of_an_unknown_model_is_404(anon: httpx.Client) -> None:
    response = anon.get("/images/models/black-forest-labs/flux.9/endpoints")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == 404


@pytest.mark.parametrize("query", ["?output_modalities=image", "?output_modalities=all"])
def test_models_with_an_image_filter_lists_flux(anon: httpx.Client, query: str) -> None:
    body = anon.get("/models" + query).json()
    ids = [m["id"] for m in body["data"]]
    assert set(ALL_MODELS) <= set(ids)
    assert body["total_count"] == len(ids) == 18
    assert body["links"] == {"next": None}
    pro = body["data"][ids.index(PRO)]
    assert pro["pricing"] == {"prompt": "0", "completion": "0"}
    assert pro["architecture"]["modality"] == "text+image->image"
    assert pro["supported_parameters"] == ["seed"]


@pytest.mark.parametrize("query", ["", "?output_modalities=text"])
def test_models_default_filter_hides_flux(anon: httpx.Client, query: str) -> None:
    body = anon.get("/models" + query).json()
    assert not any("flux" in m["id"] for m in body["data"])


def test_models_with_a_bad_filter_answers_like_zod(anon: httpx.Client) -> None:
    response = anon.get("/models?output_modalities=pictures")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["error"]["name"] == "ZodError"


def test_generation_is_404_until_the_delay_then_the_record() -> None:
    import time

    with (
        Sandbox(SandboxConfig(generation_delay=0.3)) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        before = time.monotonic()
        response = generate(c, model=KLEIN)
        gen_id = response.headers["x-generation-id"]
        early = c.get("/generation", params={"id": gen_id})
        if time.monotonic() - before < 0.3:  # else a stalled machine let the delay pass
            assert early.status_code == 404
            assert early.json() == {
                "error": {"message": f"Generation {gen_id} not found", "code": 404}
            }
        deadline = time.monotonic() + 10
        while (later := c.get("/generation", params={"id": gen_id})).status_code == 404:
            assert time.monotonic() < deadline, "the record never appeared"
            time.sleep(0.02)
        record = later.json()["data"]
    assert record["id"] == gen_id
    assert record["total_cost"] == record["usage"] == response.json()["usage"]["cost"] == 0.014
    assert record["api_type"] == "image"
    assert record["finish_reason"] == "complete"
    assert record["provider_name"] == "Black Forest Labs"
    assert record["tokens_completion"] == record["native_tokens_completion_images"] == 4096
    assert record["model"] == KLEIN


def test_generation_of_a_chat_call_says_completions(client: httpx.Client) -> None:
    gen_id = chat(client).json()["id"]
    record = client.get("/generation", params={"id": gen_id}).json()["data"]
    assert record["api_type"] == "completions"


def test_generation_needs_an_id(client: httpx.Client) -> None:
    assert client.get("/generation").status_code == 400


def test_key_reports_this_keys_spend(client: httpx.Client, sandbox: Sandbox) -> None:
    generate(client, model=KLEIN)
    other = "sk-or-v1-" + "b" * 64
    generate(client, model=PRO, headers=None)
    httpx.post(
        sandbox.base_url + "/images",
        json={"model": KLEIN, "prompt": "x"},
        headers={"Authorization": f"Bearer {other}"},
    )
    data = client.get("/key").json()["data"]
    assert data["label"] == "sk-or-v1-san...000"
    assert data["usage"] == data["usage_daily"] == data["usage_monthly"] == 0.044
    assert data["limit"] is None
    assert data["limit_remaining"] is None
    assert data["rate_limit"]["requests"] == -1
    assert sandbox.spent_micros(SANDBOX_KEY) == 44_000
    assert sandbox.spent_micros(other) == 14_000


def test_credits_report_balance_and_usage(client: httpx.Client) -> None:
    generate(client, model=KLEIN)
    assert client.get("/credits").json() == {"data": {"total_credits": 10, "total_usage": 0.014}}


# --- auth ----------------------------------------------------------------------------------------

PAID_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/images", {"model": PRO, "prompt": "x"}),
    ("POST", "/chat/completions", {"model": PRO, "messages": [], "modalities": ["image"]}),
    ("GET", "/generation?id=gen-1", None),
    ("GET", "/key", None),
    ("GET", "/credits", None),
]


@pytest.mark.parametrize(("method", "path", "body"), PAID_ROUTES)
def test_missing_key_is_no_cookie_auth(
    anon: httpx.Client, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = anon.request(method, path, json=body)
    assert response.status_code == 401
    assert response.json() == {
        "error": {"message": "No cookie auth credentials found", "code": 401}
    }


@pytest.mark.parametrize(
    "key",
    [
        "sk-or-v1-short",
        "sk-or-v2-" + "a" * 64,
        "hello",
        "sk-or-v1-" + "a_b-" * 5,
        "sk-or-v1-" + "a" * 129,
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), PAID_ROUTES)
def test_malformed_key_is_user_not_found(
    anon: httpx.Client, key: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    response = anon.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401
    assert response.json() == {"error": {"message": "User not found.", "code": 401}}


def test_only_the_configured_key_is_accepted() -> None:
    mine = "sk-or-v1-" + "c" * 64
    with Sandbox(SandboxConfig(key=mine)) as sb:
        wrong = httpx.get(sb.base_url + "/key", headers={"Authorization": f"Bearer {SANDBOX_KEY}"})
        right = httpx.get(sb.base_url + "/key", headers={"Authorization": f"Bearer {mine}"})
    assert wrong.status_code == 401
    assert wrong.json()["error"]["message"] == "User not found."
    assert right.status_code == 200


@pytest.mark.parametrize("path", ["/images/models", "/models", f"/images/models/{PRO}/endpoints"])
def test_catalog_needs_no_key(anon: httpx.Client, path: str) -> None:
    assert anon.get(path).status_code == 200


def test_requests_are_recorded_with_the_key_masked(client: httpx.Client, sandbox: Sandbox) -> None:
    generate(client, model=KLEIN)
    (recorded,) = sandbox.requests
    assert recorded.method == "POST"
    assert recorded.path == "/api/v1/images"
    assert recorded.route == "images"
    assert recorded.status == 200
    assert recorded.headers["authorization"] == "Bearer sk-or-v1-…0000"
    assert SANDBOX_KEY not in repr(recorded)
    assert recorded.body["model"] == KLEIN
    assert recorded.generation_id is not None


# --- validation -----------------------------------------------------------------------------------


def _capability_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400
    error: dict[str, Any] = response.json()["error"]
    assert error["metadata"] == {
        "routing_funnel": [{"step": "Initial Endpoints", "endpoint_count": 1}],
        "failed_routing_step": "Filter by Image Capabilities",
    }
    return error


def test_n_other_than_one_is_the_recorded_rejection(client: httpx.Client) -> None:
    error = _capability_error(generate(client, model=KLEIN, n=5))
    assert error["message"] == (
        'No provider for black-forest-labs/flux.2-klein-4b supports the requested parameter(s): n "5". '
        "Provider rejections: Black Forest Labs: n: must be exactly 1"
    )


def test_n_of_one_is_fine(client: httpx.Client) -> None:
    assert generate(client, n=1).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("aspect_ratio", "5:4"),
        ("aspect_ratio", "7:3"),
        ("output_format", "webp"),
        ("resolution", "2K"),
        ("size", "2048x2048"),
    ],
)
def test_unsupported_parameters_are_refused_by_capability(
    client: httpx.Client, field: str, value: str
) -> None:
    error = _capability_error(generate(client, **{field: value}))
    assert f'{field} "{value}"' in error["message"]


def test_several_unsupported_parameters_are_listed_together(client: httpx.Client) -> None:
    error = _capability_error(generate(client, n=2, output_format="webp"))
    assert 'n "2", output_format "webp"' in error["message"]


@pytest.mark.parametrize(
    ("model", "count", "ok"), [(PRO, 8, True), (PRO, 9, False), (KLEIN, 4, True), (KLEIN, 5, False)]
)
def test_reference_limits(client: httpx.Client, model: str, count: int, ok: bool) -> None:
    refs = [ref(data_url(64, 64)) for _ in range(count)]
    response = generate(client, model=model, input_references=refs)
    if ok:
        assert response.status_code == 200
        assert response.json()["usage"]["prompt_tokens"] == count * 4096
    else:
        assert f'input_references "{count}"' in _capability_error(response)["message"]


@pytest.mark.parametrize(
    "model", ["pro", "flux.2-pro", "openai/gpt-image-1-mini", "black-forest-labs/FLUX.2-pro"]
)
def test_aliases_and_unknown_ids_are_not_valid_models(client: httpx.Client, model: str) -> None:
    response = generate(client, model=model)
    assert response.status_code == 400
    assert response.json()["error"]["message"] == f"{model} is not a valid model ID"


@pytest.mark.parametrize(
    "body",
    [
        {"model": PRO},
        {"model": PRO, "prompt": ""},
        {"model": PRO, "prompt": 5},
        {"prompt": "x"},
        {"model": PRO, "prompt": "x", "seed": "7"},
        {"model": PRO, "prompt": "x", "n": "1"},
        {"model": PRO, "prompt": "x", "input_references": "data:x"},
        {"model": PRO, "prompt": "x", "input_references": [{"url": "data:x"}]},
        {"model": PRO, "prompt": "x", "provider": "black-forest-labs"},
    ],
)
def test_malformed_fields_are_400(client: httpx.Client, body: dict[str, Any]) -> None:
    response = client.post("/images", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize(
    ("url", "error_type"),
    [
        ("data:image/png;base64,not base64!", "invalid_image"),
        ("data:image/png;base64,iVBORw0KGgo=", "invalid_image"),
        ("data:image/png,rawdata", "invalid_image"),
        ("data:image/bmp;base64,", "invalid_image"),
        ("ftp://example.com/a.png", "invalid_image"),
    ],
)
def test_bad_references_are_typed_image_errors(
    client: httpx.Client, url: str, error_type: str
) -> None:
    response = generate(client, input_references=[ref(url)])
    assert response.status_code == 400
    assert response.json()["error"]["metadata"]["error_type"] == error_type


def test_unsupported_formats_are_named(client: httpx.Client) -> None:
    response = generate(client, input_references=[ref(data_url(64, 64, "BMP"))])
    assert response.status_code == 400
    assert response.json()["error"]["metadata"]["error_type"] == "unsupported_image_format"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_accepted_reference_formats(client: httpx.Client, fmt: str) -> None:
    assert generate(client, input_references=[ref(data_url(96, 64, fmt))]).status_code == 200


def test_a_remote_reference_is_billed_as_one_megapixel_and_noted(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    response = generate(client, input_references=[ref("https://example.com/cat.png")])
    assert response.status_code == 200
    assert response.json()["usage"]["prompt_tokens"] == 4096
    assert response.json()["usage"]["cost"] == 0.045
    assert '"cost":0.045,' in response.text  # micro-dollars serialise exactly
    assert "not fetched" in sandbox.requests[-1].notes[0]


def test_a_reference_served_by_the_sandbox_is_used(client: httpx.Client, sandbox: Sandbox) -> None:
    first = generate(client, aspect_ratio="21:9")
    name = first.headers["x-generation-id"] + ".jpg"
    response = generate(client, input_references=[ref(sandbox.file_url(name))])
    assert response.status_code == 200
    assert decode(response.json()).size == (1536, 672)  # auto: the reference's shape
    assert response.json()["usage"]["prompt_tokens"] == 4096
    assert sandbox.requests[-1].notes == []
    missing = generate(client, input_references=[ref(sandbox.file_url("gen-img-0-x.jpg"))])
    assert missing.status_code == 404
    assert missing.json()["error"]["metadata"]["error_type"] == "image_not_found"


def test_passthrough_keys_outside_the_list_are_dropped(
    client: httpx.Client, sandbox: Sandbox
) -> None:
    options = {"black-forest-labs": {"steps": 50, "guidance": 3, "nonsense": True}}
    response = generate(client, provider={"options": options, "only": ["black-forest-labs"]})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "size",
    [
        {"width": 1000, "height": 1024},
        {"width": 32, "height": 1024},
        {"width": 2048, "height": 2064},
        {"width": "1024"},
    ],
)
def test_bad_passthrough_sizes_are_provider_errors(
    client: httpx.Client, size: dict[str, Any]
) -> None:
    response = generate(client, provider={"options": {"black-forest-labs": size}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == "Provider returned error"
    assert error["metadata"]["provider_name"] == "Black Forest Labs"
    assert error["metadata"]["raw"]


def test_without_size_passthrough_width_and_height_are_dropped() -> None:
    with (
        Sandbox(SandboxConfig(size_passthrough=False)) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        options = {"black-forest-labs": {"width": 2048, "height": 2048}}
        body = generate(c, provider={"options": options}).json()
    assert decode(body).size == (1024, 1024)
    assert body["usage"]["cost"] == 0.03


def test_every_model_is_served(client: httpx.Client) -> None:
    for model in MODELS:
        assert generate(client, model=model.id).status_code == 200
