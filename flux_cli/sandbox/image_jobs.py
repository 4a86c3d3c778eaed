"""One generation of either route: priced with flux_cli.pricing and sized with flux_cli.sizes (so
the client's estimate equals the charge), rendered by `render`, charged and remembered.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from flux_cli.embedded_catalog import PROVIDER_NAME
from flux_cli.pricing import estimate, image_tokens
from flux_cli.sandbox import render
from flux_cli.sandbox.faults import Fault
from flux_cli.sandbox.image_requests import Context, Job, is_int
from flux_cli.sandbox.keys import key_label
from flux_cli.sandbox.state import GenerationRecord, RecordedRequest
from flux_cli.sandbox.wire import (
    image_error,
    provider_error,
)
from flux_cli.sizes import SizeError, check_size
from flux_cli.tiers import planned_size

_ID_ALPHABET = string.ascii_letters + string.digits


def generation_id(prefix: str) -> str:
    # docs/openrouter.md#endpoints-and-headers: `gen-img-<unix>-<20 chars>` on /images, `gen-<unix>-<20 chars>` on chat.
    suffix = "".join(random.choices(_ID_ALPHABET, k=20))
    return f"{prefix}-{int(time.time())}-{suffix}"


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
        if value is not None and not is_int(value):
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
