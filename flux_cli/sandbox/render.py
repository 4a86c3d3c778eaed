"""Real images for the sandbox: decoding references strictly and rendering deterministic outputs.

An output is a colour gradient with a few shapes (or the first reference, fitted and tinted), with
the prompt, model, seed and size written on it. Every choice comes from the sha256 of the inputs,
so the same request gives byte-identical files and a different seed a visibly different one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageEnhance, ImageFont, ImageOps, UnidentifiedImageError

from flux_cli.sandbox.wire import image_error

# docs/openrouter.md#chat-route: the input types OpenRouter accepts.
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# No pixel limit is documented (docs/openrouter.md#not-confirmed); 64 MP refuses decompression bombs long before Pillow's own
# warning threshold (~89 MP), so that warning cannot fire for an image that gets this far.
MAX_REFERENCE_PIXELS = 8192 * 8192
JPEG_QUALITY = 90
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png"}
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


@dataclass(frozen=True)
class Reference:
    """One input reference: its pixel size (what is billed) and, when we have it, the picture."""

    width: int
    height: int
    digest: str
    image: Image.Image | None = None
    source: str = "data"  # "data", "sandbox-file" or "remote" (not fetched)


def decode_data_url(url: str, index: int) -> Reference:
    """A `data:image/…;base64,…` URL → a checked, fully decoded image (docs/openrouter.md#references-and-size-limits error types)."""
    head, comma, data = url.partition(",")
    if not comma or not head.lower().endswith(";base64"):
        raise image_error(index, "invalid_image", "data URL must be base64-encoded")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise image_error(index, "invalid_image", "base64 data could not be decoded") from None
    return decode_image_bytes(raw, index)


def decode_image_bytes(raw: bytes, index: int, source: str = "data") -> Reference:
    if not raw:
        raise image_error(index, "invalid_image", "image data is empty")
    digest = hashlib.sha256(raw).hexdigest()
    try:
        with Image.open(io.BytesIO(raw), formats=ACCEPTED_FORMATS) as im:
            width, height = im.size
            if width * height > MAX_REFERENCE_PIXELS:
                raise image_error(
                    index, "image_too_large", f"{width}x{height} is over the pixel limit"
                )
            im.seek(0)
            im.load()
            picture = im.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        if _is_other_image(raw):
            raise image_error(
                index, "unsupported_image_format", "use PNG, JPEG, WebP or GIF"
            ) from None
        raise image_error(index, "invalid_image", "not a decodable image") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise image_error(
            index, "invalid_image", "the image data is truncated or corrupt"
        ) from None
    return Reference(width, height, digest, picture, source)


def _is_other_image(raw: bytes) -> bool:
    """Whether Pillow knows the bytes as some image format we do not accept (BMP, TIFF, …)."""
    try:
        with Image.open(io.BytesIO(raw)):
            return True
    except Exception:
        return False


def remote_reference(url: str) -> Reference:
    # An http(s) URL the sandbox cannot fetch: billed as one megapixel, rendered without it.
    return Reference(1024, 1024, hashlib.sha256(url.encode("utf-8")).hexdigest(), None, "remote")


@dataclass(frozen=True)
class RenderSpec:
    model_alias: str
    prompt: str
    seed: int
    width: int
    height: int
    fmt: str  # "jpeg" or "png"
    references: tuple[Reference, ...] = ()

    def digest(self) -> bytes:
        h = hashlib.sha256()
        for part in (self.model_alias, self.prompt, str(self.seed), f"{self.width}x{self.height}"):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        h.update(self.fmt.encode("ascii"))
        for ref in self.references:
            h.update(ref.digest.encode("ascii"))
        return h.digest()


_cache_lock = threading.Lock()
_cache: OrderedDict[bytes, bytes] = OrderedDict()
_CACHE_SIZE = 16


def render(spec: RenderSpec, signer: ContentSigner | None = None) -> bytes:
    """The encoded image for `spec`; identical inputs give identical bytes (before signing: a
    C2PA manifest has its own random identifiers and time)."""
    key = spec.digest()
    with _cache_lock:
        data = _cache.get(key)
        if data is not None:
            _cache.move_to_end(key)
    if data is None:
        data = _encode(_draw(spec, key), spec.fmt)
        with _cache_lock:
            _cache[key] = data
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return data if signer is None else signer.sign(data, spec.fmt)


@dataclass(frozen=True)
class ContentSigner:
    """Signs rendered images with C2PA content credentials, as FLUX.2's answers come signed
    (docs/image-metadata.md), so that clients can be tested on them: a manifest saying the image
    was created by a trained model, signed with `certificate_chain` (PEM, the signer's
    certificate first; ES256) and `private_key` (PEM). Needs c2pa-python (`flux2-cli[c2pa]`),
    imported only when an image is signed."""

    certificate_chain: bytes
    private_key: bytes
    claim_generator: str = "flux2 sandbox"

    def sign(self, data: bytes, fmt: str) -> bytes:
        import c2pa  # type: ignore[import-untyped,import-not-found,unused-ignore]

        manifest = {
            "claim_generator_info": [{"name": self.claim_generator, "version": "1"}],
            "title": f"image.{'png' if fmt == 'png' else 'jpg'}",
            "assertions": [
                {
                    "label": "c2pa.actions",
                    "data": {
                        "actions": [
                            {
                                "action": "c2pa.created",
                                "digitalSourceType": DIGITAL_SOURCE_TYPE,
                            }
                        ]
                    },
                }
            ],
        }
        info = c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, self.certificate_chain, self.private_key, None
        )
        signed = io.BytesIO()
        with c2pa.Signer.from_info(info) as signer, c2pa.Builder(manifest) as builder:
            builder.sign(signer, MEDIA_TYPES[fmt], io.BytesIO(data), signed)
        return signed.getvalue()


