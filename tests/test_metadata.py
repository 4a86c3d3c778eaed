"""Embedded recipes: byte-level embedding without re-encoding, strict reading, and --from."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from flux_cli import __version__
from flux_cli.errors import UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import MAX_PROMPT_CHARS, plan_generation, resolve_model
from flux_cli.images import normalise_image
from flux_cli.metadata import (
    MAX_JPEG_SEGMENT_PAYLOAD,
    XMP_HEADER,
    XMP_NAMESPACE,
    MetadataError,
    Recipe,
    ToWrite,
    apply_level,
    embed,
    extract,
    for_saving,
    load_recipe,
    recipe_for,
    recipe_from_json_line,
    recipe_of,
    recipe_to_options,
    usd_text,
    write_sidecar,
)
from flux_cli.provenance import find_credentials
from flux_cli.xmp import DIGITAL_SOURCE_TYPE

RECIPE = Recipe(
    model="black-forest-labs/flux.2-pro",
    seed=1234567,
    prompt="a red fox in the snow",
    width=96,
    height=64,
    aspect_ratio="3:2",
    route="images",
    format="png",
    generation_id="gen-img-1790983552-TOdyb7qrp6185EBMwzAV",
    cost_usd="0.03",
    estimate_usd="0.03",
    created="2026-11-21T10:00:00Z",
    reference_count=0,
    provider="Black Forest Labs",
)

# (format, mode, Pillow save options): lossy and lossless, with and without alpha.
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("png", "RGB", {}),
    ("png", "RGBA", {}),
    ("png", "L", {}),
    ("jpeg", "RGB", {"quality": 90}),
    ("jpeg", "L", {"quality": 75}),
    ("webp", "RGB", {"quality": 80}),  # simple VP8
    ("webp", "RGBA", {"quality": 80}),  # VP8X + ALPH + VP8
    ("webp", "RGB", {"lossless": True}),  # simple VP8L
    ("webp", "RGBA", {"lossless": True}),  # simple VP8L with its alpha bit
]
VARIANT_IDS = [
    f"{fmt}-{mode}-{'lossless' if o.get('lossless') else 'q'}" for fmt, mode, o in VARIANTS
]


def picture(mode: str, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A gradient with detail in every channel, so a re-encode would show."""
    horizontal = Image.linear_gradient("L").resize(size)
    vertical = horizontal.rotate(90).resize(size)
    noise = Image.effect_noise(size, 60)
    if mode == "L":
        return horizontal
    rgb = Image.merge("RGB", (horizontal, vertical, noise))
    if mode == "RGBA":
        alpha = Image.radial_gradient("L").resize(size)
        return Image.merge("RGBA", (*rgb.split(), alpha))
    return rgb


def encode(fmt: str, mode: str = "RGB", **options: Any) -> bytes:
    out = io.BytesIO()
    picture(mode).save(out, fmt.upper(), **options)
    return out.getvalue()


def pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_embedding_keeps_the_pixels_and_reads_back(
    fmt: str, mode: str, options: dict[str, Any]
) -> None:
    data = encode(fmt, mode, **options)
    out = embed(data, fmt, RECIPE)
    assert out != data
    assert pixels(out) == pixels(data)
    checked, info = normalise_image(out)
    assert checked == out  # nothing trailing, nothing trimmed
    assert (info.format, info.width, info.height) == (fmt, 96, 64)
    assert extract(out) == RECIPE
    assert extract(data) is None


@pytest.mark.parametrize(("fmt", "mode", "options"), VARIANTS, ids=VARIANT_IDS)
def test_embedding_again_replaces_the_recipe(fmt: str, mode: str, options: dict[str, Any]) -> None:
    data = encode(fmt, mode, **options)
    once = embed(data, fmt, RECIPE)
    assert embed(once, fmt, RECIPE) == once
    other = replace(RECIPE, seed=7, prompt="a blue fox")
    twice = embed(once, fmt, other)
    assert extract(twice) == other
    assert pixels(twice) == pixels(data)
    normalise_image(twice)


def test_level_none_leaves_the_bytes_alone_and_minimal_keeps_three_facts() -> None:
    data = encode("png")
    assert apply_level(RECIPE, "none") is None
    assert embed(data, "png", None) is data
    minimal = apply_level(RECIPE, "minimal")
    assert minimal is not None
    assert set(minimal.to_dict()) == {"flux2", "tool", "tool_version", "level", "model", "seed"}
    out = embed(data, "png", minimal)
    assert extract(out) == minimal
    assert RECIPE.prompt is not None
    assert RECIPE.prompt.encode() not in out
    assert apply_level(RECIPE, "full") is RECIPE
    with pytest.raises(MetadataError, match="full, minimal, none"):
        apply_level(RECIPE, "most")


