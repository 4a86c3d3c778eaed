"""The two generation routes: `POST /images` and `POST /chat/completions`.

Both parse into one `Job`, priced with flux_cli.pricing and sized with flux_cli.sizes (so the
client's estimate equals the charge), rendered by `render`, and answered in the shapes recorded in
docs/openrouter.md#image-response.
"""

from __future__ import annotations

import base64
import json
import random
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from flux_cli.embedded_catalog import PROVIDER_NAME, PROVIDER_SLUG
from flux_cli.pricing import estimate, image_tokens
from flux_cli.sandbox import render
from flux_cli.sandbox.catalog import BY_ID, SandboxModel, passthrough
from flux_cli.sandbox.faults import Fault, error_in_200_payload, stream_error
from flux_cli.sandbox.keys import key_label
from flux_cli.sandbox.state import FileStore, GenerationRecord, Ledger, RecordedRequest, usd
from flux_cli.sandbox.wire import (
    SANDBOX_USER_ID,
    ApiError,
    Reply,
    capability_rejection,
    dump_json,
    image_error,
    invalid_request,
    provider_error,
)
from flux_cli.sizes import SizeError, check_size
from flux_cli.tiers import planned_size

_BY_ID = BY_ID
_ID_ALPHABET = string.ascii_letters + string.digits
# docs/openrouter.md#price-units/docs/openrouter.md#image-response: the recorded fractional count 14417.92 is 4096 × 3.52 (cost-weighted tokens).
FRACTIONAL_TOKEN_FACTOR = 3.52
SEED_RANGE = (0, 2**32 - 1)


def generation_id(prefix: str) -> str:
    # docs/openrouter.md#endpoints-and-headers: `gen-img-<unix>-<20 chars>` on /images, `gen-<unix>-<20 chars>` on chat.
    suffix = "".join(random.choices(_ID_ALPHABET, k=20))
    return f"{prefix}-{int(time.time())}-{suffix}"


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


@dataclass(frozen=True)
class Result:
    generation_id: str
    image: bytes
    media_type: str
    width: int
    height: int
    cost_micros: int  # what the body reports (and what was charged when billed)
    output_micros: int
    reference_micros: int
    prompt_tokens: int
    completion_tokens: int
    provider: str = PROVIDER_NAME  # the endpoint that served it (X-Provider-Name)


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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seed(value: object) -> int:
    if value is None:
        return random.randint(*SEED_RANGE)
    if not _is_int(value):
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
        if not _is_int(n):
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


# --- producing -------------------------------------------------------------------------------


def _load_references(job: Job, ctx: Context, record: RecordedRequest) -> list[render.Reference]:
    refs: list[render.Reference] = []
    for i, url in enumerate(job.reference_urls):
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            refs.append(render.decode_data_url(url, i))
        elif scheme in ("http", "https"):
            own = _own_file(url, ctx)
            if own is not None:
                data = ctx.files.get(own)
                if data is None:
                    raise image_error(i, "image_not_found", f"{url} is no longer served", 404)
                refs.append(render.decode_image_bytes(data[0], i, source="sandbox-file"))
            else:
                # The sandbox cannot fetch the internet: bill one megapixel, render without it.
                record.notes.append(
                    f"reference {i + 1}: {url} not fetched (no network); billed as 1024x1024"
                )
                refs.append(render.remote_reference(url))
        else:
            raise image_error(i, "invalid_image", "the URL must be a data: or http(s) URL")
    return refs


def _own_file(url: str, ctx: Context) -> str | None:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None
    if parts.hostname not in ("127.0.0.1", "localhost") or port != ctx.port:
        return None
    prefix = "/_sandbox/files/"
    return parts.path[len(prefix) :] if parts.path.startswith(prefix) else None


def _output_size(job: Job, refs: list[render.Reference]) -> tuple[int, int]:
    sizes = render.reference_sizes(refs)
    width, height = job.options.get("width"), job.options.get("height")
    if width is None and height is None:
        try:
            return planned_size(job.aspect_ratio, job.resolution, references=sizes)
        except SizeError as exc:
            raise provider_error(400, str(exc)) from None
    # docs/openrouter.md#image-request: width/height as BFL passthrough (UNCONFIRMED on OpenRouter); a bad value is the
    # provider's 400, relayed as "Provider returned error" with the upstream text in metadata.raw.
    base = planned_size(job.aspect_ratio, job.resolution, references=sizes)
    for name, value in (("width", width), ("height", height)):
        if value is not None and not _is_int(value):
            raise provider_error(400, f"{name}: Input should be a valid integer")
    explicit = (
        width if isinstance(width, int) else base[0],
        height if isinstance(height, int) else base[1],
    )
    try:
        check_size(*explicit)
    except SizeError as exc:
        raise provider_error(400, str(exc)) from None
    return explicit


