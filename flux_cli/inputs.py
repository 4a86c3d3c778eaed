"""Reference images for `flux2 edit` (README.md#flux2-edit): load, check, orient, strip, shrink, encode.

Every reference is billed by the megapixel after this preparation, so what is sent decides what
is paid. A local image (file, stdin or data: URL) is decoded under strict checks, turned upright
from its EXIF orientation, stripped of all metadata (GPS included), converted to sRGB, shrunk to at
most `max_pixels` (4 MP, or less with --max-input-mp) and cropped to sides that are multiples of 16
(as FLUX.2 itself would), then encoded compactly: JPEG, or PNG when it has real transparency.
An http(s) URL is sent as it is unless the caller asks for it to be fetched and inlined.
"""

from __future__ import annotations

import base64
import io
import math
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING
from urllib.parse import urlsplit

from flux_cli.errors import UsageError
from flux_cli.pricing import MEGAPIXEL
from flux_cli.sizes import MIN_SIDE, SIDE_STEP

if TYPE_CHECKING:
    from PIL import Image

MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_INPUT_PIXELS = 100_000_000  # a 100 MP camera frame; far beyond it is a decompression bomb
MAX_INPUT_SIDE = 16_384
DEFAULT_MAX_PIXELS = 4 * MEGAPIXEL
#: What a reference given as a URL is assumed to measure when it is not fetched.
ASSUMED_REMOTE_SIZE = (1024, 1024)
JPEG_QUALITY = 90
_GPS_IFD = 0x8825
_METADATA_KEYS = ("exif", "icc_profile", "xmp", "XML:com.adobe.xmp", "comment", "photoshop", "iptc")


@dataclass(frozen=True)
class Reference:
    source: str  # what the user gave, for messages
    url: str  # what is sent: a data: URL, or the user's http(s) URL
    original_size: tuple[int, int] | None = None
    sent_size: tuple[int, int] | None = None
    sent_bytes: int | None = None
    sent_format: str | None = None
    removed_gps: bool = False
    removed_metadata: bool = False

    @property
    def remote(self) -> bool:
        return self.sent_size is None

    @property
    def billed_size(self) -> tuple[int, int]:
        """The size the estimate uses: what is sent, or an assumption for a URL not fetched."""
        return self.sent_size or ASSUMED_REMOTE_SIZE


def max_pixels_for(max_input_mp: float | None) -> int:
    if max_input_mp is None:
        return DEFAULT_MAX_PIXELS
    if not math.isfinite(max_input_mp) or not 0.01 <= max_input_mp <= 4:
        raise UsageError(f"--max-input-mp must be between 0.01 and 4, got {max_input_mp}")
    return int(max_input_mp * MEGAPIXEL)


def _is_url(spec: str) -> bool:
    return spec.lower().startswith(("http://", "https://"))


def check_url(spec: str) -> str:
    parts = urlsplit(spec)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"{_show(spec)}: not a usable http(s) URL")
    if parts.username or parts.password:
        raise UsageError(f"{_show(spec)}: URLs with credentials are not sent")
    if len(spec) > 8192:
        raise UsageError("a reference URL is longer than 8192 characters")
    return spec


def _show(spec: str) -> str:
    from flux_cli.textsafe import strip_control

    if spec.startswith("data:"):
        return "data: URL"
    return strip_control(spec, limit=120)


def read_file(path: Path) -> bytes:
    """The bytes of a local reference, with one clear usage error per way it can be wrong."""
    try:
        info = path.stat()
    except FileNotFoundError:  # worded as for every input file (metadata.read_input)
        raise UsageError(f"cannot read {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a directory, not an image")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: not a regular file")
    if info.st_size > MAX_INPUT_BYTES:
        raise UsageError(
            f"{path}: {info.st_size:,} bytes is over the {MAX_INPUT_BYTES // 2**20} MiB limit"
        )
    try:
        with path.open("rb") as handle:
            return handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None