def test_the_embedded_json_is_versioned_and_names_the_tool() -> None:
    record = json.loads(RECIPE.to_json())
    assert record["flux2"] == 1
    assert record["tool"] == "flux2"
    assert record["tool_version"] == __version__
    assert "prompt_truncated" not in record
    assert Recipe.from_json(RECIPE.to_json()) == RECIPE


# -- where the bytes go ----------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], data[pos : pos + 12 + length]))
        pos += 12 + length
    return chunks


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


# C2PA content credentials as FLUX sends them: a JUMBF superbox in APP11 (JPEG) or caBX (PNG).
JUMBF = (
    b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x40jumb\x00\x00\x00\x1cjumdc2pa\x00\x11\x00\x10"
    + bytes(range(40))
)


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0131] = "Camera"  # Software
    return exif.tobytes()


def _with_png_chunk(data: bytes, kind: bytes, payload: bytes) -> bytes:
    """`data` with one more chunk right after IHDR."""
    ihdr_end = 8 + len(_png_chunks(data)[0][1])
    chunk = len(payload).to_bytes(4, "big") + kind + payload
    chunk += zlib.crc32(kind + payload).to_bytes(4, "big")
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def test_png_chunks_go_before_the_first_idat_and_everything_else_is_untouched() -> None:
    data = _with_png_chunk(encode("png"), b"tEXt", b"Comment\x00hello")
    out = embed(data, "png", RECIPE)
    chunks = _png_chunks(out)
    kinds = [kind for kind, _ in chunks]
    assert kinds[:5] == [b"IHDR", b"tEXt", b"iTXt", b"iTXt", b"IDAT"]
    recipe_chunk, xmp_chunk = chunks[2][1], chunks[3][1]
    assert recipe_chunk[8:19] == b"flux2\x00\x00\x00\x00\x00{"  # uncompressed, no language
    assert xmp_chunk[8:30] == b"XML:com.adobe.xmp\x00\x00\x00\x00\x00"
    assert out.replace(recipe_chunk, b"").replace(xmp_chunk, b"") == data  # two chunks added
    assert pixels(out) == pixels(data)
    assert extract(out) == RECIPE


def test_a_png_with_another_tools_xmp_keeps_it_and_gets_only_the_recipe_chunk() -> None:
    foreign = b"XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    data = _with_png_chunk(encode("png"), b"iTXt", foreign)
    out = embed(data, "png", RECIPE)
    assert out.count(b"XML:com.adobe.xmp") == 1
    assert foreign in out
    assert extract(out) == RECIPE


def test_a_recipe_chunk_before_iend_as_older_versions_wrote_it_is_read(tmp_path: Path) -> None:
    old = _png_with_text(RECIPE.to_json().encode())
    assert [kind for kind, _ in _png_chunks(old)][-2:] == [b"iTXt", b"IEND"]
    assert extract(old) == RECIPE
    (tmp_path / "old.png").write_bytes(old)
    assert load_recipe(tmp_path / "old.png") == RECIPE
    again = embed(old, "png", replace(RECIPE, seed=9))  # replaced, not added
    assert extract(again) == replace(RECIPE, seed=9)


def test_the_xmp_packet_speaks_the_standard_vocabulary() -> None:
    for fmt in ("png", "jpeg", "webp"):
        out = embed(encode(fmt), fmt, RECIPE)
        assert b"<Iptc4xmpExt:DigitalSourceType>" + DIGITAL_SOURCE_TYPE.encode() in out
        assert f"<xmp:CreatorTool>flux2 {__version__}</xmp:CreatorTool>".encode() in out
        assert b'<rdf:li xml:lang="x-default">a red fox in the snow</rdf:li>' in out
        minimal = embed(encode(fmt), fmt, apply_level(RECIPE, "minimal"))
        assert DIGITAL_SOURCE_TYPE.encode() in minimal
        assert b"CreatorTool" in minimal
        assert b"dc:description>" not in minimal


def test_a_prompt_xml_cannot_carry_is_escaped_or_dropped_in_the_description() -> None:
    recipe = replace(RECIPE, prompt="fox <b> & \x01\x1b[2J snow")
    out = embed(encode("jpeg"), "jpeg", recipe)
    assert b'<rdf:li xml:lang="x-default">fox &lt;b&gt; &amp; [2J snow</rdf:li>' in out
    assert extract(out) == recipe