_MEDIA_TYPES = {**render.MEDIA_TYPES, "webp": "image/webp", "svg": "image/svg+xml"}


def _image(
    job: Job,
    width: int,
    height: int,
    fmt: str,
    refs: tuple[render.Reference, ...],
    signer: render.ContentSigner | None = None,
) -> bytes:
    """The picture in `fmt`: JPEG and PNG rendered, WebP converted from the PNG, SVG drawn as
    text (svg-only models, docs/openrouter.md#image-catalog)."""
    if fmt == "svg":
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<rect width="100%" height="100%" fill="#{job.seed % 0xFFFFFF:06x}"/></svg>'
        ).encode()
    drawn = "png" if fmt == "webp" else fmt
    data = render.render(
        render.RenderSpec(job.model.alias, job.prompt, job.seed, width, height, drawn, refs),
        signer if fmt != "webp" else None,
    )
    if fmt != "webp":
        return data
    import io

    from PIL import Image

    out = io.BytesIO()
    with Image.open(io.BytesIO(data)) as picture:
        picture.save(out, "WEBP", lossless=True)
    return out.getvalue()


def _let_the_burst_in(latency: float, arrived: float) -> None:
    """Requests come in bursts (a batch's slots free up together), and rendering holds the
    interpreter lock for milliseconds at a time, which would delay taking in (and timing) the
    rest of a burst. When a generation is slow anyway, start rendering a little after arrival,
    a tenth of the latency and at most 100 ms: the answer still leaves on time."""
    pause = min(latency / 10, 0.1) - (time.monotonic() - arrived)
    if pause > 0:
        time.sleep(pause)


def produce(
    job: Job,
    *,
    key: str,
    api_type: str,
    id_prefix: str,
    ctx: Context,
    request_headers: Mapping[str, str],
    record: RecordedRequest,
    fault: Fault | None,
) -> Result:
    """Price, check credit, render, charge and remember one generation."""
    started = time.monotonic()
    refs = _load_references(job, ctx, record)
    width, height = _output_size(job, refs)
    ref_sizes = render.reference_sizes(refs)
    price = estimate(job.model.price, (width, height), ref_sizes, prompt=job.prompt)
    cost = price.total_micros
    ctx.ledger.check_key_budget(key)
    ctx.ledger.reserve(cost)
    gen_id = generation_id(id_prefix)
    record.generation_id = gen_id
    try:
        fmt = job.output_format
        if fault is not None and fault.kind == "lying-media-type":
            fmt = "jpeg"  # docs/openrouter.md#known-gotchas: JPEG bytes where PNG was asked for and is claimed
        image = b""
        if fault is None or fault.kind != "error-in-200":
            _let_the_burst_in(ctx.latency, record.time)
            image = _image(job, width, height, fmt, tuple(refs), ctx.signer)
        media_type = _MEDIA_TYPES[fmt]
        if fault is not None and fault.kind == "lying-media-type":
            media_type = "image/png"
        completion_tokens = image_tokens(width, height)
        if refs:
            prompt_tokens = sum(image_tokens(w, h) for w, h in ref_sizes)
        else:
            prompt_tokens = len(job.prompt) // 4 + 1  # text tokens (recorded: 19 for a prompt)
        billed = fault is None or fault.billed
    except BaseException:
        ctx.ledger.release(cost)
        raise
    result = Result(
        generation_id=gen_id,
        image=image,
        media_type=media_type,
        width=width,
        height=height,
        cost_micros=cost,
        output_micros=price.output_micros,
        reference_micros=price.reference_micros,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        provider=job.model.endpoint.provider_name,
    )
    if not billed:
        ctx.ledger.release(cost)
        if fault is not None and fault.kind == "empty-data":
            # No image came back, so nothing is reported or charged for one.
            result = replace(
                result, cost_micros=0, output_micros=0, reference_micros=0, completion_tokens=0
            )
        return result
    ext = "jpg" if fmt == "jpeg" else fmt
    ctx.files.put(f"{gen_id}.{ext}", image, _MEDIA_TYPES[fmt])
    ctx.ledger.commit(
        key,
        GenerationRecord(
            id=gen_id,
            model=job.model.id,
            api_type=api_type,
            key_label=key_label(key),
            cost_micros=cost,
            width=width,
            height=height,
            reference_sizes=tuple(ref_sizes),
            seed=job.seed,
            output_format=fmt,
            prompt=job.prompt,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            created_at=time.time(),
            created_monotonic=time.monotonic(),
            generation_ms=int(max(time.monotonic() - started, ctx.latency) * 1000),
            streamed=job.stream,
            finish_reason="stop" if api_type == "completions" else "complete",
            origin=request_headers.get("http-referer") or "",
            http_referer=request_headers.get("http-referer"),
            session_id=request_headers.get("x-session-id"),
        ),
        cost,
    )
    return result


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
