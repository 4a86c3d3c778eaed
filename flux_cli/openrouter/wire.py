"""Request bodies and response parsing for both routes. Pure: bytes and dicts in, typed values out.

Everything read here is untrusted: strict JSON (no NaN/Infinity), strict base64, a type check at
every step, and server text neutralised before it can reach a terminal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flux_cli.openrouter import errors as E
from flux_cli.pricing import usd_to_micros
from flux_cli.textsafe import strip_control

PROVIDER_SLUG = "black-forest-labs"
MAX_MESSAGE_CHARS = 300


@dataclass(frozen=True)
class ImageRequest:
    """One image, as the user asked for it. `references` are data: or http(s) URLs."""

    model: str
    prompt: str
    seed: int | None = None
    aspect_ratio: str | None = None
    output_format: str | None = None
    references: tuple[str, ...] = ()
    provider_options: Mapping[str, Any] | None = None
    max_output_tokens: int | None = None
    resolution: str | None = None
    send_n: bool = (
        True  # False for a model that does not list `n` (docs/openrouter.md#image-request)
    )


@dataclass(frozen=True)
class Usage:
    prompt_tokens: Decimal | None = None
    completion_tokens: Decimal | None = None
    total_tokens: Decimal | None = None
    cost_micros: int | None = None
    # `usage.cost` as the answer wrote it, when it is not a usable charge (not a number, not
    # finite, negative, or above MAX_REPORTED_COST_USD): kept for the record, never summed.
    cost_unusable: str | None = None


@dataclass(frozen=True)
class ParsedImage:
    """An image found in a response, before its bytes are checked."""

    encoded: str  # base64 payload, a data: URL, or an http(s) URL (chat route)
    kind: str  # "b64", "data-url" or "url"
    media_type: str | None
    usage: Usage
    generation_id: str | None
    provider: str | None


# -- requests -------------------------------------------------------------------------------


def images_body(req: ImageRequest) -> dict[str, Any]:
    """`POST /images` (docs/openrouter.md#image-request)."""
    body: dict[str, Any] = {"model": req.model, "prompt": req.prompt}
    if req.send_n:
        body["n"] = 1
    if req.aspect_ratio:
        body["aspect_ratio"] = req.aspect_ratio
    if req.resolution:
        body["resolution"] = req.resolution
    if req.seed is not None:
        body["seed"] = req.seed
    if req.output_format:
        body["output_format"] = req.output_format
    if req.references:
        body["input_references"] = [
            {"type": "image_url", "image_url": {"url": url}} for url in req.references
        ]
    if req.provider_options:
        body["provider"] = {"options": {PROVIDER_SLUG: dict(req.provider_options)}}
    return body


def chat_body(req: ImageRequest) -> dict[str, Any]:
    """`POST /chat/completions` with `modalities: ["image"]` (docs/openrouter.md#chat-route). Text first, then images."""
    content: str | list[dict[str, Any]]
    if req.references:
        content = [{"type": "text", "text": req.prompt}] + [
            {"type": "image_url", "image_url": {"url": url}} for url in req.references
        ]
    else:
        content = req.prompt
    body: dict[str, Any] = {
        "model": req.model,
        "messages": [{"role": "user", "content": content}],
        "modalities": ["image"],
    }
    if req.aspect_ratio:
        body["image_config"] = {"aspect_ratio": req.aspect_ratio}
    if req.seed is not None:
        body["seed"] = req.seed
    if req.max_output_tokens:
        # The credit pre-check reserves max_tokens; unset, it can refuse affordable calls (docs/openrouter.md#chat-route).
        body["max_tokens"] = req.max_output_tokens
    return body


# -- JSON --------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


class NonFinite(str):
    """NaN, Infinity or -Infinity where a number was (not JSON): no check takes it for one."""

    __slots__ = ()


def loads(payload: bytes, *, non_finite: bool = False) -> Any:
    """Strict JSON: leading whitespace allowed (keep-alive newlines, docs/openrouter.md#errors-with-http-200), NaN/Infinity refused,
    floats as Decimal so money is never a binary float. `non_finite`: NaN/Infinity are read as
    `NonFinite` text instead (an image answer whose only flaw is its `usage.cost` is kept)."""
    constant = NonFinite if non_finite else _reject_constant
    try:
        return json.loads(payload, parse_float=Decimal, parse_constant=constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise E.BadResponseError(
            f"the server's answer is not valid JSON ({_short(str(exc))})"
        ) from None


def _short(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    return strip_control(" ".join(text.split()), limit=limit)


def server_text(value: object) -> str:
    """Untrusted server text, made safe and short for one line on a terminal."""
    if isinstance(value, str):
        return _short(value)
    if value is None:
        return ""
    try:
        return _short(json.dumps(value, default=str, ensure_ascii=False))
    except (TypeError, ValueError):
        return ""


# -- usage -------------------------------------------------------------------------------------


def number(value: object) -> Decimal | None:
    """A finite number from untrusted JSON (int, Decimal or numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            return None
    else:
        return None
    return result if result.is_finite() else None


#: Above this a single image's reported charge is a misreading, whatever its estimate: the
#: ledger's sums stay far from any integer limit (docs/reliability.md#reported-charges).
MAX_REPORTED_COST_USD = Decimal(1_000_000)


def parse_usage(value: object) -> Usage:
    if not isinstance(value, Mapping):
        return Usage()
    raw = value.get("cost")
    cost = number(raw)
    cost_micros: int | None = None
    unusable: str | None = None
    if cost is not None and 0 <= cost <= MAX_REPORTED_COST_USD:
        cost_micros = usd_to_micros(cost)
    elif raw is not None:
        unusable = reported_text(raw)
    return Usage(
        prompt_tokens=number(value.get("prompt_tokens")),
        completion_tokens=number(value.get("completion_tokens")),
        total_tokens=number(value.get("total_tokens")),
        cost_micros=cost_micros,
        cost_unusable=unusable,
    )


def reported_text(value: object, limit: int = 40) -> str:
    """An untrusted reported figure as short, safe text for messages and the ledger."""
    if isinstance(value, Decimal):
        text = str(value) if value.is_finite() and value.adjusted() < 15 else f"{value:.6E}"
    elif isinstance(value, str) and not isinstance(value, NonFinite):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (bool, int, NonFinite)) or value is None:
        text = json.dumps(value) if not isinstance(value, NonFinite) else str(value)
        if isinstance(value, int) and not isinstance(value, bool) and len(text) > 15:
            text = f"{Decimal(value):.6E}"
    else:
        text = f"a JSON {type(value).__name__}"
    return strip_control(text, limit=limit)


# -- errors ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorInfo:
    """What an error envelope says, tolerating every shape seen in the wild (docs/openrouter.md#envelope)."""

    code: int | str | None
    message: str
    error_type: str | None
    metadata: Mapping[str, Any]
    raw: Mapping[str, Any]

    @property
    def moderation(self) -> bool:
        if self.error_type in {"content_policy_violation", "refusal"}:
            return True
        if self.metadata.get("reasons") or self.metadata.get("flagged_input"):
            return True
        raw_text = server_text(self.metadata.get("raw")).lower()
        return "moderat" in self.message.lower() or "moderated" in raw_text


def error_info(obj: object) -> ErrorInfo | None:
    """The `error` object of a body, or None when the body carries none."""
    if not isinstance(obj, Mapping):
        return None
    error = obj.get("error")
    if error is None:
        return None
    if isinstance(error, str):
        return ErrorInfo(None, server_text(error), None, {}, {})
    if not isinstance(error, Mapping):
        return ErrorInfo(None, "unrecognised error object", None, {}, {})
    code_value = error.get("code", error.get("http_status"))
    code: int | str | None
    if isinstance(code_value, bool):
        code = None
    elif isinstance(code_value, int):
        code = code_value
    elif isinstance(code_value, str):
        # ASCII digits only: "²".isdigit() is True, but int("²") raises.
        is_number = code_value.isascii() and code_value.isdigit() and len(code_value) <= 3
        code = int(code_value) if is_number else code_value
    else:
        code = None
    metadata = error.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    error_type = metadata.get("error_type") or error.get("error_type") or error.get("type")
    message = server_text(error.get("message")) or "no message"
    return ErrorInfo(
        code=code,
        message=message,
        error_type=error_type if isinstance(error_type, str) else None,
        metadata=metadata,
        raw=error,
    )


def detail_of(info: ErrorInfo) -> str:
    """The message, plus the upstream provider's own words when the message is generic."""
    text = info.message
    raw = info.metadata.get("raw")
    if raw and info.message.lower() in {"provider returned error", "no message"}:
        text = f"{text}: {server_text(raw)}"
    reasons = info.metadata.get("reasons")
    if isinstance(reasons, list) and reasons:
        text += f" (reasons: {server_text(', '.join(str(r) for r in reasons))})"
    return _short(text)


# -- success bodies ----------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return server_text(value) or None
    return None


def parse_images_success(obj: object, headers: Mapping[str, str]) -> ParsedImage:
    """`{created, data:[{b64_json, media_type?}], usage}` (docs/openrouter.md#image-response). No id in the body: header only."""
    generation_id = _header(headers, "x-generation-id")
    provider = _header(headers, "x-provider-name")
    if not isinstance(obj, Mapping):
        raise E.BadResponseError(
            "the server's answer is not a JSON object", generation_id=generation_id
        )
    usage = parse_usage(obj.get("usage"))
    data = obj.get("data")
    if not isinstance(data, list) or not data:
        raise E.BadResponseError(
            "the server's answer holds no image (empty `data`)",
            generation_id=generation_id,
            cost_micros=usage.cost_micros,
        ).with_unusable(usage.cost_unusable)
    item = data[0]
    b64 = item.get("b64_json") if isinstance(item, Mapping) else None
    if not isinstance(b64, str) or not b64:
        raise E.BadResponseError(
            "the server's answer holds no image data (`b64_json` missing or empty)",
            generation_id=generation_id,
            cost_micros=usage.cost_micros,
        ).with_unusable(usage.cost_unusable)
    media_type = item.get("media_type")
    return ParsedImage(
        encoded=b64,
        kind="b64",
        media_type=media_type if isinstance(media_type, str) else None,
        usage=usage,
        generation_id=generation_id,
        provider=provider,
    )


def parse_chat_success(obj: object, headers: Mapping[str, str]) -> ParsedImage:
    """`choices[0].message.images[0].image_url.url`: a data URL or an http(s) URL (docs/openrouter.md#chat-response)."""
    generation_id = _header(headers, "x-generation-id")
    provider = _header(headers, "x-provider-name")
    if not isinstance(obj, Mapping):
        raise E.BadResponseError(
            "the server's answer is not a JSON object", generation_id=generation_id
        )
    body_id = obj.get("id")
    if generation_id is None and isinstance(body_id, str):
        generation_id = server_text(body_id) or None
    body_provider = obj.get("provider")
    if provider is None and isinstance(body_provider, str):
        provider = server_text(body_provider) or None
    usage = parse_usage(obj.get("usage"))
    choices = obj.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    message = choice.get("message") if isinstance(choice, Mapping) else None
    images = message.get("images") if isinstance(message, Mapping) else None
    first = images[0] if isinstance(images, list) and images else None
    image_url = first.get("image_url") if isinstance(first, Mapping) else None
    url = image_url.get("url") if isinstance(image_url, Mapping) else None
    if not isinstance(url, str) or not url:
        raise E.BadResponseError(
            "the server's answer holds no image (no `message.images`)",
            generation_id=generation_id,
            cost_micros=usage.cost_micros,
        ).with_unusable(usage.cost_unusable)
    if url.startswith("data:"):
        kind, media_type = "data-url", url[5:].split(";", 1)[0].split(",", 1)[0] or None
    else:
        kind, media_type = "url", None
    return ParsedImage(url, kind, media_type, usage, generation_id, provider)


def choice_error(obj: object) -> ErrorInfo | None:
    """An error reported inside `choices[0]` of a 200 chat body (`finish_reason: "error"`, docs/openrouter.md#errors-with-http-200)."""
    if not isinstance(obj, Mapping):
        return None
    choices = obj.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, Mapping):
        return None
    if isinstance(choice.get("error"), Mapping):
        return error_info({"error": choice["error"]})
    if choice.get("finish_reason") == "error":
        return ErrorInfo(None, "the generation ended with an error", None, {}, {})
    return None
