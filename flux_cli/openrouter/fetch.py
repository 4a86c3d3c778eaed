"""From a successful answer to checked image bytes: decode the base64 or data URL, or download the
URL the chat route may give instead (docs/openrouter.md), then check the image.

Every failure here comes after the image was made and billed, so each error carries the charge
and, where there are bytes, the bytes themselves (`raw`), which the caller keeps in the rescue dir.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlsplit

import httpx

from flux_cli import http_client
from flux_cli.credentials import is_loopback_host
from flux_cli.openrouter import answers as A
from flux_cli.openrouter import errors as E
from flux_cli.openrouter import wire

__all__ = ["MAX_IMAGE_BYTES", "image_bytes", "inspect_image"]

#: One FLUX image is at most ~4 MP; a worst-case 4 MP PNG is ~17 MB.
MAX_IMAGE_BYTES = 24 * 1024 * 1024


def image_bytes(
    parsed: wire.ParsedImage,
    *,
    transport: httpx.BaseTransport | None,
    timeout: httpx.Timeout,
) -> bytes:
    """The image's bytes, as sent (not yet checked). Within the caller's `http_client.deadline`."""
    from flux_cli import images

    try:
        if parsed.kind == "b64":
            return images.decode_base64_strict(parsed.encoded, max_bytes=MAX_IMAGE_BYTES)
        if parsed.kind == "data-url":
            return images.parse_data_url(parsed.encoded, max_bytes=MAX_IMAGE_BYTES)[1]
    except images.InvalidImage as exc:
        raise E.BadResponseError(
            f"the image data in the answer is corrupt ({exc.reason})"
            + A.id_note(parsed.generation_id),
            generation_id=parsed.generation_id,
            cost_micros=parsed.usage.cost_micros,
            raw=_loose_base64(parsed),
        ) from None
    return _download(parsed, transport=transport, timeout=timeout)


def _loose_base64(parsed: wire.ParsedImage) -> bytes | None:
    """What base64 that the strict decoder refused (line breaks, the URL-safe alphabet, missing
    padding) decodes to, so that the paid bytes can be kept; None when it decodes to nothing."""
    text = parsed.encoded
    if parsed.kind == "data-url":
        text = text.partition(",")[2]
    if len(text) > MAX_IMAGE_BYTES * 2:
        return None
    compact = "".join(text.split()).translate(str.maketrans("-_", "+/")).rstrip("=")
    try:
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if 0 < len(data) <= MAX_IMAGE_BYTES else None


def _download(
    parsed: wire.ParsedImage, *, transport: httpx.BaseTransport | None, timeout: httpx.Timeout
) -> bytes:
    """Fetch the image URL without the key, https only (http for loopback), no redirects,
    size-capped."""
    url = parsed.encoded
    parts = urlsplit(url)
    host = parts.hostname or ""

    def billed(message: str) -> E.BadResponseError:
        return E.BadResponseError(
            message, generation_id=parsed.generation_id, cost_micros=parsed.usage.cost_micros
        )

    if parts.scheme not in {"https", "http"} or (
        parts.scheme == "http" and not is_loopback_host(host)
    ):
        raise billed(f"the image is at a URL flux2 will not fetch ({wire.server_text(url)[:80]})")

    def in_time() -> None:
        if http_client.deadline_passed():
            raise httpx.ReadTimeout("the wall-clock limit was reached")

    try:
        with (
            http_client.make_client(transport=transport, timeout=timeout) as plain,
            plain.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise billed(
                    f"downloading the image from {host} failed with HTTP {response.status_code}"
                )
            return http_client.read_capped(response, MAX_IMAGE_BYTES, each_chunk=in_time)
    except http_client.BodyTooLarge as exc:
        raise billed(f"the image at {host} is {exc}") from None
    except httpx.HTTPError as exc:
        reason = A.describe(exc)
        if http_client.deadline_passed():
            reason = "the time limit of the attempt (--timeout) was reached"
        raise billed(f"downloading the image from {host} failed ({reason})") from None


def inspect_image(data: bytes, parsed: wire.ParsedImage) -> tuple[bytes, str, int, int]:
    """The checked image: (bytes as written, format, width, height)."""
    from flux_cli import images

    try:
        clean, info = images.normalise_image(data)
    except images.InvalidImage as exc:
        raise E.BadResponseError(
            f"the image in the answer cannot be used ({exc.reason})"
            + A.id_note(parsed.generation_id),
            generation_id=parsed.generation_id,
            cost_micros=parsed.usage.cost_micros,
            raw=data,
        ) from None
    return clean, info.format, info.width, info.height
