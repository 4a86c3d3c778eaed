"""The one structure walker for PNG, JPEG and WebP that the image checks and the metadata code
share: the same bytes are read the same way by both, hostile bytes raise ContainerError only."""

from __future__ import annotations

import contextlib
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from flux_cli import containers
from flux_cli.containers import (
    ContainerError,
    jpeg_end,
    jpeg_segments,
    png_chunks,
    png_end,
    webp_chunks,
    webp_end,
)
from flux_cli.images import normalise_image
from flux_cli.metadata import embed, extract
from tests.test_metadata import RECIPE


def _encode(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize((48, 32)).convert("RGB").save(out, fmt, **options)
    return out.getvalue()


JPEG = _encode("JPEG", quality=80)
PNG = _encode("PNG")
WEBP = _encode("WEBP", quality=80)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def test_the_walks_find_every_piece_and_the_end() -> None:
    chunks, end = png_chunks(PNG)
    assert chunks[0].kind == b"IHDR"
    assert chunks[-1].kind == b"IEND"
    assert end == len(PNG) == png_end(PNG + b"trailer")
    segments = jpeg_segments(JPEG)
    assert segments[0].marker == 0xE0  # JFIF
    assert {0xDB, 0xC0, 0xC4} <= {s.marker for s in segments}  # tables and frame header
    assert [s.marker for s in jpeg_segments(JPEG, header_only=True)] == [0xE0]
    assert jpeg_end(JPEG + b"trailer") == len(JPEG)
    riff, riff_end = webp_chunks(WEBP)
    assert riff[0].kind == b"VP8 "
    assert riff_end == len(WEBP) == webp_end(WEBP + b"x")


def test_stray_bytes_between_jpeg_segments_are_skipped_by_both_readers() -> None:
    app0_end = 4 + int.from_bytes(JPEG[4:6], "big")
    comment = _segment(0xFE, b"hello")
    stray = JPEG[:app0_end] + b"\x00\x01junk" + comment + b"\x00" + JPEG[app0_end:]
    assert [s.marker for s in jpeg_segments(stray, header_only=True)] == [0xE0, 0xFE]
    assert jpeg_end(stray + b"trailer") == len(stray)
    kept, info = normalise_image(stray + b"trailer")  # the check trims where the walk ends
    assert (kept, info.trailing_bytes) == (stray, 7)
    assert extract(embed(stray, "jpeg", RECIPE)) == RECIPE  # and the writer walks it the same


def test_fill_bytes_before_a_marker_are_skipped() -> None:
    filled = JPEG[:2] + b"\xff\xff\xff" + JPEG[2:]
    assert [s.marker for s in jpeg_segments(filled, header_only=True)] == [0xE0]
    assert jpeg_end(filled) == len(filled)


@pytest.mark.parametrize(
    ("data", "walk", "message"),
    [
        (PNG[:40], png_chunks, "ends before its IEND"),
        (PNG[:8] + b"\x7f\xff\xff\xffIHDR" + bytes(8), png_chunks, "runs past"),
        (b"GIF89a", png_chunks, "not a PNG"),
        (JPEG[:2] + b"\xff\xe0\x00", jpeg_segments, "inside a segment header"),
        (JPEG[:2] + b"\xff\xe0\xff\xff", jpeg_segments, "runs past"),
        (JPEG[:2] + _segment(0xE0, b"ab") + b"no marker", jpeg_segments, "cannot be followed"),
        (b"RIFF\xff\x00\x00\x00WEBP", webp_chunks, "RIFF size"),
        (b"RIFF\x04\x00\x00\x00WEBP", webp_chunks, "no chunks"),
        (b"RIFF\x0c\x00\x00\x00WEBPVP8 \xff\x00\x00\x00", webp_chunks, "runs past"),
    ],
)
def test_broken_structures_say_what_is_wrong(data: bytes, walk: object, message: str) -> None:
    assert callable(walk)
    with pytest.raises(ContainerError, match=message):
        walk(data)


@given(st.sampled_from([PNG, JPEG, WEBP]), st.data())
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_damaged_files_raise_container_error_at_worst_and_ends_stay_inside(
    good: bytes, data: st.DataObject
) -> None:
    at = data.draw(st.integers(0, len(good) - 1))
    flipped = good[:at] + bytes([good[at] ^ data.draw(st.integers(1, 255))]) + good[at + 1 :]
    for damaged in (flipped, good[:at]):
        for end in (png_end, jpeg_end, webp_end):
            found = end(damaged)
            assert found is None or 0 < found <= len(damaged)
        for walk in (png_chunks, webp_chunks):
            with contextlib.suppress(ContainerError):
                walk(damaged)
        with contextlib.suppress(ContainerError):
            for piece in jpeg_segments(damaged):
                assert 0 < piece.start < piece.body <= piece.body_end == piece.end <= len(damaged)


def test_chunk_builders_round_trip() -> None:
    chunk = containers.png_chunk(b"tEXt", b"a\x00b")
    data = PNG[:33] + chunk + PNG[33:]
    assert b"tEXt" in [c.kind for c in png_chunks(data)[0]]
    assert containers.riff_chunk(b"ABCD", b"odd") == b"ABCD\x03\x00\x00\x00odd\x00"