def read_stream(stream: IO[bytes], source: str = "stdin") -> bytes:
    try:
        data = stream.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read the image from {source}: {exc.strerror}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise UsageError(f"the image on {source} is over the {MAX_INPUT_BYTES // 2**20} MiB limit")
    if not data:
        raise UsageError(f"no image on {source} (it was empty)")
    return data


def download(url: str, *, transport: object | None = None, timeout: float = 60.0) -> bytes:
    """Fetch a user's reference URL for --inline-urls: no key, a size cap, a few redirects, and
    `timeout` as a wall-clock limit for the whole download."""
    import time

    import httpx

    from flux_cli import http_client

    try:
        with (
            http_client.deadline(time.monotonic() + timeout),
            http_client.make_client(
                transport=transport,  # type: ignore[arg-type]
                follow_redirects=True,
                max_redirects=5,
                timeout=timeout,
            ) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise UsageError(f"{_show(url)}: download failed with HTTP {response.status_code}")
            return http_client.read_capped(response, MAX_INPUT_BYTES)
    except http_client.BodyTooLarge:
        raise UsageError(f"{_show(url)}: over the {MAX_INPUT_BYTES // 2**20} MiB limit") from None
    except httpx.HTTPError as exc:
        raise UsageError(f"{_show(url)}: download failed ({type(exc).__name__})") from None


def load_references(
    specs: list[str],
    *,
    stdin: IO[bytes] | None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    inline_urls: bool = False,
    fetch: Callable[[str], bytes] = download,
) -> list[Reference]:
    """Every `-i` value, prepared; the first problem is a UsageError naming the input."""
    if sum(1 for spec in specs if spec == "-") > 1:
        raise UsageError("only one -i can read from stdin (-)")
    from flux_cli import images  # here, not at import: `flux2 cost` needs only the sizes

    references: list[Reference] = []
    for spec in specs:
        if spec == "-":
            if stdin is None:
                raise UsageError("-i - needs image bytes on stdin, but stdin is closed")
            references.append(prepare(read_stream(stdin), "stdin", max_pixels))
        elif spec.startswith("data:"):
            try:
                _, data = images.parse_data_url(spec, max_bytes=MAX_INPUT_BYTES)
            except images.InvalidImage as exc:
                raise UsageError(f"data: URL: {exc.reason}") from None
            references.append(prepare(data, "data: URL", max_pixels))
        elif _is_url(spec):
            url = check_url(spec)
            if inline_urls:
                references.append(prepare(fetch(url), _show(url), max_pixels))
            else:
                references.append(Reference(source=_show(url), url=url))
        else:
            path = Path(os.path.expanduser(spec))
            references.append(prepare(read_file(path), str(path), max_pixels))
    return references


def prepare(data: bytes, source: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> Reference:
    """Decode, orient, strip, shrink and encode one local image (see the module docstring)."""
    from flux_cli import images

    try:
        image, _info = images.decode_image(
            data, max_pixels=MAX_INPUT_PIXELS, max_side=MAX_INPUT_SIDE
        )
    except images.InvalidImage as exc:
        raise UsageError(f"{source}: {exc.reason}") from None
    try:
        original = image.size
        gps, metadata = _metadata_of(image)
        upright = _upright(image)
        converted = _to_srgb(upright)
        resized = _shrink(converted, max_pixels, source)
        encoded, fmt = _encode(resized)
    except UsageError:
        raise
    except Exception as exc:  # Pillow can fail in many ways on odd files
        raise UsageError(f"{source}: cannot prepare the image ({type(exc).__name__})") from None
    finally:
        image.close()
    media_type = images.MEDIA_TYPES[fmt]
    return Reference(
        source=source,
        url=f"data:{media_type};base64,{base64.b64encode(encoded).decode('ascii')}",
        original_size=original,
        sent_size=resized.size,
        sent_bytes=len(encoded),
        sent_format=fmt,
        removed_gps=gps,
        removed_metadata=metadata,
    )


def _metadata_of(image: Image.Image) -> tuple[bool, bool]:
    exif = image.getexif()
    gps = bool(exif.get_ifd(_GPS_IFD)) or _GPS_IFD in exif
    metadata = bool(exif) or any(key in image.info for key in _METADATA_KEYS)
    return gps, metadata


def _upright(image: Image.Image) -> Image.Image:
    from PIL import ImageOps

    return ImageOps.exif_transpose(image) or image


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB or RGBA pixels in sRGB; the ICC profile is applied, then dropped with the rest."""
    from PIL import Image as PILImage

    has_alpha = image.has_transparency_data
    mode = "RGBA" if has_alpha else "RGB"
    icc = image.info.get("icc_profile")
    if icc and image.mode in {"RGB", "RGBA", "CMYK", "L", "LA"}:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target = ImageCms.createProfile("sRGB")
            working = image if image.mode in {"RGB", "RGBA"} else image.convert(mode)
            converted = ImageCms.profileToProfile(working, source, target, outputMode=working.mode)
            if converted is not None:
                image = converted
        except (ImportError, OSError, ValueError, TypeError, ImageCms.PyCMSError):
            pass  # an unreadable profile: keep the pixels as they are
    result = image.convert(mode) if image.mode != mode else image.copy()
    if has_alpha and result.getchannel("A").getextrema()[0] == 255:
        result = result.convert("RGB")  # an alpha channel that is fully opaque carries nothing
    result.info = {}
    assert isinstance(result, PILImage.Image)
    return result


def scaled_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The size an image is resized to before cropping: the same shape, at most `max_pixels`."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, int(width * scale)), max(1, int(height * scale))


def sent_size(
    width: int, height: int, max_pixels: int = DEFAULT_MAX_PIXELS, source: str = "image"
) -> tuple[int, int]:
    """What an upright `width`×`height` image is sent as, and so billed for (no pixels needed)."""
    scaled_w, scaled_h = scaled_size(width, height, max_pixels)
    crop_w, crop_h = scaled_w // SIDE_STEP * SIDE_STEP, scaled_h // SIDE_STEP * SIDE_STEP
    if crop_w < MIN_SIDE or crop_h < MIN_SIDE:
        raise UsageError(
            f"{source}: {scaled_w}×{scaled_h} is too small; FLUX.2 needs at least {MIN_SIDE}×{MIN_SIDE} pixels"
        )
    return crop_w, crop_h


def probe_file(path: Path) -> tuple[int, int]:
    """The upright size of a local image from its header alone (fast: no pixels are decoded)."""
    from PIL import Image as PILImage

    from flux_cli import images

    data = read_file(path)
    fmt = images.sniff_format(data)
    if fmt is None:
        raise UsageError(f"{path}: {images.describe_unknown(data)}, not a PNG, JPEG or WebP image")
    try:
        with PILImage.open(io.BytesIO(data), formats=[fmt.upper()]) as probe:
            width, height = probe.size
            orientation = probe.getexif().get(0x0112, 1)
    except Exception as exc:
        raise UsageError(f"{path}: cannot read the image header ({type(exc).__name__})") from None
    if width * height > MAX_INPUT_PIXELS or max(width, height) > MAX_INPUT_SIDE:
        raise UsageError(f"{path}: {width}×{height} pixels is over the input limit")
    return (height, width) if orientation in {5, 6, 7, 8} else (width, height)


def _shrink(image: Image.Image, max_pixels: int, source: str) -> Image.Image:
    from PIL import Image as PILImage

    crop_w, crop_h = sent_size(*image.size, max_pixels=max_pixels, source=source)
    width, height = scaled_size(*image.size, max_pixels)
    if (width, height) != image.size:
        image = image.resize((width, height), PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    if (crop_w, crop_h) != (width, height):
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        image = image.crop((left, top, left + crop_w, top + crop_h))
    return image


def _encode(image: Image.Image) -> tuple[bytes, str]:
    buffer = io.BytesIO()
    if image.mode == "RGBA":
        image.save(buffer, "PNG", optimize=True)
        return buffer.getvalue(), "png"
    image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue(), "jpeg"
