"""Untrusted image bytes, from the server or from users: sniff, decode strictly, check, convert.

Everything here treats its input as hostile: a server can send anything, and so can a file. Every
failure is an `InvalidImage` with a short reason for people; callers map it to exit 10 (server output) or
exit 2 (a user's input file). Nothing else escapes `normalise_image`, `inspect_image` or
`convert_image`.

Policies (README material):

- Formats: PNG, JPEG and WebP only, recognised by their magic bytes; Pillow is then allowed to
  open only the format the magic bytes announced, so the two cannot disagree.
- Size: each side 1..8192 px and at most `max_pixels` (16,777,216 = 4096² by default, four times
  the FLUX.2 maximum). Pillow's `DecompressionBombWarning` is raised as an error.
- Trailing bytes: bytes after the end of the image (after PNG's IEND chunk, after JPEG's EOI
  marker, after WebP's RIFF chunk; found by `flux_cli.containers`, the walker the metadata
  writer uses too) are accepted and trimmed; `normalise_image` returns the
  trimmed bytes, which are exactly the bytes that were decoded and so the bytes to write.
  A file whose end cannot be found structurally is decoded as it is (Pillow then decides).
- Animation: images with more than one frame (animated WebP, APNG, MPO) are refused unless the
  caller passes `allow_animated=True`, in which case only the first frame is decoded. (An MPO
  is a JPEG followed by more JPEGs; trimming at the first EOI keeps only the first image, though
  `frames` still reports what its MPF header announced.)
- Decoding: `verify()`, then a fresh `open()` and a full `load()`; `LOAD_TRUNCATED_IMAGES` stays
  False, so truncated data is refused. Pillow's global settings are never changed; its warnings
  are turned into errors inside a lock-protected `warnings.catch_warnings()`.

PIL is imported inside the functions that need it, so importing this module is cheap.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flux_cli import choices, sizes
from flux_cli.containers import JPEG_MAGIC, PNG_MAGIC, jpeg_end, png_end, webp_end
from flux_cli.textsafe import strip_control

if TYPE_CHECKING:
    from PIL import Image

FORMATS = choices.FORMATS  # the one list is in flux_cli.choices
EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}

DEFAULT_MAX_PIXELS = 16_777_216  # 4096², four times the largest FLUX.2 output
MAX_SIDE = sizes.MAX_SIDE  # one rule for the sizes planned and the images accepted

_EXTENSION_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp"}
_PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}

# What other common payloads look like, only to say something better than "not an image".
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"8BPS", "a Photoshop document"),
    (b"%PDF", "a PDF document"),
    (b"%!PS", "a PostScript document"),
    (b"\x00\x00\x01\x00", "an ICO image"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
    (b"\x89PNG", "a damaged PNG signature"),
)


class InvalidImage(ValueError):
    """Bytes that are not an acceptable image; `reason` is short and safe to print."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageInfo:
    """What a decoded image turned out to be. `format` is one of FORMATS."""

    format: str
    width: int
    height: int
    mode: str
    has_alpha: bool
    frames: int = 1
    trailing_bytes: int = 0  # bytes after the image's end, trimmed by normalise_image

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


# --- recognising formats ------------------------------------------------------------------------


def sniff_format(data: bytes) -> str | None:
    """The format ("png", "jpeg" or "webp") the magic bytes announce, else None."""
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def format_from_extension(path_or_name: str | os.PathLike[str]) -> str | None:
    """`fox.png` → "png", `fox.JPG` / `fox.jpeg` → "jpeg"; no or another extension → None."""
    _, ext = os.path.splitext(os.fspath(path_or_name))
    return _EXTENSION_FORMATS.get(ext.lower())