def _colour(digest: bytes, offset: int) -> tuple[int, int, int]:
    r, g, b = digest[offset : offset + 3]
    return (r, g, b)


def _draw(spec: RenderSpec, digest: bytes) -> Image.Image:
    size = (spec.width, spec.height)
    first = next((r.image for r in spec.references if r.image is not None), None)
    if first is not None:
        # An edit visibly derives from its first reference: fitted to the output, tinted.
        fitted = ImageOps.fit(first, size, Image.Resampling.BILINEAR)
        tint = Image.new("RGB", size, _colour(digest, 0))
        canvas = Image.blend(fitted, tint, 0.3)
    else:
        # A two-colour gradient, made as one row or column and stretched (NEAREST copies it):
        # a quarter of the time of colourising a whole canvas, which keeps a busy sandbox's
        # own CPU out of what it measures.
        low, high = _colour(digest, 0), _colour(digest, 3)
        if digest[6] & 2:
            low, high = high, low
        gradient = Image.linear_gradient("L")
        if digest[6] & 1:
            line = gradient.transpose(Image.Transpose.ROTATE_90).resize(
                (spec.width, 1), Image.Resampling.BILINEAR
            )
        else:
            line = gradient.resize((1, spec.height), Image.Resampling.BILINEAR)
        canvas = ImageOps.colorize(line, low, high).resize(size, Image.Resampling.NEAREST)
        draw = ImageDraw.Draw(canvas)
        for i in range(5):
            b = digest[7 + i * 5 : 12 + i * 5]
            x, y = b[0] * spec.width // 255, b[1] * spec.height // 255
            radius = (b[2] % 64 + 24) * min(size) // 400
            box = (x - radius, y - radius, x + radius, y + radius)
            colour = _colour(digest, 20 + i)
            if b[3] & 1:
                draw.ellipse(box, fill=colour)
            else:
                draw.rectangle(box, outline=colour, width=max(2, radius // 6))
    _caption(canvas, spec)
    return canvas


@functools.lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if current and font.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


def _caption(canvas: Image.Image, spec: RenderSpec) -> None:
    width, height = canvas.size
    text_size = max(10, min(width, height) // 24)
    meta_size = max(9, text_size * 2 // 3)
    margin = max(4, text_size // 2)
    font = _font(text_size)
    lines = _wrap(spec.prompt, font, width - 2 * margin) or [""]
    max_lines = max(1, min(6, (height // 2) // (text_size + 4)))
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1] + " …"]
    meta = f"FLUX.2 {spec.model_alias} · seed {spec.seed} · {width}x{height}"
    if spec.references:
        meta += f" · {len(spec.references)} reference{'s' if len(spec.references) > 1 else ''}"
    panel_height = len(lines) * (text_size + 4) + meta_size + 3 * margin
    top = max(0, height - panel_height)
    panel = canvas.crop((0, top, width, height))
    canvas.paste(ImageEnhance.Brightness(panel).enhance(0.15), (0, top))
    draw = ImageDraw.Draw(canvas)
    y = top + margin
    for line in lines:
        draw.text((margin, y), line, fill=(255, 255, 255), font=font)
        y += text_size + 4
    draw.text((margin, y + margin // 2), meta, fill=(210, 210, 210), font=_font(meta_size))


def _encode(image: Image.Image, fmt: str) -> bytes:
    # Pillow lets go of the interpreter lock while it encodes only when it writes to a real file,
    # so an in-memory file (Linux's memfd) keeps one render from stalling the threads that take
    # in other requests; the bytes are the same as through BytesIO.
    options: dict[str, Any] = (
        {"format": "PNG", "compress_level": 1}
        if fmt == "png"
        else {"format": "JPEG", "quality": JPEG_QUALITY}
    )
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        with os.fdopen(memfd_create("flux2-sandbox-render", os.MFD_CLOEXEC), "w+b") as file:
            image.save(file, **options)
            file.seek(0)
            return file.read()
    out = io.BytesIO()
    image.save(out, **options)
    return out.getvalue()


def reference_sizes(references: Sequence[Reference]) -> list[tuple[int, int]]:
    return [(r.width, r.height) for r in references]
