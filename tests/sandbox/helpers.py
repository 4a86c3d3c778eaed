"""Helpers for the sandbox tests: model ids, request builders, image encoders."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
from PIL import Image

PRO = "black-forest-labs/flux.2-pro"
MAX = "black-forest-labs/flux.2-max"
FLEX = "black-forest-labs/flux.2-flex"
KLEIN = "black-forest-labs/flux.2-klein-4b"
ALL_MODELS = (PRO, MAX, FLEX, KLEIN)


def image_bytes(width: int, height: int, fmt: str = "PNG", colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


def data_url(width: int, height: int, fmt: str = "PNG", colour: str = "teal") -> str:
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
    encoded = base64.b64encode(image_bytes(width, height, fmt, colour)).decode()
    return f"data:{mime.get(fmt, 'application/octet-stream')};base64,{encoded}"


def ref(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def decode(body: dict[str, Any]) -> Image.Image:
    raw = base64.b64decode(body["data"][0]["b64_json"], validate=True)
    image = Image.open(io.BytesIO(raw))
    image.load()
    return image


def generate(client: httpx.Client, **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"model": PRO, "prompt": "a lighthouse at dusk", "seed": 7}
    body.update(fields)
    return client.post("/images", json=body)


def chat(
    client: httpx.Client, content: Any = "a lighthouse at dusk", **fields: Any
) -> httpx.Response:
    body: dict[str, Any] = {
        "model": PRO,
        "messages": [{"role": "user", "content": content}],
        "modalities": ["image"],
        "seed": 7,
    }
    body.update(fields)
    return client.post("/chat/completions", json=body)
