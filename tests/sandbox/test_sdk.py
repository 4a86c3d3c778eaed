"""The sandbox's answers parse as OpenRouter's own SDK models (`openrouter` 1.3.x, generated
from the current OpenAPI; docs/openrouter.md#sources), strictly: no field the SDK requires is
missing and every enum value is one it knows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig
from flux_cli.sandbox.catalog import SANDBOX_MODELS

components = pytest.importorskip("openrouter.components")
operations = pytest.importorskip("openrouter.operations")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    with httpx.Client(base_url=sandbox.base_url, headers=headers, timeout=30) as c:
        yield c


def _unknown_enums(value: Any, path: str = "") -> list[str]:
    """Values the SDK kept only as `UnrecognizedStr` (an enum value it does not know)."""
    from openrouter.types import UnrecognizedStr

    found: list[str] = []
    if isinstance(value, UnrecognizedStr):
        found.append(f"{path}={value!r}")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _unknown_enums(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found += _unknown_enums(item, f"{path}[{i}]")
    elif hasattr(value, "__pydantic_fields__"):
        for key in type(value).model_fields:
            found += _unknown_enums(getattr(value, key), f"{path}.{key}")
    return found


def _strict(model: Any, body: Any) -> Any:
    parsed = model.model_validate(body)
    assert _unknown_enums(parsed) == []
    return parsed


def test_image_models(client: httpx.Client) -> None:
    parsed = _strict(components.ImageModelsListResponse, client.get("/images/models").json())
    assert len(parsed.data) == len(SANDBOX_MODELS)


@pytest.mark.parametrize("model", [m.id for m in SANDBOX_MODELS])
def test_endpoints(client: httpx.Client, model: str) -> None:
    body = client.get(f"/images/models/{model}/endpoints").json()
    parsed = _strict(components.ImageModelEndpointsResponse, body)
    assert parsed.endpoints[0].pricing


# `rate_limit` is deprecated in the SDK ("safe to ignore") but still required, and served.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_key_with_and_without_budgets(sandbox: Sandbox, client: httpx.Client) -> None:
    parsed = _strict(operations.GetCurrentKeyResponse, client.get("/key").json())
    assert parsed.data.budgets == []
    assert parsed.data.effective_budget is None
    sandbox.ledger.key_budget_micros = 2_000_000
    try:
        parsed = _strict(operations.GetCurrentKeyResponse, client.get("/key").json())
    finally:
        sandbox.ledger.key_budget_micros = None
    (budget,) = parsed.data.budgets
    assert budget.scope == "api_key"
    assert budget.limit_usd == 2
    assert parsed.data.effective_budget == budget


def test_images_and_generation(client: httpx.Client) -> None:
    response = client.post(
        "/images", json={"model": "black-forest-labs/flux.2-klein-4b", "prompt": "a fox", "n": 1}
    )
    assert response.status_code == 200, response.text
    _strict(components.ImageGenerationResponse, response.json())
    generation_id = response.headers["x-generation-id"]
    import time

    deadline = time.monotonic() + 10
    while True:
        found = client.get("/generation", params={"id": generation_id})
        if found.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert found.status_code == 200, found.text
    _strict(components.GenerationResponse, found.json())