def test_jpeg_segment_goes_after_app0_app1() -> None:
    data = encode("jpeg", quality=85)
    assert data[2:4] == b"\xff\xe0"  # Pillow writes JFIF first
    app0_end = 4 + int.from_bytes(data[4:6], "big")
    exif = _jpeg_segment(0xE1, _exif())
    comment = _jpeg_segment(0xFE, b"a comment")
    with_exif = data[:app0_end] + exif + comment + data[app0_end:]
    out = embed(with_exif, "jpeg", RECIPE)
    ours_at = app0_end + len(exif)  # after APP0 and APP1, before the comment
    assert out[ours_at : ours_at + 4 + len(XMP_HEADER)][4:] == XMP_HEADER
    length = int.from_bytes(out[ours_at + 2 : ours_at + 4], "big")
    segment = out[ours_at : ours_at + 2 + length]
    assert out.replace(segment, b"") == with_exif
    assert pixels(out) == pixels(data)
    assert extract(out) == RECIPE


def test_jpeg_without_app0_gets_the_segment_right_after_soi() -> None:
    data = encode("jpeg")
    app0_end = 4 + int.from_bytes(data[4:6], "big")
    bare = data[:2] + data[app0_end:]
    out = embed(bare, "jpeg", RECIPE)
    assert out[2:4] == b"\xff\xe1"
    assert out[6 : 6 + len(XMP_HEADER)] == XMP_HEADER
    assert pixels(out) == pixels(bare)


def test_stray_bytes_between_jpeg_segments_are_skipped_by_every_reader() -> None:
    data = encode("jpeg")
    app0_end = 4 + int.from_bytes(data[4:6], "big")
    stray = data[:app0_end] + b"\x00junk" + data[app0_end:]
    checked, _ = normalise_image(stray)  # Pillow skips them too
    assert checked == stray
    out = embed(stray, "jpeg", RECIPE)
    assert extract(out) == RECIPE
    assert normalise_image(out + b"trailer")[0] == out


def with_fake_manifest(fmt: str) -> bytes:
    """An image carrying a (fake, unsigned) C2PA manifest where C2PA puts one."""
    data = encode(fmt)
    if fmt == "png":
        return _with_png_chunk(data, b"caBX", JUMBF)
    if fmt == "jpeg":
        app0_end = 4 + int.from_bytes(data[4:6], "big")
        return data[:app0_end] + _jpeg_segment(0xEB, JUMBF) + data[app0_end:]
    c2pa = b"C2PA" + len(JUMBF).to_bytes(4, "little") + JUMBF
    signed = data + c2pa
    return signed[:4] + (len(signed) - 8).to_bytes(4, "little") + signed[8:]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_content_credentials_are_never_changed_and_the_recipe_goes_in_a_sidecar(
    fmt: str,
) -> None:
    signed = with_fake_manifest(fmt)
    normalise_image(signed)
    assert find_credentials(signed, fmt) is not None
    assert find_credentials(encode(fmt), fmt) is None
    with pytest.raises(MetadataError, match="content credentials"):
        embed(signed, fmt, RECIPE)
    written = for_saving(signed, fmt, RECIPE)
    assert written.data is signed
    assert written.credentials == "kept"
    assert written.warnings == ()
    assert written.sidecar is not None
    assert hashlib.sha256(signed).hexdigest().encode() in written.sidecar
    assert DIGITAL_SOURCE_TYPE.encode() in written.sidecar
    assert for_saving(signed, fmt, None) == ToWrite(signed, credentials="kept")


def test_a_conversion_says_it_dropped_the_credentials() -> None:
    signed = with_fake_manifest("png")
    converted = encode("webp")
    written = for_saving(converted, "webp", RECIPE, converted_from=(signed, "png"))
    assert written.credentials == "dropped"
    assert written.sidecar is None
    assert extract(written.data) == RECIPE
    assert any("dropped the content credentials" in w for w in written.warnings)
    plain = for_saving(converted, "webp", RECIPE, converted_from=(encode("png"), "png"))
    assert (plain.credentials, plain.warnings) == (None, ())


def test_a_recipe_that_cannot_be_embedded_is_a_warning_not_an_error() -> None:
    broken = encode("png")[:-12] + b"\x00" * 12  # no IEND: the structure cannot be walked
    written = for_saving(broken, "png", RECIPE)
    assert written.data is broken
    assert any("without its recipe" in w for w in written.warnings)


def _webp_chunks(data: bytes) -> list[bytes]:
    fourccs, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        fourccs.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return fourccs


