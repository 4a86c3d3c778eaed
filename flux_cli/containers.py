"""The structure of PNG, JPEG and WebP files: one walker per format, shared by the image checks
(`flux_cli.images`: where an image ends) and the metadata writer and reader
(`flux_cli.metadata`, `flux_cli.provenance`: which chunks and segments a file holds).

Nothing here decodes pixels or trusts a length field: every walk checks that each piece lies
inside the data, and raises `ContainerError` where the structure cannot be followed. The same
bytes are therefore read the same way by every caller.

One policy for stray bytes in a JPEG: bytes between two marker segments that are not a marker
are skipped, as libjpeg and Pillow skip them (libjpeg calls them "extraneous bytes before
marker"). Fill bytes (0xFF runs before a marker) are skipped too.

The facts behind the layouts (chunk order, where XMP and C2PA manifests go) are in
docs/image-metadata.md.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = [
    "JPEG_MAGIC",
    "PNG_MAGIC",
    "ContainerError",
    "Piece",
    "jpeg_end",
    "jpeg_segments",
    "png_chunk",
    "png_chunks",
    "png_end",
    "riff_chunk",
    "webp_chunks",
    "webp_end",
]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# JPEG markers
SOS = 0xDA
EOI = 0xD9
APP1 = 0xE1
APP11 = 0xEB


class ContainerError(ValueError):
    """The file's structure cannot be followed; the message is short and safe to print."""


@dataclass(frozen=True, slots=True)
class Piece:
    """One PNG chunk, JPEG marker segment or RIFF chunk: `data[start:end]` is all of it as it
    is in the file (for RIFF without the padding byte), `data[body:body_end]` its payload.
    `kind` is the PNG chunk type, the RIFF fourcc, or the JPEG marker as one byte."""

    start: int
    end: int
    kind: bytes
    body: int
    body_end: int

    def payload(self, data: bytes) -> bytes:
        return data[self.body : self.body_end]

    @property
    def marker(self) -> int:
        """The JPEG marker (0xE1 for APP1, …)."""
        return self.kind[0]


# --- PNG ----------------------------------------------------------------------------------------


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """A whole PNG chunk: length, type, payload and CRC."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")


def png_chunks(data: bytes) -> tuple[list[Piece], int]:
    """Every chunk up to and including IEND, and where IEND ends. CRCs are not checked here
    (Pillow checks them when it decodes; readers of one chunk check its own)."""
    if not data.startswith(PNG_MAGIC):
        raise ContainerError("not a PNG image")
    chunks: list[Piece] = []
    pos, size = len(PNG_MAGIC), len(data)
    while True:
        if pos + 12 > size:
            raise ContainerError("the PNG ends before its IEND chunk")
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise ContainerError("a PNG chunk runs past the end of the file")
        kind = data[pos + 4 : pos + 8]
        chunks.append(Piece(pos, end, kind, pos + 8, end - 4))
        pos = end
        if kind == b"IEND":
            return chunks, pos


def png_end(data: bytes) -> int | None:
    """Offset just past the IEND chunk; None if the chunks cannot be followed."""
    try:
        return png_chunks(data)[1]
    except ContainerError:
        return None


# --- JPEG ---------------------------------------------------------------------------------------

# Spelled with a literal first byte, not `\xff+`, so the regex engine can jump between 0xFFs
# (benchmarks/response.py measures the walk over a 1 MP JPEG).
_NEXT_MARKER = re.compile(rb"\xff(?:\xff)*[^\x00\xd0-\xd7\xff]")


def _walk_jpeg(data: bytes) -> Iterator[Piece]:
    """Each marker after SOI, in order, up to and including EOI. Standalone markers (RSTn, TEM,
    EOI) have an empty payload. After SOS, the entropy-coded data is skipped up to the next
    real marker: 0xFF (after any fill 0xFFs) followed by anything but a stuffed 0x00 or RSTn."""
    if not data.startswith(JPEG_MAGIC):
        raise ContainerError("not a JPEG image")
    pos, size = 2, len(data)
    while True:
        if pos < size and data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)  # stray bytes: skipped (see the module docstring)
            if pos < 0:
                raise ContainerError("the JPEG's segments cannot be followed")
        while pos + 1 < size and data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        if pos + 2 > size:
            raise ContainerError("the JPEG ends before its EOI marker")
        start, marker = pos, data[pos + 1]
        if marker in (EOI, 0x01) or 0xD0 <= marker <= 0xD7:  # no length field
            yield Piece(start, start + 2, bytes([marker]), start + 2, start + 2)
            if marker == EOI:
                return
            pos = start + 2
            continue
        if start + 4 > size:
            raise ContainerError("the JPEG ends inside a segment header")
        length = int.from_bytes(data[start + 2 : start + 4], "big")
        end = start + 2 + length
        if length < 2 or end > size:
            raise ContainerError("a JPEG segment runs past the end of the file")
        yield Piece(start, end, bytes([marker]), start + 4, end)
        pos = end
        if marker == SOS:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                raise ContainerError("the JPEG's image data has no end")
            pos = found.start()


def jpeg_segments(data: bytes, *, header_only: bool = False) -> list[Piece]:
    """The marker segments after SOI and before the first SOS (or EOI): the ones that carry
    metadata and tables. With `header_only`, only the leading run of APPn and COM segments."""
    segments: list[Piece] = []
    for piece in _walk_jpeg(data):
        marker = piece.marker
        if marker in (SOS, EOI):
            break
        if header_only and not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            break
        if piece.body_end > piece.body:
            segments.append(piece)
    return segments


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the EOI marker; None if the segments cannot be followed."""
    try:
        for piece in _walk_jpeg(data):
            if piece.marker == EOI:
                return piece.end
    except ContainerError:
        return None
    return None


# --- WebP (RIFF) --------------------------------------------------------------------------------


def riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    """A whole RIFF chunk, padded to an even length."""
    pad = b"\x00" if len(payload) % 2 else b""
    return fourcc + len(payload).to_bytes(4, "little") + payload + pad


def _riff_end(data: bytes) -> int:
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ContainerError("not a WebP image")
    riff_size = int.from_bytes(data[4:8], "little")
    riff_end = 8 + riff_size
    if riff_size < 4 or riff_end > len(data):
        raise ContainerError("the WebP's RIFF size runs past the end of the file")
    return riff_end


def webp_chunks(data: bytes) -> tuple[list[Piece], int]:
    """Each chunk inside the RIFF data, and where the RIFF data ends. A last chunk whose padding
    byte is missing is tolerated."""
    riff_end = _riff_end(data)
    chunks: list[Piece] = []
    pos = 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise ContainerError("the WebP ends inside a chunk header")
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size
        if end > riff_end:
            raise ContainerError("a WebP chunk runs past the end of the RIFF data")
        chunks.append(Piece(pos, end, data[pos : pos + 4], pos + 8, end))
        pos = end + (size & 1)
    if not chunks:
        raise ContainerError("the WebP has no chunks")
    return chunks, riff_end


def webp_end(data: bytes) -> int | None:
    """Offset just past the RIFF data (8 + its size); None if the size runs past the data."""
    try:
        return _riff_end(data)
    except ContainerError:
        return None
