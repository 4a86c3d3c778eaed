"""A catalog server for the catalog tests: the FLUX.2 records as the sandbox serves them, with
overrides per path, behind an httpx.MockTransport; and pricing lines to build answers from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from flux_cli.embedded_catalog import MODELS
from flux_cli.sandbox import catalog as sandbox_catalog

BASE = "https://openrouter.test/api/v1"
PRO = "black-forest-labs/flux.2-pro"
KLEIN = "black-forest-labs/flux.2-klein-4b"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def line(billable: str, cost: object, unit: str = "megapixel", **extra: object) -> dict[str, Any]:
    return {"billable": billable, "unit": unit, "cost_usd": cost, **extra}


FIRST = line("output_image", 0.03, variant="first")
ADDITIONAL = line("output_image", 0.015, variant="additional")
REFERENCE = line("input_reference", 0.015)


Handler = Callable[[httpx.Request], httpx.Response]


def record(model_id: str, **params: Any) -> dict[str, Any]:
    supported: dict[str, Any] = {
        "aspect_ratio": {"type": "enum", "values": ["1:1", "16:9"]},
        "output_format": {"type": "enum", "values": ["png", "jpeg"]},
        "n": {"type": "range", "min": 1, "max": 1},
        "input_references": {"type": "range", "min": 0, "max": 8},
        "seed": {"type": "boolean"},
    }
    supported.update(params)
    return {"id": model_id, "name": f"Model {model_id}", "supported_parameters": supported}


def endpoint(
    pricing: list[Any], slug: str = "black-forest-labs", passthrough: list[str] | None = None
) -> dict[str, Any]:
    return {
        "provider_name": "Black Forest Labs" if slug == "black-forest-labs" else slug.title(),
        "provider_slug": slug,
        "allowed_passthrough_parameters": passthrough or ["steps"],
        "pricing": pricing,
    }


class FakeApi:
    """A catalog server: the FLUX records by default, with overrides per path."""

    def __init__(self) -> None:
        served = [sandbox_catalog.BY_ID[m.id] for m in MODELS]
        self.models: list[Any] = [sandbox_catalog.image_model_item(m) for m in served]
        self.endpoints: dict[str, Any] = {
            m.id: sandbox_catalog.endpoints(m, size_passthrough=True) for m in served
        }
        self.overrides: dict[str, httpx.Response] = {}
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert "authorization" not in request.headers
        path = request.url.path.removeprefix("/api/v1")
        if path in self.overrides:
            return self.overrides[path]
        if path == "/images/models":
            return httpx.Response(200, json={"data": self.models})
        model_id = path.removeprefix("/images/models/").removesuffix("/endpoints")
        if model_id in self.endpoints:
            return httpx.Response(200, json=self.endpoints[model_id])
        return httpx.Response(404, json={"error": {"code": 404, "message": "not found"}})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)