@pytest.mark.parametrize(
    ("options", "mode", "alpha"),
    [
        ({"quality": 80}, "RGB", False),
        ({"lossless": True}, "RGB", False),
        ({"lossless": True}, "RGBA", True),
    ],
)
def test_simple_webp_becomes_extended_with_the_xmp_flag(
    options: dict[str, Any], mode: str, alpha: bool
) -> None:
    data = encode("webp", mode, **options)
    assert _webp_chunks(data)[0] in (b"VP8 ", b"VP8L")
    out = embed(data, "webp", RECIPE)
    assert _webp_chunks(out) == [b"VP8X", _webp_chunks(data)[0], b"XMP "]
    flags = out[20]
    assert flags & 0x04
    assert bool(flags & 0x10) is alpha
    assert (int.from_bytes(out[24:27], "little") + 1, int.from_bytes(out[27:30], "little") + 1) == (
        96,
        64,
    )
    assert int.from_bytes(out[4:8], "little") == len(out) - 8
    assert data[12:] in out  # the bitstream chunk, byte for byte


def test_extended_webp_keeps_its_chunks_and_gets_xmp_before_unknown_ones() -> None:
    data = encode("webp", "RGBA", quality=80, exif=_exif())
    unknown = b"ABCD" + (5).to_bytes(4, "little") + b"hello\x00"
    extended = data + unknown
    extended = extended[:4] + (len(extended) - 8).to_bytes(4, "little") + extended[8:]
    out = embed(extended, "webp", RECIPE)
    assert _webp_chunks(out) == [b"VP8X", b"ALPH", b"VP8 ", b"EXIF", b"XMP ", b"ABCD"]
    assert unknown in out
    assert pixels(out) == pixels(data)
    assert extract(out) == RECIPE
    normalise_image(out)


