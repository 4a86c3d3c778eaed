"""Thumbnails of a gallery's cards: made with Pillow, cached by the sha256 of the image, and
embedded in the page as `data:` URIs."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from flux_cli import paths

#: The longest side of a thumbnail, in pixels (shown at half that on a 2x screen).
THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 70


# -- thumbnails ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thumbnail:
    """One image of a card: where the file is, and its thumbnail (None: why there is none)."""

    path: str  # as the ledger has it
    href: str | None  # percent-encoded, relative to the page; None when there is no file
    data_uri: str | None
    width: int = 0
    height: int = 0
    problem: str | None = None  # "file missing", "not decodable", "changed since it was made"
    origin: Literal["cached", "made", "missing", "undecodable", "none"] = "none"


class ThumbnailCache:
    """Thumbnails by sha256 in `directory` (default: the cache dir's `thumbnails/`)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or paths.cache_dir() / "thumbnails"
        self._webp: bool | None = None

    @property
    def kind(self) -> str:
        """webp where this Pillow writes it (a third of JPEG's size), else jpeg."""
        if self._webp is None:
            from PIL import features

            self._webp = bool(features.check("webp"))
        return "webp" if self._webp else "jpeg"

    def entry(self, sha256: str) -> Path:
        return self.directory / f"{sha256[:2]}" / f"{sha256}-{THUMBNAIL_SIDE}.{self.kind}"

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.entry(sha256).read_bytes()
        except OSError:
            return None

    def put(self, sha256: str, data: bytes) -> None:
        """Store atomically; a cache that cannot be written is no error (the page still gets
        the thumbnail, the next build makes it again)."""
        target = self.entry(sha256)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, target)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError:
            pass

    def make(self, source: bytes) -> bytes:
        """A thumbnail of image bytes; ValueError when they are no sane PNG, JPEG or WebP."""
        from PIL import Image, ImageOps

        from flux_cli.images import DEFAULT_MAX_PIXELS, MAX_SIDE, sniff_format

        fmt = sniff_format(source)
        if fmt is None:
            raise ValueError("not a PNG, JPEG or WebP image")
        try:
            with Image.open(io.BytesIO(source), formats=[fmt.upper()]) as image:
                width, height = image.size
                if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE) or (
                    width * height > DEFAULT_MAX_PIXELS
                ):
                    raise ValueError(f"{width}×{height} pixels is too large")
                if fmt == "jpeg":  # decode at 1/2, 1/4 or 1/8 scale: most of the work saved
                    image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
                rgba = upright.convert("RGBA")
                flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                flat.alpha_composite(rgba)
                out = io.BytesIO()
                if self.kind == "webp":
                    flat.convert("RGB").save(out, "WEBP", quality=THUMBNAIL_QUALITY, method=2)
                else:
                    flat.convert("RGB").save(out, "JPEG", quality=THUMBNAIL_QUALITY)
                return out.getvalue()
        except ValueError:
            raise
        except Exception as exc:  # Pillow raises almost anything on a damaged file
            raise ValueError(f"not decodable ({type(exc).__name__})") from exc


def _image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        return int(width), int(height)


def _href(path: Path, page_dir: Path) -> str:
    try:
        relative = os.path.relpath(path, page_dir)
    except ValueError:  # another drive (Windows): only an absolute file URI can reach it
        return path.resolve().as_uri()
    return quote(relative.replace(os.sep, "/"), safe="/")


def thumbnail(
    cache: ThumbnailCache,
    path_text: str,
    sha256: str | None,
    base_dir: Path,
    page_dir: Path,
    shared: Thumbnail | None = None,
) -> Thumbnail:
    """The thumbnail of one recorded image; `shared`: one already made for the same sha256."""
    if not path_text or path_text == "-":
        return Thumbnail(path=path_text, href=None, data_uri=None, problem="written to stdout")
    path = Path(path_text)
    if not path.is_absolute():
        path = base_dir / path
    href = _href(path, page_dir)
    if shared is not None and shared.data_uri is not None:
        problem = None if path.exists() else "file missing"
        return dataclasses.replace(
            shared, path=path_text, href=href, problem=problem, origin="cached"
        )
    data = cache.get(sha256) if sha256 else None
    problem = None
    origin: Literal["cached", "made"] = "cached"
    if data is not None:
        if not path.exists():
            problem = "file missing"
    else:
        try:
            source = path.read_bytes()
        except OSError:
            return Thumbnail(path_text, None, None, problem="file missing", origin="missing")
        actual = hashlib.sha256(source).hexdigest()
        if sha256 and actual != sha256:
            problem = "changed since it was made"
        try:
            data = cache.make(source)
        except ValueError as exc:
            return Thumbnail(path_text, href, None, problem=str(exc), origin="undecodable")
        cache.put(actual, data)
        origin = "made"
    width, height = _image_size(data)
    uri = f"data:image/{cache.kind};base64," + base64.b64encode(data).decode("ascii")
    return Thumbnail(path_text, href, uri, width, height, problem, origin)