def describe_unknown(data: bytes) -> str:
    """A few words on what bytes that are not PNG, JPEG or WebP seem to be."""
    if not data:
        return "empty"
    for signature, what in _OTHER_SIGNATURES:
        if data.startswith(signature):
            return what
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand.startswith(b"avi"):
            return "an AVIF image"
        if brand.startswith((b"hei", b"hev", b"mif1")):
            return "a HEIC image"
    head = data[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")):
        return "SVG or XML text"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if head.startswith((b"{", b"[")):
        return "JSON text"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "not a PNG, JPEG or WebP image"
    return "text"


# --- strict base64 and data URLs ----------------------------------------------------------------


def _max_encoded_length(max_bytes: int) -> int:
    return 4 * ((max_bytes + 2) // 3)


def decode_base64_strict(text: str, *, max_bytes: int) -> bytes:
    """Standard base64 with padding and nothing else: no whitespace, no URL-safe alphabet, no
    junk, no missing or misplaced padding, no stray bits in the last group, not empty, at most
    `max_bytes` once decoded (the encoded length is checked first, so a huge string is refused
    without decoding it)."""
    if not text:
        raise InvalidImage("empty base64 data")
    if len(text) > _max_encoded_length(max_bytes):
        raise InvalidImage(f"base64 data too large (over {max_bytes:,} bytes once decoded)")
    if any(ch in text for ch in " \t\r\n\v\f"):
        raise InvalidImage("base64 data contains whitespace or line breaks")
    if "-" in text or "_" in text:
        raise InvalidImage("base64 data uses the URL-safe alphabet")
    if len(text) % 4:
        raise InvalidImage("base64 data has bad padding (length is not a multiple of 4)")
    try:
        data = _b64decode(text)
    except ValueError as exc:  # binascii.Error, or non-ASCII characters in a str
        reason = "bad padding" if "padding" in str(exc).lower() else "characters outside base64"
        raise InvalidImage(f"base64 data has {reason}") from None
    # A canonical encoder leaves the unused bits of the last group zero; refuse anything else.
    tail = len(data) % 3
    if tail and base64.b64encode(data[len(data) - tail :]) != text[-4:].encode("ascii"):
        raise InvalidImage("base64 data is not canonical (stray bits before the padding)")
    if not data:
        raise InvalidImage("empty base64 data")
    if len(data) > max_bytes:
        raise InvalidImage(f"base64 data too large (over {max_bytes:,} bytes once decoded)")
    return data


def _b64decode(text: str) -> bytes:
    """Decode validated standard base64 without copying `text` first.

    `base64.b64decode(str)` encodes the whole string to bytes before decoding (a second copy
    of a payload that can be 16 MB); `binascii.a2b_base64` reads an ASCII str in place and, in
    strict mode, validates as it decodes."""
    return binascii.a2b_base64(text, strict_mode=True)


_MIME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-")


def _is_mime_type(text: str) -> bool:
    kind, slash, sub = text.partition("/")
    return bool(slash and kind and sub and set(kind) <= _MIME_CHARS and set(sub) <= _MIME_CHARS)


def parse_data_url(url: str, *, max_bytes: int) -> tuple[str, bytes]:
    """`data:<type>/<subtype>;base64,<payload>` → (lower-case media type, decoded bytes).

    Nothing else is accepted: no parameters, no percent-encoded payloads, no missing media type.
    The payload goes through `decode_base64_strict`."""
    if url[:5].lower() != "data:":
        raise InvalidImage("not a data: URL")
    comma = url.find(",", 5, 5 + 256)
    if comma < 0:
        raise InvalidImage("malformed data: URL (no comma after the media type)")
    header = url[5:comma].lower()
    media_type, sep, encoding = header.partition(";")
    if not sep or encoding != "base64":
        raise InvalidImage("data: URL is not base64-encoded (expected ';base64,')")
    if not _is_mime_type(media_type):
        raise InvalidImage("data: URL has a malformed media type")
    return media_type, decode_base64_strict(url[comma + 1 :], max_bytes=max_bytes)


_END_FINDERS = {"png": png_end, "jpeg": jpeg_end, "webp": webp_end}


# --- decoding -----------------------------------------------------------------------------------

# warnings.catch_warnings() swaps process-wide state; two threads inside it at once can leave the
# filters wrong for good, so our own uses are serialised. Pillow's globals are never touched.
_WARNINGS_LOCK = threading.Lock()


@contextmanager
def _warnings_as_errors() -> Iterator[None]:
    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def _failure_reason(exc: BaseException) -> str:
    from PIL import Image, UnidentifiedImageError

    if isinstance(exc, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return "too many pixels (a possible decompression bomb)"
    if isinstance(exc, UnidentifiedImageError):
        return "the data is not a readable image of the format its header announces"
    if isinstance(exc, MemoryError):
        return "too large to decode"
    detail = strip_control(str(exc), limit=120).strip()
    if isinstance(exc, (OSError, SyntaxError, EOFError)):
        return f"damaged or truncated image ({detail})" if detail else "damaged or truncated image"
    name = type(exc).__name__
    return f"undecodable image ({name}: {detail})" if detail else f"undecodable image ({name})"


def _open_checked(
    data: bytes,
    fmt: str,
    *,
    max_pixels: int,
    allow_animated: bool,
    max_side: int = MAX_SIDE,
    pixels: bool = True,
) -> tuple[Image.Image, ImageInfo]:
    """Open, check, verify, reopen and load. Call inside `_warnings_as_errors()`.

    With `pixels=False` the caller only needs to know the data is whole and sane, not the pixels:
    a JPEG is then decoded at 1/8 scale (libjpeg's DCT scaling). Every entropy-coded block is
    still read and Huffman-decoded, so truncated or corrupt data fails exactly as in a full
    decode, but the pixel buffer is 1/64 the size (48 KB instead of 3 MB for 1 MP) and the
    inverse DCT does a fraction of the work."""
    from PIL import Image

    allowed = [_PILLOW_FORMATS[fmt]]
    with Image.open(io.BytesIO(data), formats=allowed) as probe:
        width, height = probe.size
        if not (1 <= width <= max_side and 1 <= height <= max_side):
            raise InvalidImage(
                f"{width}×{height} pixels: each side must be between 1 and {max_side}"
            )
        if width * height > max_pixels:
            raise InvalidImage(
                f"{width}×{height} pixels is over the limit of {max_pixels:,} pixels"
            )
        frames = getattr(probe, "n_frames", 1)
        if frames > 1 and not allow_animated:
            raise InvalidImage(f"animated or multi-frame image ({frames} frames)")
        probe.verify()
    image = Image.open(io.BytesIO(data), formats=allowed)
    if image.size != (width, height):
        raise InvalidImage("the image changed size between two reads")
    if not pixels and fmt == "jpeg":
        image.draft(image.mode, (max(1, width // 8), max(1, height // 8)))
    image.load()
    info = ImageInfo(
        format=fmt,
        width=width,
        height=height,
        mode=image.mode,
        has_alpha=image.has_transparency_data,
        frames=frames,
    )
    return image, info


def _decode(
    data: bytes,
    *,
    max_pixels: int,
    allow_animated: bool,
    max_side: int = MAX_SIDE,
    pixels: bool = True,
) -> tuple[bytes, Image.Image, ImageInfo]:
    fmt = sniff_format(data)
    if fmt is None:
        what = describe_unknown(data)
        raise InvalidImage(f"{what}, not a PNG, JPEG or WebP image")
    end = _END_FINDERS[fmt](data)
    image_bytes = data if end is None else data[:end]
    try:
        with _warnings_as_errors():
            image, info = _open_checked(
                image_bytes,
                fmt,
                max_pixels=max_pixels,
                allow_animated=allow_animated,
                max_side=max_side,
                pixels=pixels,
            )
    except InvalidImage:
        raise
    except Exception as exc:  # Pillow raises almost anything on hostile input
        raise InvalidImage(_failure_reason(exc)) from exc
    trailing = len(data) - len(image_bytes)
    if trailing:
        info = dataclasses.replace(info, trailing_bytes=trailing)
    return image_bytes, image, info


def normalise_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, allow_animated: bool = False
) -> tuple[bytes, ImageInfo]:
    """Check untrusted image bytes and return (the bytes to keep, what they are).

    The bytes returned are `data` with any trailing bytes after the image's end removed; they are
    exactly what was decoded. Raises InvalidImage for anything that is not a whole, sane PNG,
    JPEG or WebP image (see the module docstring for the policies)."""
    image_bytes, image, info = _decode(
        data, max_pixels=max_pixels, allow_animated=allow_animated, pixels=False
    )
    image.close()
    return image_bytes, info


def decode_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int = MAX_SIDE
) -> tuple[Image.Image, ImageInfo]:
    """The decoded, fully loaded Pillow image and what it is, under the same checks as
    `normalise_image`; for callers that go on to transform the pixels. The caller closes it."""
    _, image, info = _decode(data, max_pixels=max_pixels, allow_animated=False, max_side=max_side)
    return image, info


def inspect_image(
    data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, allow_animated: bool = False
) -> ImageInfo:
    """`normalise_image` without the bytes: what the image is, or InvalidImage."""
    return normalise_image(data, max_pixels=max_pixels, allow_animated=allow_animated)[1]


# --- converting ---------------------------------------------------------------------------------

# ICC profiles name their colour space at bytes 16..20; keep a profile only where it still fits.
_ICC_SPACES = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY", "CMYK": b"CMYK"}
_ORIENTATION_TAG = 0x0112


def _orientation(image: Image.Image) -> int:
    try:
        with _warnings_as_errors():
            value = image.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # broken EXIF: treat as upright, it is stripped anyway
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _upright(image: Image.Image) -> Image.Image:
    from PIL import Image as PILImage

    transposes = {
        2: [PILImage.Transpose.FLIP_LEFT_RIGHT],
        3: [PILImage.Transpose.ROTATE_180],
        4: [PILImage.Transpose.FLIP_TOP_BOTTOM],
        5: [PILImage.Transpose.TRANSPOSE],
        6: [PILImage.Transpose.ROTATE_270],
        7: [PILImage.Transpose.TRANSVERSE],
        8: [PILImage.Transpose.ROTATE_90],
    }
    for method in transposes.get(_orientation(image), []):
        image = image.transpose(method)
    return image


def _for_target(image: Image.Image, target: str) -> Image.Image:
    """Convert to a mode the target encoder takes; JPEG gets alpha flattened onto white."""
    from PIL import Image as PILImage

    has_alpha = image.has_transparency_data
    if target == "jpeg":
        if has_alpha:
            rgba = image.convert("RGBA")
            flat = PILImage.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            return flat
        return image if image.mode in ("L", "RGB", "CMYK") else image.convert("RGB")
    if target == "png":
        # Modes PNG stores as they are; a tRNS colour key lives in `info`, which is dropped,
        # so images that use one become RGBA.
        if image.mode in ("LA", "RGBA") or (
            image.mode in ("1", "L", "P", "RGB", "I;16") and not has_alpha
        ):
            return image
        return image.convert("RGBA" if has_alpha else "RGB")
    # WebP: RGB or RGBA only
    if image.mode == ("RGBA" if has_alpha else "RGB"):
        return image
    return image.convert("RGBA" if has_alpha else "RGB")


def convert_image(
    data: bytes,
    target: str,
    *,
    quality: int = 92,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> bytes:
    """Re-encode untrusted image bytes as `target` ("png", "jpeg" or "webp").

    The input is checked exactly as by `normalise_image` (InvalidImage on failure). EXIF
    orientation is applied to the pixels; the ICC profile is kept when the output's colour space
    still matches it; every other piece of metadata (EXIF, XMP, text chunks, comments) is dropped.
    JPEG output has any transparency flattened onto white. `quality` applies to JPEG and WebP.
    The same input gives the same output bytes."""
    if target not in FORMATS:
        raise ValueError(f"unknown target format {target!r}; expected one of {FORMATS}")
    _, image, _ = _decode(data, max_pixels=max_pixels, allow_animated=False)
    try:
        icc = image.info.get("icc_profile")
        out = _for_target(_upright(image), target)
        out.info = {}  # encoders fall back to info for ICC, transparency and comments
        options: dict[str, object] = {}
        if isinstance(icc, bytes) and icc[16:20] == _ICC_SPACES.get(out.mode):
            options["icc_profile"] = icc
        if target == "jpeg":
            options.update(quality=quality, optimize=True)
        elif target == "webp":
            options.update(quality=quality, method=4, exif=b"", xmp=b"")
        buffer = io.BytesIO()
        out.save(buffer, format=_PILLOW_FORMATS[target], **options)
    except Exception as exc:
        detail = strip_control(str(exc), limit=120)
        raise InvalidImage(f"could not convert the image to {target.upper()}: {detail}") from exc
    finally:
        image.close()
    return buffer.getvalue()
