"""The recipe inside an image file, byte by byte: PNG chunks, JPEG segments, WebP chunks.

Embedding never re-encodes the image: the pixels and every segment or chunk the server put in the
file are kept byte for byte; flux2's pieces are added (docs/image-metadata.md has the layouts
and their sources):

- PNG: an `iTXt` chunk with the keyword `flux2` (the recipe JSON, uncompressed UTF-8) and an
  `iTXt` chunk `XML:com.adobe.xmp` with the XMP packet of `flux_cli.xmp`, both right before the
  first `IDAT` (text after the image data may be ignored by readers, and exiftool warns).
  A PNG that already carries another tool's XMP keeps it and gets only the `flux2` chunk.
  Older flux2 versions wrote the `flux2` chunk before `IEND`; it is read there too.
- JPEG: an APP1 XMP segment (`http://ns.adobe.com/xap/1.0/` + the packet), after SOI and after
  any APP0/APP1 segments at the start of the file. A segment holds at most 65,533 bytes; a
  recipe that would not fit (only a prompt of tens of thousands of characters can do that) keeps
  the longest prefix of the prompt that fits and says so with `"prompt_truncated": true`.
- WebP: an `XMP ` chunk with the packet. A simple (`VP8 ` / `VP8L`) file becomes an extended
  one: a `VP8X` chunk with the XMP flag (and the alpha flag where the lossless bitstream has
  alpha) and the canvas size of the bitstream goes first, and the RIFF size is updated.

Embedding again replaces flux2's own earlier pieces; anything else is left alone. A file with
C2PA content credentials is refused (`flux_cli.metadata.for_saving` decides what to do then).
No PIL here: the structure is walked by `flux_cli.containers`.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

from flux_cli import xmp
from flux_cli.containers import (
    APP1,
    PNG_MAGIC,
    ContainerError,
    Piece,
    jpeg_segments,
    png_chunk,
    png_chunks,
    riff_chunk,
    webp_chunks,
)
from flux_cli.images import sniff_format
from flux_cli.provenance import find_credentials
from flux_cli.recipe import MetadataError, Recipe

__all__ = ["MAX_JPEG_SEGMENT_PAYLOAD", "XMP_HEADER", "embed", "extract"]

PNG_KEYWORD = b"flux2"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: A JPEG segment's length field counts itself: 65,535 - 2 bytes of payload at most.
MAX_JPEG_SEGMENT_PAYLOAD = 65_533

_PNG_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")
_WEBP_XMP_FLAG = 0x04
_WEBP_ALPHA_FLAG = 0x10
# What precedes XMP in an extended WebP (RIFF order: VP8X, ICCP, ANIM, image, EXIF, XMP, unknown).
_WEBP_BEFORE_XMP = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"EXIF", b"XMP ")


def _structure(exc: ContainerError) -> MetadataError:
    return MetadataError(str(exc))


# --- embedding and extracting -----------------------------------------------------------------


def embed(data: bytes, fmt: str, recipe: Recipe | None) -> bytes:
    """`data` with `recipe` embedded (see the module docstring), or unchanged for None.

    `data` must be a whole image of format `fmt` (as `normalise_image` returns it). The image data
    and all other chunks/segments are kept byte for byte. MetadataError if the structure cannot
    be walked, or if the file carries content credentials (adding anything would break them; see
    `for_saving`); a damaged file is never produced."""
    if recipe is None:
        return data
    if sniff_format(data) != fmt:
        raise MetadataError(f"the bytes are not a {fmt} image")
    where = find_credentials(data, fmt)
    if where is not None:
        raise MetadataError(
            f"the image carries content credentials ({where}); adding to it would break them"
        )
    try:
        if fmt == "png":
            return _embed_png(data, recipe)
        if fmt == "jpeg":
            return _embed_jpeg(data, recipe)
        return _embed_webp(data, recipe)
    except ContainerError as exc:
        raise _structure(exc) from None


def extract(data: bytes) -> Recipe | None:
    """The flux2 recipe in an image's bytes, None if it carries none; MetadataError if the
    recipe is there but unusable, or the bytes are not a PNG, JPEG or WebP structure."""
    fmt = sniff_format(data)
    try:
        if fmt == "png":
            found = _png_recipes(data)
        elif fmt == "jpeg":
            found = _jpeg_recipes(data)
        elif fmt == "webp":
            found = _webp_recipes(data)
        else:
            raise MetadataError("not a PNG, JPEG or WebP image")
    except ContainerError as exc:
        raise _structure(exc) from None
    if not found:
        return None
    if len(found) > 1:
        raise MetadataError(f"the file carries {len(found)} flux2 recipes; expected one")
    return Recipe.from_json(found[0])


# -- PNG


def _itxt(keyword: bytes, text: bytes) -> bytes:
    # keyword, NUL, compression flag 0 and method 0, empty language tag and translated keyword
    return png_chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + text)


def _has_keyword(data: bytes, chunk: Piece, keyword: bytes) -> bool:
    head = data[chunk.body : chunk.body + len(keyword) + 1]
    return chunk.kind in _PNG_TEXT_CHUNKS and head == keyword + b"\x00"


def _is_our_png_xmp(data: bytes, chunk: Piece) -> bool:
    return _has_keyword(data, chunk, PNG_XMP_KEYWORD) and xmp.is_ours(chunk.payload(data))


def _embed_png(data: bytes, recipe: Recipe) -> bytes:
    chunks, end = png_chunks(data)
    if chunks[0].kind != b"IHDR":
        raise MetadataError("the PNG does not start with IHDR")
    kept = [
        chunk
        for chunk in chunks
        if not (_has_keyword(data, chunk, PNG_KEYWORD) or _is_our_png_xmp(data, chunk))
    ]
    ours = [_itxt(PNG_KEYWORD, recipe.to_json().encode("utf-8"))]
    if not any(_has_keyword(data, chunk, PNG_XMP_KEYWORD) for chunk in kept):
        ours.append(_itxt(PNG_XMP_KEYWORD, xmp.packet(recipe)))
    parts = [data[: len(PNG_MAGIC)]]
    placed = False
    for chunk in kept:
        if not placed and chunk.kind in (b"IDAT", b"IEND"):
            parts.extend(ours)
            placed = True
        parts.append(data[chunk.start : chunk.end])
    parts.append(data[end:])
    return b"".join(parts)


def _png_recipes(data: bytes) -> list[str | bytes]:
    chunks, _ = png_chunks(data)
    found: list[str | bytes] = []
    packets: list[str] = []
    for chunk in chunks:
        if _has_keyword(data, chunk, PNG_KEYWORD):
            found.append(_checked_itxt(data, chunk, PNG_KEYWORD))
        elif _is_our_png_xmp(data, chunk):
            recipe = xmp.recipe_in_packet(_checked_itxt(data, chunk, PNG_XMP_KEYWORD))
            if recipe is not None:
                packets.append(recipe)
    # The flux2 chunk is the recipe; the XMP packet repeats it for other tools.
    return found or list(packets)


def _checked_itxt(data: bytes, chunk: Piece, keyword: bytes) -> bytes:
    name = keyword.decode("ascii")
    crc = int.from_bytes(data[chunk.end - 4 : chunk.end], "big")
    if zlib.crc32(chunk.kind + chunk.payload(data)) & 0xFFFFFFFF != crc:
        raise MetadataError(f"the {name} PNG chunk is damaged (CRC mismatch)")
    if chunk.kind != b"iTXt":
        raise MetadataError(f"the {name} PNG chunk is a {chunk.kind.decode('ascii')} chunk")
    return _itxt_text(chunk.payload(data), keyword)


def _itxt_text(payload: bytes, keyword: bytes) -> bytes:
    name = keyword.decode("ascii")
    rest = payload[len(keyword) + 1 :]
    if len(rest) < 2:
        raise MetadataError(f"the {name} iTXt chunk is truncated")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise MetadataError(f"the {name} iTXt chunk is truncated")
    if compressed == 0:
        return text
    if compressed != 1 or method != 0:
        raise MetadataError(f"the {name} iTXt chunk uses an unknown compression")
    inflater = zlib.decompressobj()
    limit = xmp.MAX_PACKET_BYTES
    try:
        text = inflater.decompress(text, limit + 1)
    except zlib.error:
        raise MetadataError(f"the {name} iTXt chunk does not decompress") from None
    if len(text) > limit or inflater.unconsumed_tail:
        raise MetadataError(f"the {name} iTXt chunk is over {limit:,} bytes")
    return text


# -- JPEG


def _is_xmp_segment(data: bytes, segment: Piece) -> bool:
    return (
        segment.marker == APP1 and data[segment.body : segment.body + len(XMP_HEADER)] == XMP_HEADER
    )


def _jpeg_xmp_segment(recipe: Recipe) -> bytes:
    """The APP1 segment; a prompt too long for one segment is cut to the longest prefix that fits."""

    def payload_for(candidate: Recipe) -> bytes:
        return XMP_HEADER + xmp.packet(candidate)

    payload = payload_for(recipe)
    if len(payload) > MAX_JPEG_SEGMENT_PAYLOAD:
        prompt = recipe.prompt
        if prompt is None:
            raise MetadataError("the recipe does not fit in a JPEG segment")
        best: bytes | None = None
        low, high = 0, len(prompt) - 1
        while low <= high:  # the longest prefix that fits; longer prefixes never encode shorter
            middle = (low + high) // 2
            candidate = payload_for(replace(recipe, prompt=prompt[:middle], prompt_truncated=True))
            if len(candidate) <= MAX_JPEG_SEGMENT_PAYLOAD:
                best, low = candidate, middle + 1
            else:
                high = middle - 1
        if best is None:
            raise MetadataError("the recipe does not fit in a JPEG segment")
        payload = best
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


def _embed_jpeg(data: bytes, recipe: Recipe) -> bytes:
    segment = _jpeg_xmp_segment(recipe)
    header = jpeg_segments(data, header_only=True)
    ours = [
        (s.start, s.end)
        for s in header
        if _is_xmp_segment(data, s) and xmp.is_ours(data[s.start : s.end])
    ]
    kept_app01 = [
        s.end for s in header if s.marker in (0xE0, 0xE1) and (s.start, s.end) not in ours
    ]
    insert_at = max(kept_app01, default=2)
    parts, pos = [], 0
    for start, end in sorted([*ours, (insert_at, insert_at)]):
        parts.append(data[pos:start])
        if (start, end) == (insert_at, insert_at):
            parts.append(segment)
        pos = end
    parts.append(data[pos:])
    return b"".join(parts)


def _jpeg_recipes(data: bytes) -> list[str | bytes]:
    found: list[str | bytes] = []
    for segment in jpeg_segments(data):
        if _is_xmp_segment(data, segment):
            recipe = xmp.recipe_in_packet(data[segment.body + len(XMP_HEADER) : segment.end])
            if recipe is not None:
                found.append(recipe)
    return found


# -- WebP


def _whole_chunk(data: bytes, chunk: Piece) -> bytes:
    """A chunk as it is in the file, with its padding byte."""
    return riff_chunk(chunk.kind, chunk.payload(data))


def _vp8x_for_simple(data: bytes, chunk: Piece) -> bytes:
    """A VP8X chunk for a simple file's bitstream: its canvas size, alpha flag and the XMP flag."""
    payload = chunk.payload(data)
    flags = _WEBP_XMP_FLAG
    if chunk.kind == b"VP8 ":
        # frame tag (3 bytes, bit 0 clear on a key frame), start code, 14-bit sizes
        if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a" or payload[0] & 1:
            raise MetadataError("the WebP's VP8 bitstream has no key frame header")
        width = int.from_bytes(payload[6:8], "little") & 0x3FFF
        height = int.from_bytes(payload[8:10], "little") & 0x3FFF
    else:
        if len(payload) < 5 or payload[0] != 0x2F:
            raise MetadataError("the WebP's VP8L bitstream has no header")
        bits = int.from_bytes(payload[1:5], "little")
        if bits >> 29:
            raise MetadataError("the WebP's VP8L bitstream has an unknown version")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if (bits >> 28) & 1:
            flags |= _WEBP_ALPHA_FLAG
    if not (width and height):
        raise MetadataError("the WebP's bitstream has no size")
    canvas = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)