def test_webp_with_another_tools_xmp_still_decodes() -> None:
    data = encode("webp", "RGB", lossless=True, xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    out = embed(data, "webp", RECIPE)
    assert _webp_chunks(out).count(b"XMP ") == 2
    assert extract(out) == RECIPE
    assert pixels(out) == pixels(data)


def test_trailing_bytes_are_kept_where_they_were() -> None:
    data = encode("png") + b"trailer"
    out = embed(data, "png", RECIPE)
    assert out.endswith(b"IEND\xaeB`\x82trailer")


def test_embed_refuses_bytes_of_another_format() -> None:
    with pytest.raises(MetadataError):
        embed(encode("png"), "jpeg", RECIPE)
    with pytest.raises(MetadataError):
        embed(encode("png")[:40], "png", RECIPE)


# -- prompts ---------------------------------------------------------------------------------------

AWKWARD_PROMPTS = [
    "un renard roux dans la neige, œuvre à l'huile — ×2",
    "狐狸在雪中 🦊❄️ 👩🏽‍🎨",
    "NUL\x00 and BEL\x07 and ESC\x1b[31m red \x1b[0m and DEL\x7f and C1\x85",
    'quotes " \' and markup <b>&amp;</b> ]]> </flux2:recipe> <?xpacket end="w"?>',
    "bidi \u202e override \u2066 isolate, BOM \ufeff, nonchars \ufffe\uffff",
    "lone surrogate \udc80 from a badly encoded argv",
    "\r\n\t whitespace \n at the ends \t",
]


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("prompt", AWKWARD_PROMPTS, ids=range(len(AWKWARD_PROMPTS)))
def test_awkward_prompts_round_trip_exactly(fmt: str, prompt: str) -> None:
    recipe = replace(RECIPE, prompt=prompt)
    out = embed(encode(fmt), fmt, recipe)
    assert extract(out) == recipe
    normalise_image(out)


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_the_longest_prompt_fits_whole_in_png_and_webp(fmt: str) -> None:
    recipe = replace(RECIPE, prompt="🦊&" * (MAX_PROMPT_CHARS // 2))
    out = embed(encode(fmt), fmt, recipe)
    assert extract(out) == recipe


def test_a_long_plain_prompt_fits_whole_in_jpeg() -> None:
    recipe = replace(RECIPE, prompt="a fox " * (MAX_PROMPT_CHARS // 6))
    out = embed(encode("jpeg"), "jpeg", recipe)
    assert extract(out) == recipe


@pytest.mark.parametrize("unit", ["&", "🦊", "\x01", "<>"])
def test_a_prompt_too_big_for_a_jpeg_segment_is_cut_and_marked(unit: str) -> None:
    prompt = (unit * MAX_PROMPT_CHARS)[:MAX_PROMPT_CHARS]
    out = embed(encode("jpeg"), "jpeg", replace(RECIPE, prompt=prompt))
    normalise_image(out)
    found = extract(out)
    assert found is not None
    assert found.prompt_truncated
    assert found.prompt is not None
    assert prompt.startswith(found.prompt)
    # each "&" is "&amp;" twice (description and recipe): some 6,500 of them fit in 64 KB
    assert len(found.prompt) > 6_000
    assert replace(found, prompt=prompt, prompt_truncated=False) == replace(RECIPE, prompt=prompt)
    # every segment, ours included, within the 16-bit length limit
    pos = 2
    while out[pos + 1] != 0xDA:
        length = int.from_bytes(out[pos + 2 : pos + 4], "big")
        assert length - 2 <= MAX_JPEG_SEGMENT_PAYLOAD
        pos += 2 + length
    assert "prompt" not in recipe_to_options(found)


def test_the_recipe_refuses_a_prompt_longer_than_generate_takes() -> None:
    with pytest.raises(MetadataError, match="prompt"):
        replace(RECIPE, prompt="x" * (MAX_PROMPT_CHARS + 1))


# -- reading untrusted metadata --------------------------------------------------------------------


_EMBEDDED = {fmt: embed(encode(fmt), fmt, RECIPE) for fmt in ("png", "jpeg", "webp")}


def _png_with_text(text: bytes, *, kind: bytes = b"iTXt", header: bytes | None = None) -> bytes:
    data = encode("png")
    payload = (b"flux2\x00\x00\x00\x00\x00" if header is None else header) + text
    chunk = len(payload).to_bytes(4, "big") + kind + payload
    chunk += zlib.crc32(kind + payload).to_bytes(4, "big")
    return data[:-12] + chunk + data[-12:]


def _jpeg_with_xmp(packet: bytes) -> bytes:
    data = encode("jpeg")
    return data[:2] + _jpeg_segment(0xE1, XMP_HEADER + packet) + data[2:]


def _ours(body: str) -> bytes:
    return (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmlns:f="{XMP_NAMESPACE}">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


@given(st.binary(max_size=300))
def test_random_bytes_in_the_png_chunk_are_a_metadata_error_at_worst(text: bytes) -> None:
    with contextlib.suppress(MetadataError):
        extract(_png_with_text(text))


@given(st.binary(max_size=300))
def test_random_bytes_in_the_xmp_packet_are_a_metadata_error_at_worst(junk: bytes) -> None:
    for packet in (junk, _ours("<f:recipe>").replace(b"<f:recipe>", b"<f:recipe>" + junk)):
        with contextlib.suppress(MetadataError):
            extract(_jpeg_with_xmp(packet))


@given(st.sampled_from(["png", "jpeg", "webp"]), st.data())
def test_a_flipped_byte_or_a_cut_anywhere_is_a_metadata_error_at_worst(
    fmt: str, data: st.DataObject
) -> None:
    good = _EMBEDDED[fmt]
    at = data.draw(st.integers(0, len(good) - 1))
    flipped = good[:at] + bytes([good[at] ^ data.draw(st.integers(1, 255))]) + good[at + 1 :]
    for damaged in (flipped, good[:at]):
        with contextlib.suppress(MetadataError):
            extract(damaged)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(sorted(RECIPE.to_dict())), JSON_VALUES, max_size=6))
def test_any_field_with_any_json_value_is_a_recipe_or_a_metadata_error(
    changes: dict[str, Any],
) -> None:
    record = {**RECIPE.to_dict(), **changes}
    try:
        recipe = Recipe.from_json(json.dumps(record))
    except MetadataError:
        return
    assert Recipe.from_json(recipe.to_json()) == recipe


@given(JSON_VALUES | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_random_json_and_text_are_a_metadata_error_at_worst(value: Any) -> None:
    for text in (json.dumps(value), str(value)):
        for parse in (Recipe.from_json, recipe_from_json_line):
            with contextlib.suppress(MetadataError):
                parse(text)


@given(
    st.sampled_from([b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x40\x00\x00\x00WEBP"]),
    st.binary(),
)
def test_random_bytes_after_a_magic_number_are_a_metadata_error_at_worst(
    magic: bytes, rest: bytes
) -> None:
    with contextlib.suppress(MetadataError):
        extract(magic + rest)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"flux2": 2, "level": "full", "model": "m", "seed": 1}', "format 2"),
        ('{"level": "full", "model": "m", "seed": 1}', "format version"),
        ('{"flux2": true, "level": "full", "model": "m", "seed": 1}', "format version"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": true}', "seed"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 4294967296}', "seed"),
        ('{"flux2": 1, "level": "full", "model": "m"}', "model or the seed"),
        ('{"flux2": 1, "level": "full", "model": "m\\u001b[2J", "seed": 1}', "control"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "seed": 2}', "twice"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "cost_usd": NaN}', "NaN"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "cost_usd": "1e3"}', "cost_usd"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "width": 0}', "width"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "format": "gif"}', "format"),
        ('{"flux2": 1, "level": "full", "model": "m", "seed": 1, "created": "today"}', "created"),
        ('{"flux2": 1, "level": "most", "model": "m", "seed": 1}', "level"),
        ('{"flux2": 1, "tool": "other", "level": "full", "model": "m", "seed": 1}', "tool"),
        ("[" * 100_000 + "]" * 100_000, "JSON"),
        ('"' + "x" * 600_000 + '"', "over"),
    ],
)
def test_malformed_recipes_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        Recipe.from_json(text)


def test_unknown_keys_are_ignored_and_minimal_ignores_full_fields() -> None:
    record = {**RECIPE.to_dict(), "future": {"x": [1, 2]}}
    assert Recipe.from_json(json.dumps(record)) == RECIPE
    minimal = Recipe.from_json(json.dumps({**record, "level": "minimal"}))
    assert minimal.prompt is None
    assert minimal.level == "minimal"


def test_damaged_chunks_are_metadata_errors() -> None:
    good = embed(encode("png"), "png", RECIPE)
    start = good.index(b"iTXt") - 4  # the flux2 chunk comes first
    crc_end = start + 12 + int.from_bytes(good[start : start + 4], "big")
    bad_crc = good[: crc_end - 1] + bytes([good[crc_end - 1] ^ 1]) + good[crc_end:]
    with pytest.raises(MetadataError, match="CRC"):
        extract(bad_crc)
    with pytest.raises(MetadataError):
        extract(good[: start + 30])  # cut inside the chunk
    with pytest.raises(MetadataError, match="not valid JSON"):
        extract(_png_with_text(b'{"flux2": 1, "model":'))
    with pytest.raises(MetadataError, match="compression"):
        extract(_png_with_text(b"{}", header=b"flux2\x00\x01\x07\x00\x00"))
    with pytest.raises(MetadataError, match="tEXt"):
        extract(_png_with_text(b"{}", kind=b"tEXt", header=b"flux2\x00"))
    with pytest.raises(MetadataError, match="2 flux2 recipes"):
        extract(_png_with_text(RECIPE.to_json().encode(), header=None)[:-12] + good[start:])
    jpeg = embed(encode("jpeg"), "jpeg", RECIPE)
    with pytest.raises(MetadataError):
        extract(jpeg[:40])
    with pytest.raises(MetadataError, match="entity"):
        extract(_jpeg_with_xmp(_ours("<f:recipe>&bogus;</f:recipe>")))
    with pytest.raises(MetadataError, match="no recipe"):
        extract(_jpeg_with_xmp(_ours("<f:other/>")))
    with pytest.raises(MetadataError):
        extract(b"GIF89a")


def test_compressed_itxt_and_attribute_form_xmp_are_read_too() -> None:
    compressed = _png_with_text(
        zlib.compress(RECIPE.to_json().encode()), header=b"flux2\x00\x01\x00\x00\x00"
    )
    assert extract(compressed) == RECIPE
    bomb = _png_with_text(zlib.compress(b" " * 5_000_000), header=b"flux2\x00\x01\x00\x00\x00")
    with pytest.raises(MetadataError, match="over"):
        extract(bomb)
    escaped = RECIPE.to_json().replace("&", "&amp;").replace('"', "&quot;")
    attribute = _ours("").replace(b"xmlns:f=", f'f:recipe="{escaped}" xmlns:f='.encode())
    assert extract(_jpeg_with_xmp(attribute)) == RECIPE


def test_files_from_other_tools_carry_no_recipe() -> None:
    from PIL import PngImagePlugin

    text = PngImagePlugin.PngInfo()
    text.add_text("Software", "GIMP")
    text.add_itxt("parameters", "a prompt from another tool")
    png = io.BytesIO()
    picture("RGB").save(png, "PNG", pnginfo=text)
    others = [
        png.getvalue(),
        encode("jpeg", exif=_exif(), xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"),
        encode("webp", "RGB", quality=70, exif=_exif()),
        encode("webp", "RGBA", lossless=True, icc_profile=b"\x00" * 128),
    ]
    for data in others:
        assert extract(data) is None


# -- building recipes, and --from -----------------------------------------------------------------


def test_recipe_for_a_plan_records_what_was_sent_and_what_came_back() -> None:
    plan = plan_generation(
        model=resolve_model("pro"), prompt="a fox", aspect_ratio="16:9", seed=5, count=2
    )
    fixed = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    recipe = recipe_for(
        plan,
        seed=6,
        width=1344,
        height=768,
        fmt="jpeg",
        generation_id="gen-1",
        provider="x" * 1000,  # too long to keep: left out, not fatal
        cost_micros=30_000,
        now=lambda: fixed,
    )
    assert recipe == Recipe(
        model="black-forest-labs/flux.2-pro",
        seed=6,
        prompt="a fox",
        width=1344,
        height=768,
        aspect_ratio="16:9",
        route="images",
        format="jpeg",
        generation_id="gen-1",
        cost_usd="0.03",
        estimate_usd="0.03",
        created="2026-11-21T10:00:00Z",
        reference_count=0,
    )
    minimal = recipe_for(
        plan,
        seed=6,
        width=1,
        height=1,
        fmt="png",
        generation_id=None,
        provider=None,
        cost_micros=None,
        level="minimal",
    )
    assert minimal == Recipe(level="minimal", model="black-forest-labs/flux.2-pro", seed=6)
    none = recipe_for(
        plan,
        seed=6,
        width=1,
        height=1,
        fmt="png",
        generation_id=None,
        provider=None,
        cost_micros=None,
        level="none",
    )
    assert none is None


def test_usd_text_is_exact() -> None:
    assert [usd_text(m) for m in (30_000, 0, 1, 1_000_000, 12_345_678)] == [
        "0.03",
        "0",
        "0.000001",
        "1",
        "12.345678",
    ]


def test_load_recipe_from_an_image_and_the_options_it_gives(tmp_path: Path) -> None:
    path = tmp_path / "fox.png"
    path.write_bytes(embed(encode("png"), "png", replace(RECIPE, size="96x64", aspect_ratio=None)))
    recipe = load_recipe(path)
    assert recipe.prompt == RECIPE.prompt
    assert recipe_to_options(recipe) == {
        "model": "black-forest-labs/flux.2-pro",
        "prompt": "a red fox in the snow",
        "seed": 1234567,
        "size": "96x64",
        "route": "images",
        "image_format": "png",
    }
    assert recipe_to_options(RECIPE)["aspect_ratio"] == "3:2"
    minimal = Recipe(level="minimal", model="m/x", seed=3)
    assert recipe_to_options(minimal) == {"model": "m/x", "seed": 3}


def _json_line(**changes: Any) -> str:
    """A line as `flux2 generate --json` prints it."""
    record = {
        "status": "ok",
        "index": 1,
        "path": "fox.jpg",
        "model": "black-forest-labs/flux.2-max",
        "provider": "Black Forest Labs",
        "route": "chat",
        "seed": 99,
        "width": 1344,
        "height": 768,
        "format": "jpeg",
        "bytes": 1234,
        "sha256": "ab" * 32,
        "estimate_usd": 0.07,
        "cost_usd": 0.07,
        "generation_id": "gen-2",
        "elapsed_s": 3.2,
        "prompt": "a fox at dusk",
    }
    record.update(changes)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [
        (1344, 768, {"aspect_ratio": "16:9"}),  # an aspect ratio's own size
        (1024, 1024, {"aspect_ratio": "1:1"}),
        (1536, 1024, {"size": "1536x1024"}),  # a size FLUX.2 can be asked for
        (1000, 1000, {"aspect_ratio": "1:1"}),  # one it cannot: the nearest ratio
        (2100, 900, {"aspect_ratio": "21:9"}),
    ],
)
def test_a_generate_json_line_becomes_a_request(
    tmp_path: Path, width: int, height: int, expected: dict[str, str]
) -> None:
    path = tmp_path / "run.json"
    path.write_text(_json_line(width=width, height=height) + "\n", encoding="utf-8")
    recipe = load_recipe(path)
    assert recipe.cost_usd == "0.07"
    assert recipe.tool_version is None
    assert recipe_to_options(recipe) == {
        "model": "black-forest-labs/flux.2-max",
        "prompt": "a fox at dusk",
        "seed": 99,
        "route": "chat",
        "image_format": "jpeg",
        **expected,
    }


def test_a_json_line_without_a_prompt_or_size_gives_what_it_has() -> None:
    recipe = recipe_from_json_line(
        _json_line(prompt=None, width=None, format=None, status="failed")
    )
    assert recipe_to_options(recipe) == {
        "model": "black-forest-labs/flux.2-max",
        "seed": 99,
        "route": "chat",
    }


def test_inspect_json_and_pretty_printed_objects_are_accepted(tmp_path: Path) -> None:
    inspected = {
        "path": "x.png",
        "format": "png",
        "width": 1,
        "height": 1,
        "recipe": RECIPE.to_dict(),
    }
    path = tmp_path / "inspect.json"
    path.write_text(json.dumps(inspected, indent=2), encoding="utf-8")
    assert load_recipe(path) == RECIPE
    path.write_text("\ufeff" + RECIPE.to_json(), encoding="utf-8")
    assert load_recipe(path) == RECIPE


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "neither an image made by flux2"),
        (b"hello", "neither an image made by flux2"),
        (b"\x89PNG\r\n\x1a\nbroken", "not a usable image"),
        ("plain", "carries no flux2 recipe"),
        ("lines", "holds 2 JSON lines"),
        (b'{"model": "m"}', "no model and seed"),
        (b'{"path": "x.png", "recipe": null}', "carried no flux2 recipe"),
        ("damaged", "cannot be read"),
    ],
)
def test_load_recipe_says_which_file_has_no_recipe(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / "input.bin"
    if content == "plain":
        path.write_bytes(encode("jpeg"))
    elif content == "lines":
        path.write_text(_json_line() + "\n" + _json_line(seed=100) + "\n", encoding="utf-8")
    elif content == "damaged":
        path.write_bytes(_png_with_text(b"{not json"))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as caught:
        load_recipe(path)
    assert str(path) in caught.value.message
    assert caught.value.exit_code == ExitCode.USAGE


# -- sidecars ------------------------------------------------------------------------------------


def test_a_sidecar_is_written_next_to_the_image_and_never_over_another_file(
    tmp_path: Path,
) -> None:
    image = tmp_path / "fox.jpg"
    signed = with_fake_manifest("jpeg")
    image.write_bytes(signed)
    packet = for_saving(signed, "jpeg", RECIPE).sidecar
    assert packet is not None
    assert write_sidecar(image, packet, force=False) == (tmp_path / "fox.xmp", None)
    assert write_sidecar(image, b"second", force=False) == (tmp_path / "fox.jpg.xmp", None)
    path, warning = write_sidecar(image, b"third", force=False)
    assert path is None
    assert warning is not None
    assert "fox.xmp and fox.jpg.xmp exist" in warning
    assert (tmp_path / "fox.xmp").read_bytes() == packet
    assert write_sidecar(image, packet + b" ", force=True) == (tmp_path / "fox.xmp", None)
    assert sorted(p.name for p in tmp_path.glob("fox*")) == ["fox.jpg", "fox.jpg.xmp", "fox.xmp"]


def test_the_recipe_is_read_from_the_file_or_from_its_own_sidecar(tmp_path: Path) -> None:
    image = tmp_path / "fox.png"
    signed = with_fake_manifest("png")
    image.write_bytes(signed)
    assert recipe_of(image, signed, signed).recipe is None
    packet = for_saving(signed, "png", RECIPE).sidecar
    assert packet is not None
    (tmp_path / "fox.png.xmp").write_bytes(packet)  # the second name is read too
    found = recipe_of(image, signed, signed)
    assert (found.recipe, found.sidecar, found.notes) == (RECIPE, tmp_path / "fox.png.xmp", ())
    assert load_recipe(image) == RECIPE

    other = for_saving(with_fake_manifest("jpeg"), "jpeg", replace(RECIPE, seed=1)).sidecar
    assert other is not None
    (tmp_path / "fox.xmp").write_bytes(other)  # another image's sidecar, under the first name
    found = recipe_of(image, signed, signed)
    assert found.recipe == RECIPE
    assert found.notes == ("fox.xmp describes another image (its sha256 differs)",)

    (tmp_path / "fox.png.xmp").write_bytes(packet.replace(b'"seed":1234567', b'"seed":"x"'))
    with pytest.raises(MetadataError, match=r"fox.png.xmp: seed must be"):
        recipe_of(image, signed, signed)

    embedded = embed(encode("png"), "png", replace(RECIPE, seed=5))
    image.write_bytes(embedded)  # an embedded recipe wins over any sidecar
    assert recipe_of(image, embedded, embedded).recipe == replace(RECIPE, seed=5)
