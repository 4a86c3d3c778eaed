from __future__ import annotations

import base64
import io
import os
import struct
import threading
import warnings
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, PngImagePlugin

from flux_cli import containers, images
from flux_cli.images import (
    EXTENSIONS,
    MEDIA_TYPES,
    ImageInfo,
    InvalidImage,
    convert_image,
    decode_base64_strict,
    format_from_extension,
    inspect_image,
    normalise_image,
    parse_data_url,
    sniff_format,
)

# Raise it in CI (e.g. HYPOTHESIS_EXAMPLES=2000) for a deeper search.
EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def gradient(size: tuple[int, int] = (48, 32), mode: str = "RGB") -> Image.Image:
    image = Image.linear_gradient("L").resize(size)
    if mode == "RGBA":
        mirrored = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return Image.merge("RGBA", [image, mirrored, image, mirrored])
    return image.convert(mode)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def handmade_png(width: int, height: int, *, bit_depth: int = 1, colour: int = 0) -> bytes:
    """A valid all-zero PNG built row by row, for sizes Pillow could not hold in memory."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    row = b"\x00" * (1 + (width * bit_depth + 7) // 8)
    packer = zlib.compressobj(9)
    chunks = [packer.compress(row) for _ in range(height)]
    idat = b"".join(chunks) + packer.flush()
    return (
        containers.PNG_MAGIC
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


PNG = encode(gradient(), "PNG")
JPEG = encode(gradient(), "JPEG", quality=85)
WEBP = encode(gradient(), "WEBP", quality=80)
VALID = {"png": PNG, "jpeg": JPEG, "webp": WEBP}
# Seeds for mutation: each format in a few of its variants.
MUTATION_SEEDS = [
    PNG,
    JPEG,
    WEBP,
    encode(gradient(mode="RGBA"), "PNG"),
    encode(gradient().convert("P"), "PNG", transparency=0),
    encode(gradient(), "JPEG", progressive=True, restart_marker_blocks=2),
    encode(gradient(mode="RGBA"), "WEBP", lossless=True),
]


# --- recognising formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (PNG, "png"),
        (JPEG, "jpeg"),
        (WEBP, "webp"),
        (b"\x89PNG\r\n\x1a\n", "png"),
        (b"\xff\xd8\xff", "jpeg"),
        (b"RIFF\x00\x00\x00\x00WEBP", "webp"),
        (b"RIFF\x00\x00\x00\x00WAVE", None),
        (b"RIFF\x00\x00\x00\x00WEB", None),
        (b"\x89PNG\r\n\x1a", None),
        (b"\xff\xd8", None),
        (b"GIF89a", None),
        (b"<svg xmlns=...>", None),
        (b"", None),
    ],
)
def test_sniff_format(data: bytes, fmt: str | None) -> None:
    assert sniff_format(data) == fmt


def test_tables_cover_every_format() -> None:
    assert EXTENSIONS == {"png": "png", "jpeg": "jpg", "webp": "webp"}
    assert MEDIA_TYPES == {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}
    for fmt in MEDIA_TYPES:
        assert format_from_extension(f"x.{EXTENSIONS[fmt]}") == fmt


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("fox.png", "png"),
        ("dir/fox.PNG", "png"),
        ("fox.jpg", "jpeg"),
        ("fox.JPEG", "jpeg"),
        ("fox.webp", "webp"),
        ("fox.gif", None),
        ("fox", None),
        (".png", None),
        ("fox.png.txt", None),
    ],
)
def test_format_from_extension(name: str, fmt: str | None) -> None:
    assert format_from_extension(name) == fmt


# --- strict base64 ------------------------------------------------------------------------------


def test_base64_round_trip() -> None:
    for size in range(1, 10):
        raw = bytes(range(size))
        assert decode_base64_strict(base64.b64encode(raw).decode(), max_bytes=100) == raw


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("aGVs\nbG8=", "line breaks"),
        ("aGVsbG8=\n", "line breaks"),
        ("aGVs bG8=", "whitespace"),
        ("aGVsbG8=\r", "whitespace"),
        ("ab-_", "URL-safe"),
        ("aGVs!!bG", "outside base64"),
        ("aGVs!!bG8=", "padding"),
        ("aGVsbG8", "padding"),
        ("aGVsbG8==", "padding"),
        ("aGU=bG8=", "bad"),
        ("=aGVsbG8", "bad"),
        ("aGVsbG9=", "not canonical"),  # stray low bits: decodes to "hello" too, if lax
        ("QR==", "not canonical"),
        ("aGVsbG8é", "outside base64"),
        ("aGVsbGé=", "outside base64"),
        ("====", "bad"),
    ],
)
def test_base64_refusals(text: str, reason: str) -> None:
    with pytest.raises(InvalidImage, match=reason):
        decode_base64_strict(text, max_bytes=100)


def test_base64_refuses_oversize_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("decoded a string that was already too long")

    monkeypatch.setattr(base64, "b64decode", must_not_decode)
    with pytest.raises(InvalidImage, match="too large"):
        decode_base64_strict("A" * 10_000_000, max_bytes=1000)


def test_base64_refuses_decoded_size_over_the_cap() -> None:
    text = base64.b64encode(b"12345").decode()  # 8 characters, within 4 * ceil(4 / 3)
    assert decode_base64_strict(text, max_bytes=5) == b"12345"
    with pytest.raises(InvalidImage, match="too large"):
        decode_base64_strict(text, max_bytes=4)


# --- data URLs ----------------------------------------------------------------------------------

PNG_B64 = base64.b64encode(PNG).decode()


@pytest.mark.parametrize(
    ("url", "media_type"),
    [
        (f"data:image/png;base64,{PNG_B64}", "image/png"),
        (f"DATA:Image/PNG;BASE64,{PNG_B64}", "image/png"),
        (f"data:image/svg+xml;base64,{PNG_B64}", "image/svg+xml"),
    ],
)
def test_parse_data_url(url: str, media_type: str) -> None:
    assert parse_data_url(url, max_bytes=len(PNG)) == (media_type, PNG)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://example.com/fox.png", "not a data: URL"),
        ("data:image/png,abcd", "not base64"),
        ("data:image/png;charset=utf-8;base64,QUJD", "not base64"),
        ("data:;base64,QUJD", "media type"),
        ("data:image;base64,QUJD", "media type"),
        ("data:image/png;base64", "no comma"),
        ("data:" + "x" * 400 + ",QUJD", "no comma"),
        ("data:image/png;base64,", "empty"),
        ("data:image/png;base64,QUJD\n", "line breaks"),
        ("data:image/png;base64,QUJD%3D=", "outside base64"),
        ("data:image/png;base64,QU-D", "URL-safe"),
        ("", "not a data: URL"),
    ],
)
def test_parse_data_url_refusals(url: str, reason: str) -> None:
    with pytest.raises(InvalidImage, match=reason):
        parse_data_url(url, max_bytes=1000)


def test_parse_data_url_size_cap() -> None:
    with pytest.raises(InvalidImage, match="too large"):
        parse_data_url(f"data:image/png;base64,{PNG_B64}", max_bytes=len(PNG) - 10)


# --- inspecting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_inspect_valid_images(fmt: str) -> None:
    info = inspect_image(VALID[fmt])
    assert info == ImageInfo(format=fmt, width=48, height=32, mode="RGB", has_alpha=False)
    assert info.media_type == MEDIA_TYPES[fmt]


@pytest.mark.parametrize(
    ("image", "fmt", "mode", "alpha"),
    [
        (gradient(mode="RGBA"), "PNG", "RGBA", True),
        (gradient(mode="RGBA"), "WEBP", "RGBA", True),
        (gradient(mode="L"), "PNG", "L", False),
        (gradient(mode="L"), "JPEG", "L", False),
        (gradient(mode="LA"), "PNG", "LA", True),
        (gradient().convert("P"), "PNG", "P", False),
        (gradient().convert("CMYK"), "JPEG", "CMYK", False),
    ],
)
def test_inspect_modes_and_alpha(image: Image.Image, fmt: str, mode: str, alpha: bool) -> None:
    info = inspect_image(encode(image, fmt))
    assert (info.mode, info.has_alpha) == (mode, alpha)


def test_palette_png_with_transparency_has_alpha() -> None:
    data = encode(gradient().convert("P"), "PNG", transparency=0)
    assert inspect_image(data).has_alpha


def test_truncated_png_is_refused() -> None:
    with pytest.raises(InvalidImage, match="truncated"):
        inspect_image(PNG[: len(PNG) // 2])


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_truncated_images_are_refused(fmt: str) -> None:
    data = encode(gradient((256, 256)), fmt.upper())
    for cut in (20, len(data) // 3, len(data) - 20):
        with pytest.raises(InvalidImage):
            inspect_image(data[:cut])


def test_png_with_a_bad_idat_crc_is_refused() -> None:
    idat = PNG.index(b"IDAT")
    broken = bytearray(PNG)
    broken[idat + 10] ^= 0xFF
    with pytest.raises(InvalidImage, match="IDAT"):
        inspect_image(bytes(broken))


def test_decompression_bomb_is_refused() -> None:
    bomb = handmade_png(30_000, 30_000)
    assert len(bomb) < 1_000_000
    assert inspect_image_raises(bomb) == "too many pixels (a possible decompression bomb)"


def test_pillow_bomb_warning_becomes_a_refusal_and_changes_no_global_state() -> None:
    filters_before = list(warnings.filters)
    limit_before = Image.MAX_IMAGE_PIXELS
    # 10000² is over Pillow's warning threshold but under its error threshold.
    assert "decompression bomb" in inspect_image_raises(handmade_png(10_000, 10_000))
    assert warnings.filters == filters_before
    assert limit_before == Image.MAX_IMAGE_PIXELS


def inspect_image_raises(data: bytes, **options: int) -> str:
    with pytest.raises(InvalidImage) as caught:
        inspect_image(data, **options)  # type: ignore[arg-type]
    return caught.value.reason


@pytest.mark.parametrize(
    ("size", "max_pixels", "reason"),
    [
        ((8193, 1), None, "each side"),
        ((1, 8193), None, "each side"),
        ((4097, 4096), None, "over the limit of 16,777,216"),
        ((100, 100), 9_999, "over the limit of 9,999"),
    ],
)
def test_size_limits(size: tuple[int, int], max_pixels: int | None, reason: str) -> None:
    data = handmade_png(*size)
    options = {} if max_pixels is None else {"max_pixels": max_pixels}
    assert reason in inspect_image_raises(data, **options)


def test_size_limits_allow_the_largest_sane_image() -> None:
    assert inspect_image(handmade_png(8192, 1)).width == 8192
    assert inspect_image(handmade_png(100, 100), max_pixels=10_000).height == 100


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (0, 0)])
def test_zero_size_header_is_refused(size: tuple[int, int]) -> None:
    ihdr = struct.pack(">IIBBBBB", *size, 8, 0, 0, 0, 0)
    data = (
        containers.PNG_MAGIC
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )
    with pytest.raises(InvalidImage):
        inspect_image(data)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (encode(gradient(), "GIF"), "a GIF image"),
        (encode(gradient(), "TIFF"), "a TIFF image"),
        (encode(gradient(), "BMP"), "a BMP image"),
        (b"%PDF-1.7\n...", "a PDF document"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG or XML text"),
        (b"<!DOCTYPE html><html><body>Log in to the Wi-Fi</body></html>", "an HTML page"),
        (b'{"error": {"message": "no"}}', "JSON text"),
        (b"just some words\n", "text"),
        (b"\x00\x01\x02\x03\xfe\xff" * 10, "not a PNG, JPEG or WebP image"),
        (b"", "empty"),
    ],
)
def test_other_formats_and_junk_are_refused(data: bytes, what: str) -> None:
    assert inspect_image_raises(data).startswith(what + ",")


def test_pillow_never_opens_another_format_behind_a_matching_signature() -> None:
    # JPEG magic followed by a GIF: the signature says JPEG, so only the JPEG decoder may try.
    with pytest.raises(InvalidImage):
        inspect_image(b"\xff\xd8\xff" + encode(gradient(), "GIF"))


# --- trailing bytes -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("junk", [b"x", b"PK\x03\x04" + os.urandom(3000), b"\xff\xd9" * 10])
def test_trailing_bytes_are_trimmed(fmt: str, junk: bytes) -> None:
    original = VALID[fmt]
    kept, info = normalise_image(original + junk)
    assert kept == original
    assert info.trailing_bytes == len(junk)
    assert normalise_image(original) == (original, inspect_image(original))
    assert inspect_image(original).trailing_bytes == 0


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"restart_marker_blocks": 1},
        {"exif": b"Exif\x00\x00" + b"\xff\xd9\xff\xd8" * 50},
        {"icc_profile": b"\xff\xd9" * 100},
        {"quality": 100, "subsampling": 0},
    ],
)
def test_jpeg_end_is_found_past_look_alike_markers(options: dict[str, object]) -> None:
    data = encode(gradient((64, 64)), "JPEG", **options)
    assert containers.jpeg_end(data) == len(data)
    kept, info = normalise_image(data + b"trailer")
    assert (kept, info.trailing_bytes) == (data, 7)


def test_png_with_data_after_iend_inside_a_fake_chunk_is_trimmed_at_the_first_iend() -> None:
    tail = png_chunk(b"tEXt", b"Comment\x00hidden after IEND") + png_chunk(b"IEND", b"")
    kept, info = normalise_image(PNG + tail)
    assert kept == PNG
    assert info.trailing_bytes == len(tail)


def test_unfindable_end_leaves_the_bytes_to_pillow() -> None:
    # A WebP whose RIFF size overruns the data is not trimmed, it is decoded as is (and fails).
    broken = WEBP[:4] + struct.pack("<I", len(WEBP) * 2) + WEBP[8:]
    with pytest.raises(InvalidImage):
        normalise_image(broken)


# --- animation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_animated_images_are_refused_unless_allowed(fmt: str) -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue", "green")]
    data = encode(frames[0], fmt, save_all=True, append_images=frames[1:])
    assert "3 frames" in inspect_image_raises(data)
    info = inspect_image(data, allow_animated=True)
    assert (info.frames, info.width) == (3, 16)


def test_mpo_is_multi_frame() -> None:
    frames = [Image.new("RGB", (16, 16), colour) for colour in ("red", "blue")]
    data = encode(frames[0], "MPO", save_all=True, append_images=frames[1:])
    assert sniff_format(data) == "jpeg"
    assert "2 frames" in inspect_image_raises(data)
    kept, info = normalise_image(data, allow_animated=True)
    assert info.format == "jpeg"
    assert kept == data[: len(kept)]
    assert inspect_image(kept, allow_animated=True).width == 16


def test_single_frame_apng_is_a_plain_image() -> None:
    data = encode(Image.new("RGB", (16, 16), "red"), "PNG", save_all=True, append_images=[])
    assert inspect_image(data).frames == 1


# --- hostile bytes never raise anything but InvalidImage ----------------------------------------


def check_only_invalid_image(data: bytes) -> None:
    try:
        info = inspect_image(data)
    except InvalidImage as exc:
        reason = exc.reason
    else:
        assert info.format in images.FORMATS
        assert 1 <= info.width <= 8192
        assert 1 <= info.height <= 8192
        return
    assert reason
    assert "\x1b" not in reason


@PROPERTY
@given(st.binary(max_size=2000))
def test_random_bytes(data: bytes) -> None:
    check_only_invalid_image(data)


@PROPERTY
@given(
    st.sampled_from([containers.PNG_MAGIC, containers.JPEG_MAGIC, b"RIFF\x10\x00\x00\x00WEBPVP8 "]),
    st.binary(max_size=2000),
)
def test_random_bytes_behind_a_valid_signature(magic: bytes, data: bytes) -> None:
    check_only_invalid_image(magic + data)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(MUTATION_SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if action == "flip":
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[position] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif action == "delete":
            del data[position : position + draw(st.integers(1, 16))]
        else:
            del data[position:]
        if not data:
            break
    return bytes(data)


@PROPERTY
@given(mutated_images())
def test_mutated_images(data: bytes) -> None:
    check_only_invalid_image(data)


def test_concurrent_inspection_is_safe_and_restores_warning_filters() -> None:
    filters_before = list(warnings.filters)
    bomb = handmade_png(10_000, 10_000)
    errors: list[BaseException] = []

    def work(data: bytes) -> None:
        for _ in range(5):
            try:
                inspect_image(data)
            except InvalidImage:
                pass
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in (PNG, JPEG, WEBP, bomb) * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert warnings.filters == filters_before


# --- converting ---------------------------------------------------------------------------------


def reopen(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize("source", ["png", "jpeg", "webp"])
@pytest.mark.parametrize("target", ["png", "jpeg", "webp"])
def test_convert_between_formats(source: str, target: str) -> None:
    out = convert_image(VALID[source], target)
    assert sniff_format(out) == target
    info = inspect_image(out)
    assert (info.format, info.width, info.height) == (target, 48, 32)
    assert convert_image(VALID[source], target) == out  # deterministic


def test_jpeg_flattens_alpha_onto_white() -> None:
    image = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 8, 16))
    out = reopen(convert_image(encode(image, "PNG"), "jpeg"))
    assert out.mode == "RGB"
    r, g, b = out.getpixel((12, 8))  # type: ignore[misc]
    assert min(r, g, b) > 245
    r, g, b = out.getpixel((3, 8))  # type: ignore[misc]
    assert b > 200
    assert r < 50


@pytest.mark.parametrize("target", ["png", "webp"])
def test_alpha_survives_where_the_format_has_it(target: str) -> None:
    palette = encode(gradient().convert("P"), "PNG", transparency=0)
    for source in (encode(gradient(mode="RGBA"), "PNG"), palette):
        assert inspect_image(convert_image(source, target)).has_alpha


def test_convert_keeps_icc_and_strips_other_metadata() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    text = PngImagePlugin.PngInfo()
    text.add_text("prompt", "secret prompt")
    exif = Image.Exif()
    exif[0x010E] = "a description"  # ImageDescription
    source = encode(gradient(), "PNG", pnginfo=text, icc_profile=srgb, exif=exif)
    assert reopen(source).info.get("prompt") == "secret prompt"
    for target in ("png", "jpeg", "webp"):
        out = convert_image(source, target)
        result = reopen(out)
        assert result.info.get("icc_profile") == srgb
        assert "prompt" not in result.info
        assert not result.info.get("exif")
        assert b"secret prompt" not in out
        assert b"a description" not in out


def test_convert_drops_an_icc_profile_that_no_longer_fits() -> None:
    # A CMYK profile cannot describe the RGB pixels a PNG gets; a JPEG keeps CMYK and the profile.
    cmyk_profile = bytes(16) + b"CMYK" + bytes(108)
    cmyk = encode(gradient().convert("CMYK"), "JPEG", icc_profile=cmyk_profile)
    assert reopen(convert_image(cmyk, "png")).info.get("icc_profile") is None
    assert reopen(convert_image(cmyk, "jpeg")).info.get("icc_profile") == cmyk_profile


def test_convert_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    source = encode(gradient((48, 32)), "JPEG", exif=exif)
    out = inspect_image(convert_image(source, "png"))
    assert (out.width, out.height) == (32, 48)


def test_convert_cmyk_jpeg_to_rgb_formats() -> None:
    cmyk = encode(gradient().convert("CMYK"), "JPEG")
    assert inspect_image(convert_image(cmyk, "png")).mode == "RGB"
    assert inspect_image(convert_image(cmyk, "jpeg")).mode == "CMYK"


def test_convert_quality_changes_jpeg_size() -> None:
    noisy = Image.frombytes("RGB", (64, 64), bytes(range(256)) * 48)
    source = encode(noisy, "PNG")
    assert len(convert_image(source, "jpeg", quality=30)) < len(convert_image(source, "jpeg"))


def test_convert_refuses_bad_input_and_unknown_targets() -> None:
    with pytest.raises(InvalidImage):
        convert_image(PNG[:100], "jpeg")
    with pytest.raises(InvalidImage, match="GIF"):
        convert_image(encode(gradient(), "GIF"), "png")
    with pytest.raises(ValueError, match="unknown target"):
        convert_image(PNG, "gif")


def _noisy_jpeg(size: tuple[int, int] = (512, 384), **options: object) -> bytes:
    import random

    pixels = random.Random(size[0] * size[1]).randbytes(size[0] * size[1] * 3)
    return encode(Image.frombytes("RGB", size, pixels), "JPEG", quality=90, **options)


def _full_decode_refuses(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as full:
            full.load()
    except Exception:
        return True
    return False


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"restart_marker_blocks": 2}])
def test_a_jpeg_is_checked_at_full_size_without_its_full_pixels(
    options: dict[str, object],
) -> None:
    """The check decodes every block (at 1/8 scale): damaged data is refused exactly when a
    full decode refuses it, and the size reported is the image's own."""
    data = _noisy_jpeg((512, 384), **options)
    kept, info = normalise_image(data)
    assert kept == data
    assert (info.width, info.height) == (512, 384)
    scan = data.index(b"\xff\xda")
    refused = 0
    for stride in (997, 401, 97):
        broken = bytearray(data)
        for at in range(scan + 300, len(data) - 300, stride):
            broken[at] ^= 0x55
        expected = _full_decode_refuses(bytes(broken))
        refused += expected
        try:
            normalise_image(bytes(broken))
            refuses = False
        except InvalidImage:
            refuses = True
        assert refuses == expected, stride
    assert refused  # at least one kind of damage that a full decode notices
    for cut in (scan + 100, len(data) // 2, len(data) - 2):
        with pytest.raises(InvalidImage):
            normalise_image(data[:cut])


@given(st.binary(min_size=0, max_size=64), st.integers(min_value=0, max_value=3))
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_jpeg_end_regex_matches_a_byte_walk(junk: bytes, fills: int) -> None:
    """The next-marker search agrees with walking the entropy-coded bytes one at a time."""
    data = _noisy_jpeg((64, 48))
    eoi = len(data) - 2
    # Fill bytes before EOI are legal; junk after EOI is trailing data.
    padded = data[:eoi] + b"\xff" * fills + data[eoi:] + junk
    assert containers.jpeg_end(padded) == eoi + fills + 2