def _embed_webp(data: bytes, recipe: Recipe) -> bytes:
    chunks, riff_end = webp_chunks(data)
    packet = riff_chunk(b"XMP ", xmp.packet(recipe))
    first = chunks[0]
    body: list[bytes] = []
    if first.kind == b"VP8X":
        if first.body_end - first.body < 10:
            raise MetadataError("the WebP's VP8X chunk is too short")
        vp8x = bytearray(_whole_chunk(data, first))
        vp8x[8] |= _WEBP_XMP_FLAG
        kept = [
            chunk
            for chunk in chunks[1:]
            if not (chunk.kind == b"XMP " and xmp.is_ours(chunk.payload(data)))
        ]
        after = max(
            (i for i, chunk in enumerate(kept) if chunk.kind in _WEBP_BEFORE_XMP),
            default=len(kept) - 1,
        )
        body.append(bytes(vp8x))
        for i, chunk in enumerate(kept):
            body.append(_whole_chunk(data, chunk))
            if i == after:
                body.append(packet)
        if not kept:
            body.append(packet)
    elif first.kind in (b"VP8 ", b"VP8L"):
        body.append(_vp8x_for_simple(data, first))
        body.append(_whole_chunk(data, first))
        body.append(packet)
        body.extend(_whole_chunk(data, chunk) for chunk in chunks[1:])
    else:
        raise MetadataError(f"the WebP starts with an unknown chunk {first.kind!r}")
    riff = b"".join(body)
    return b"RIFF" + (len(riff) + 4).to_bytes(4, "little") + b"WEBP" + riff + data[riff_end:]


def _webp_recipes(data: bytes) -> list[str | bytes]:
    chunks, _ = webp_chunks(data)
    found: list[str | bytes] = []
    for chunk in chunks:
        if chunk.kind == b"XMP ":
            recipe = xmp.recipe_in_packet(chunk.payload(data))
            if recipe is not None:
                found.append(recipe)
    return found
