"""What is charged (it must equal flux_cli.pricing's estimate) and what is rendered."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import httpx
import pytest
from PIL import Image

from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES, MODELS, embedded_model
from flux_cli.pricing import estimate, usd_to_micros
from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig
from flux_cli.sandbox.render import RenderSpec, render
from tests.sandbox.helpers import ALL_MODELS, KLEIN, MAX, PRO, data_url, decode, generate, ref

SIZES: list[tuple[str, dict[str, Any], tuple[int, int]]] = [
    ("1:1", {"aspect_ratio": "1:1"}, (1024, 1024)),
    ("16:9", {"aspect_ratio": "16:9"}, (1344, 768)),
    ("21:9", {"aspect_ratio": "21:9"}, (1536, 672)),
    (
        "2048x2048",
        {"provider": {"options": {"black-forest-labs": {"width": 2048, "height": 2048}}}},
        (2048, 2048),
    ),
]


@pytest.mark.parametrize("model_id", ALL_MODELS)
def test_cost_equals_the_client_estimate(client: httpx.Client, model_id: str) -> None:
    model = embedded_model(model_id)
    assert model is not None
    for label, fields, size in SIZES:
        body = generate(client, model=model_id, **fields).json()
        expected = estimate(model.price, size).total_micros
        assert usd_to_micros(Decimal(str(body["usage"]["cost"]))) == expected, label
        assert decode(body).size == size, label
        billed_mp = -(-(size[0] * size[1]) // (1024 * 1024))
        assert body["usage"]["completion_tokens"] == 4096 * billed_mp, label


def test_cost_with_references_equals_the_estimate(client: httpx.Client) -> None:
    refs = [(1024, 1024), (1500, 1500), (300, 200)]
    model = embedded_model(MAX)
    assert model is not None
    body = generate(
        client,
        model=MAX,
        aspect_ratio="3:2",
        input_references=[ref(data_url(w, h, "JPEG")) for w, h in refs],
    ).json()
    expected = estimate(model.price, ASPECT_RATIO_SIZES["3:2"], refs)
    assert usd_to_micros(Decimal(str(body["usage"]["cost"]))) == expected.total_micros
    assert body["usage"]["prompt_tokens"] == 4096 * (1 + 3 + 1)
    details = body["usage"]["cost_details"]
    assert usd_to_micros(Decimal(str(details["upstream_inference_prompt_cost"]))) == (
        expected.reference_micros
    )


@pytest.mark.parametrize(("ratio", "size"), sorted(ASPECT_RATIO_SIZES.items()))
def test_output_size_per_aspect_ratio(
    client: httpx.Client, ratio: str, size: tuple[int, int]
) -> None:
    body = generate(client, model=KLEIN, aspect_ratio=ratio).json()
    assert decode(body).size == size


def test_auto_with_a_reference_follows_its_shape(client: httpx.Client) -> None:
    body = generate(client, model=KLEIN, input_references=[ref(data_url(800, 400))]).json()
    width, height = decode(body).size
    assert abs(width / height - 2) < 0.05
    assert width * height <= 1024 * 1024


def test_passthrough_width_alone_keeps_the_default_height(client: httpx.Client) -> None:
    options = {"black-forest-labs": {"width": 512}}
    body = generate(client, model=KLEIN, provider={"options": options}).json()
    assert decode(body).size == (512, 1024)


def test_balance_decreases_by_exactly_the_cost_then_402() -> None:
    with (
        Sandbox(SandboxConfig(balance_usd="0.05")) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        first = generate(c, model=PRO)
        assert first.status_code == 200
        assert sb.remaining_micros() == 20_000
        refused = generate(c, model=PRO)
        assert refused.status_code == 402
        assert refused.json()["error"] == {
            "message": "Insufficient credits. Add more using https://openrouter.ai/credits",
            "code": 402,
        }
        cheap = generate(c, model=KLEIN)
        assert cheap.status_code == 200
        assert sb.remaining_micros() == 6_000
        assert sb.spent_micros() == sb.spent_micros(SANDBOX_KEY) == 44_000
        credits = c.get("/credits").json()["data"]
        assert credits == {"total_credits": 0.05, "total_usage": 0.044}
        ids = [g.id for g in sb.generations]
        assert ids == [first.headers["x-generation-id"], cheap.headers["x-generation-id"]]
        assert sum(g.cost_micros for g in sb.generations) == sb.spent_micros()
        state = c.get(sb.root_url + "/_sandbox/state").json()
        assert state["remaining_usd"] == 0.006
        assert state["spent_by_key"] == {"sk-or-v1-san...000": 0.044}


def test_chat_is_charged_like_images() -> None:
    with (
        Sandbox(SandboxConfig(balance_usd="0.07")) as sb,
        httpx.Client(base_url=sb.base_url, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}) as c,
    ):
        body = {
            "model": MAX,
            "messages": [{"role": "user", "content": "x"}],
            "modalities": ["image"],
        }
        assert c.post("/chat/completions", json=body).json()["usage"]["cost"] == 0.07
        assert c.post("/chat/completions", json=body).status_code == 402
        assert sb.remaining_micros() == 0


@pytest.mark.parametrize("balance", ["abc", "-1", "", "1e999999", "nan", "inf"])
def test_a_bad_balance_is_refused(balance: str) -> None:
    with pytest.raises(ValueError, match="balance"):
        Sandbox(SandboxConfig(balance_usd=balance))


def test_same_inputs_same_bytes_and_different_seed_different_bytes(client: httpx.Client) -> None:
    one = generate(client, seed=1).json()["data"][0]["b64_json"]
    again = generate(client, seed=1).json()["data"][0]["b64_json"]
    other = generate(client, seed=2).json()["data"][0]["b64_json"]
    assert one == again
    assert one != other


def test_rendering_is_deterministic_without_the_cache() -> None:
    spec = RenderSpec("pro", "a quiet harbour", 99, 640, 480, "png")
    first = render(spec)
    from flux_cli.sandbox import render as render_module

    render_module._cache.clear()
    assert render(spec) == first
    assert render(RenderSpec("pro", "a quiet harbour", 100, 640, 480, "png")) != first


def test_an_edit_derives_from_its_first_reference(client: httpx.Client) -> None:
    red = generate(client, input_references=[ref(data_url(512, 512, colour="red"))]).json()
    blue = generate(client, input_references=[ref(data_url(512, 512, colour="blue"))]).json()
    r, _, b = decode(red).convert("RGB").getpixel((20, 20))  # type: ignore[misc]
    r2, _, b2 = decode(blue).convert("RGB").getpixel((20, 20))  # type: ignore[misc]
    assert r > b
    assert b2 > r2


def test_random_seed_when_absent(client: httpx.Client, sandbox: Sandbox) -> None:
    body = {"model": KLEIN, "prompt": "no seed"}
    client.post("/images", json=body)
    client.post("/images", json=body)
    seeds = {g.seed for g in sandbox.generations}
    assert len(seeds) == 2


def test_a_megapixel_render_is_fast() -> None:
    import time

    start = time.perf_counter()
    data = render(RenderSpec("max", "speed " * 40, 12345, 1024, 1024, "jpeg"))
    elapsed = time.perf_counter() - start
    assert Image.open(io.BytesIO(data)).size == (1024, 1024)
    assert elapsed < 0.5  # ~50 ms here; generous for a loaded CI machine


def test_every_model_renders_its_alias(client: httpx.Client, sandbox: Sandbox) -> None:
    for model in MODELS:
        client.post("/images", json={"model": model.id, "prompt": "x", "seed": 1})
    assert [g.model for g in sandbox.generations] == [m.id for m in MODELS]
