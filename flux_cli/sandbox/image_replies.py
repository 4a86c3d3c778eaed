"""The answers of the two generation routes, in the shapes recorded in
docs/openrouter.md#image-response and docs/openrouter.md#chat-response (streamed or not).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from flux_cli.sandbox.fault_replies import error_in_200_payload, stream_error
from flux_cli.sandbox.faults import Fault
from flux_cli.sandbox.image_jobs import Result
from flux_cli.sandbox.image_requests import Context, Job
from flux_cli.sandbox.state import usd
from flux_cli.sandbox.wire import (
    Reply,
    dump_json,
)

# docs/openrouter.md#price-units/docs/openrouter.md#image-response: the recorded fractional count 14417.92 is 4096 × 3.52 (cost-weighted tokens).
FRACTIONAL_TOKEN_FACTOR = 3.52


def usage_payload(result: Result, fault: Fault | None) -> dict[str, Any]:
    # docs/openrouter.md#image-response: the recorded usage object, field for field.
    prompt_tokens: float = result.prompt_tokens
    completion_tokens: float = result.completion_tokens
    if fault is not None and fault.kind == "fractional-tokens":
        # docs/openrouter.md#image-response/docs/openrouter.md#known-gotchas: float token counts (e.g. 14417.92) are reported by the real API.
        completion_tokens = round(result.completion_tokens * FRACTIONAL_TOKEN_FACTOR, 2)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": round(prompt_tokens + completion_tokens, 2),
        "cost": usd(result.cost_micros),
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": usd(result.cost_micros),
            "upstream_inference_prompt_cost": usd(result.reference_micros),
            "upstream_inference_completions_cost": usd(result.output_micros),
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": completion_tokens},
    }
    if fault is not None and fault.kind == "usage-cost":
        usage["cost"] = REPORTED_COST  # written verbatim by `_reported_cost`
    return usage


# Stands for the usage-cost fault's JSON text, which may not be JSON Python can write (1e400).
REPORTED_COST = "\u0000flux2-sandbox-reported-cost\u0000"


def _reported_cost(reply: Reply, fault: Fault | None) -> Reply:
    """The reply with the usage-cost fault's text where the answer's usage.cost goes."""
    if fault is None or fault.cost is None:
        return reply
    marker = dump_json(REPORTED_COST)
    token = fault.cost.encode("utf-8")
    if reply.events is not None:
        return replace(reply, events=[e.replace(marker, token) for e in reply.events])
    return replace(reply, raw=dump_json(reply.payload).replace(marker, token), payload=None)


def _b64(result: Result, fault: Fault | None) -> str:
    text = base64.b64encode(result.image).decode("ascii")
    if fault is not None and fault.kind == "corrupt-base64":
        # Junk characters in the middle and a broken tail: neither strict nor lenient decoders
        # get the image back.
        middle = len(text) // 2
        text = text[:middle] + "*#%" + text[middle:-3]
    return text


def images_reply(result: Result, fault: Fault | None) -> Reply:
    headers = {"X-Generation-Id": result.generation_id, "X-Provider-Name": result.provider}
    if fault is not None and fault.kind == "error-in-200":
        return Reply(200, error_in_200_payload(fault), headers=headers)
    data: list[dict[str, Any]] = []
    if fault is None or fault.kind != "empty-data":
        item: dict[str, Any] = {"b64_json": _b64(result, fault), "media_type": result.media_type}
        if fault is not None and fault.kind == "missing-media-type":
            del item["media_type"]
        data.append(item)
    # docs/openrouter.md#image-response / docs/openrouter.md#known-gotchas: `created` is 0 in every recording, and the body carries no id.
    payload = {"created": 0, "data": data, "usage": usage_payload(result, fault)}
    return _reported_cost(Reply(200, payload, headers=headers), fault)


def _image_url(result: Result, fault: Fault | None, ctx: Context) -> str:
    if fault is not None and fault.kind == "https-url":
        # docs/openrouter.md#chat-response/docs/openrouter.md#known-gotchas: a URL to download instead of a data URL; ours is plain http on loopback.
        ext = "png" if result.media_type == "image/png" else "jpg"
        return (
            fault.url or f"http://127.0.0.1:{ctx.port}/_sandbox/files/{result.generation_id}.{ext}"
        )
    media_type = result.media_type
    if fault is not None and fault.kind == "missing-media-type":
        media_type = ""  # RFC 2397 allows `data:;base64,…`
    return f"data:{media_type};base64,{_b64(result, fault)}"


def chat_reply(job: Job, result: Result, fault: Fault | None, ctx: Context) -> Reply:
    headers = {"X-Generation-Id": result.generation_id, "X-Provider-Name": result.provider}
    created = int(time.time())
    if job.stream:
        return _reported_cost(_chat_stream(job, result, fault, ctx, headers, created), fault)
    if fault is not None and fault.kind == "error-in-200":
        return Reply(200, error_in_200_payload(fault), headers=headers)
    message: dict[str, Any] = {"role": "assistant", "content": None}
    if fault is not None and fault.kind == "empty-data":
        message["content"] = (
            ""  # docs/openrouter.md#known-gotchas: a text-only answer with no images
        )
    else:
        message["images"] = [
            {"type": "image_url", "image_url": {"url": _image_url(result, fault, ctx)}}
        ]
    # docs/openrouter.md#chat-response: the documented chat response for FLUX.
    payload = {
        "id": result.generation_id,
        "object": "chat.completion",
        "created": created,
        "model": job.model.id,
        "provider": result.provider,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "native_finish_reason": "stop",
                "message": message,
            }
        ],
        "usage": usage_payload(result, fault),
    }
    return _reported_cost(Reply(200, payload, headers=headers), fault)


def _chat_stream(
    job: Job,
    result: Result,
    fault: Fault | None,
    ctx: Context,
    headers: dict[str, str],
    created: int,
) -> Reply:
    """docs/openrouter.md#streaming: SSE with a keep-alive comment, one delta.images chunk, the finish chunk repeated with
    usage, then [DONE]; a failure is a mid-stream error chunk (HTTP already 200)."""
    base = {
        "id": result.generation_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": job.model.id,
        "provider": result.provider,
    }

    def event(payload: Mapping[str, Any]) -> bytes:
        return b"data: " + dump_json(payload) + b"\n\n"

    events = [b": OPENROUTER PROCESSING\n\n"]
    if fault is not None and fault.kind == "error-in-200":
        error = stream_error(fault)
        events.append(
            event(
                {
                    **base,
                    "error": error,
                    "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
                }
            )
        )
    else:
        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        if fault is None or fault.kind != "empty-data":
            delta["images"] = [
                {"type": "image_url", "image_url": {"url": _image_url(result, fault, ctx)}}
            ]
        events.append(
            event(
                {
                    **base,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                }
            )
        )
        finish = {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": ""},
                    "finish_reason": "stop",
                }
            ],
        }
        events.append(event(finish))
        events.append(event({**finish, "usage": usage_payload(result, fault)}))
    events.append(b"data: [DONE]\n\n")
    return Reply(200, headers=headers, content_type="text/event-stream", events=events)
