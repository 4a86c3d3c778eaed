"""The bodies of the two generation routes, `POST /images` and `POST /chat/completions`, parsed
into one `Job` (docs/openrouter.md#image-request, docs/openrouter.md#chat-route).
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flux_cli.embedded_catalog import PROVIDER_SLUG
from flux_cli.sandbox import render
from flux_cli.sandbox.catalog import BY_ID, SandboxModel, passthrough
from flux_cli.sandbox.state import FileStore, Ledger
from flux_cli.sandbox.wire import (
    SANDBOX_USER_ID,
    ApiError,
    capability_rejection,
    invalid_request,
)

_BY_ID = BY_ID
SEED_RANGE = (0, 2**32 - 1)


@dataclass
class Job:
    model: SandboxModel
    prompt: str
    seed: int
    aspect_ratio: str | None
    output_format: str
    reference_urls: list[str]
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    resolution: str | None = None


@dataclass(frozen=True)
class Context:
    """What the generation routes need from the sandbox."""

    ledger: Ledger
    files: FileStore
    port: int
    accepted_key: str | None
    latency: float
    size_passthrough: bool
    signer: render.ContentSigner | None = None  # sign outputs with C2PA content credentials


# --- parsing ---------------------------------------------------------------------------------


def parse_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise invalid_request("the request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise invalid_request("the request body must be a JSON object")
    return parsed


def find_model(body: Mapping[str, Any]) -> SandboxModel:
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise invalid_request("model is required")
    model = _BY_ID.get(model_id)
    if model is None:
        # Recorded (docs/openrouter.md#error-metadata, "Invalid model id"); aliases like "pro" are not ids on the real API.
        raise ApiError(400, f"{model_id} is not a valid model ID", user_id=SANDBOX_USER_ID)
    return model


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seed(value: object) -> int:
    if value is None:
        return random.randint(*SEED_RANGE)
    if not is_int(value):
        raise invalid_request("seed must be an integer")
    assert isinstance(value, int)
    return value


def _provider_options(body: Mapping[str, Any], model: SandboxModel, ctx: Context) -> dict[str, Any]:
    # docs/openrouter.md#image-request: options under provider.options["black-forest-labs"]; keys not in the endpoint's
    # allowed_passthrough_parameters are silently dropped ("Unrecognized keys are silently dropped").
    provider = body.get("provider")
    if provider is None:
        return {}
    if not isinstance(provider, dict):
        raise invalid_request("provider must be an object")
    options = provider.get("options")
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise invalid_request("provider.options must be an object")
    ours = options.get(PROVIDER_SLUG)
    if not isinstance(ours, dict):
        return {}
    allowed = set(passthrough(model, ctx.size_passthrough))
    return {k: v for k, v in ours.items() if k in allowed}


def _capabilities(
    model: SandboxModel,
    *,
    n: object,
    aspect_ratio: object,
    output_format: object,
    reference_count: int,
    extra: Mapping[str, object],
) -> None:
    """Unsupported values are refused together, in the recorded "No provider …" form
    (docs/openrouter.md#status-codes). A parameter the model does not list is unsupported."""
    rejections: list[tuple[str, str, str]] = []
    if n is not None:
        if not is_int(n):
            raise invalid_request("n must be an integer")
        n_range = model.n_range
        if n_range is None:
            rejections.append(("n", str(n), "not supported"))
        elif n_range == (1, 1) and n != 1:
            rejections.append(("n", str(n), "must be exactly 1"))
        elif not n_range[0] <= n <= n_range[1]:  # type: ignore[operator]
            rejections.append(("n", str(n), f"must be between {n_range[0]} and {n_range[1]}"))
    for name, value, accepted in (
        ("aspect_ratio", aspect_ratio, model.aspect_ratios),
        ("output_format", output_format, model.output_formats),
        ("resolution", extra.get("resolution"), model.resolutions),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            raise invalid_request(f"{name} must be a string")
        if not accepted:
            rejections.append((name, value, "not supported"))
        elif value not in accepted:
            rejections.append((name, value, f"Accepted: {', '.join(accepted)}"))
    size = extra.get("size")
    if size is not None and not model.takes_size:
        rejections.append(("size", str(size), "not supported"))
    seed = extra.get("seed")
    if seed is not None and not model.takes_seed:
        rejections.append(("seed", str(seed), "not supported"))
    low, high = model.reference_range
    if reference_count > high:
        rejections.append(("input_references", str(reference_count), f"must be at most {high}"))
    elif reference_count < low:
        rejections.append(("input_references", str(reference_count), f"must be at least {low}"))
    if rejections:
        raise capability_rejection(model.id, rejections, model.endpoint.provider_name)


def parse_images(body: Mapping[str, Any], ctx: Context) -> Job:
    """docs/openrouter.md#image-request: the ImageGenerationRequest fields FLUX honours; the rest are ignored."""
    model = find_model(body)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise invalid_request("prompt is required")
    refs = body.get("input_references")
    if refs is not None and not isinstance(refs, list):
        raise invalid_request("input_references must be an array")
    urls: list[str] = []
    for i, item in enumerate(refs or []):
        image_url = item.get("image_url") if isinstance(item, dict) else None
        url = image_url.get("url") if isinstance(image_url, dict) else None
        if not isinstance(url, str) or item.get("type", "image_url") != "image_url":
            raise invalid_request(
                f'input_references[{i}] must be {{"type": "image_url", "image_url": {{"url": …}}}}'
            )
        urls.append(url)
    _capabilities(
        model,
        n=body.get("n"),
        aspect_ratio=body.get("aspect_ratio"),
        output_format=body.get("output_format"),
        reference_count=len(urls),
        extra={
            "resolution": body.get("resolution"),
            "size": body.get("size"),
            "seed": body.get("seed"),
        },
    )
    aspect_ratio = body.get("aspect_ratio")
    output_format = body.get("output_format")
    resolution = body.get("resolution")
    return Job(
        model=model,
        prompt=prompt,
        seed=_seed(body.get("seed")),
        aspect_ratio=aspect_ratio if isinstance(aspect_ratio, str) else None,
        # FLUX answers JPEG when output_format is omitted (docs/openrouter.md#image-response).
        output_format=output_format if isinstance(output_format, str) else model.default_format,
        reference_urls=urls,
        options=_provider_options(body, model, ctx),
        # Non-streaming providers ignore stream:true and answer buffered JSON
        # (docs/openrouter.md#streaming).
        stream=False,
        resolution=resolution if isinstance(resolution, str) else None,
    )


def parse_chat(body: Mapping[str, Any], ctx: Context) -> Job:
    """docs/openrouter.md#chat-route/docs/openrouter.md#chat-route: the prompt and references from the last user message, `modalities: ["image"]`."""
    model = find_model(body)
    modalities = body.get("modalities")
    if modalities is None:
        requested = ["text"]
    elif isinstance(modalities, list) and all(isinstance(m, str) for m in modalities):
        requested = list(dict.fromkeys(modalities))
    else:
        raise invalid_request("modalities must be an array of strings")
    if requested != ["image"]:
        # docs/openrouter.md#chat-route / docs/openrouter.md#known-gotchas: recorded for ["image","text"]; a text-only request is refused alike.
        raise ApiError(
            404,
            "No endpoints found that support the requested output modalities: "
            + ", ".join(requested),
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must be a non-empty array")
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    if not user:
        raise invalid_request("messages must contain a user message")
    content = user[-1].get("content")
    texts: list[str] = []
    urls: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                if not isinstance(url, str):
                    raise invalid_request("an image_url part needs image_url.url")
                urls.append(url)
            else:
                raise invalid_request(f"unsupported content part type {kind!r}")
    else:
        raise invalid_request("message content must be a string or an array of parts")
    prompt = "\n".join(t for t in texts if t)
    if not prompt:
        raise invalid_request("the user message has no text")
    image_config = body.get("image_config")
    if image_config is not None and not isinstance(image_config, dict):
        raise invalid_request("image_config must be an object")
    aspect_ratio = (image_config or {}).get("aspect_ratio")
    # docs/openrouter.md#chat-route: whether FLUX honours image_config.aspect_ratio on chat is UNCONFIRMED; we honour it.
    _capabilities(
        model,
        n=None,
        aspect_ratio=aspect_ratio,
        output_format=None,
        reference_count=len(urls),
        extra={"seed": body.get("seed")},
    )
    return Job(
        model=model,
        prompt=prompt,
        seed=_seed(body.get("seed")),
        aspect_ratio=aspect_ratio if isinstance(aspect_ratio, str) else None,
        output_format="jpeg",  # docs/openrouter.md#chat-response: a JPEG data URL (INFERRED from the /images recording)
        reference_urls=urls,
        options=_provider_options(body, model, ctx),
        stream=body.get("stream") is True,
    )
