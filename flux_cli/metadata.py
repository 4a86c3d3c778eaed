"""The recipe of an image made by flux2, embedded in the image file itself and read back.

Embedding never re-encodes the image: the pixels, and every segment or chunk the server put in the
file (C2PA/JUMBF content credentials included), are kept byte for byte; one piece is added.

- PNG: an `iTXt` chunk with the keyword `flux2` (uncompressed UTF-8 JSON), right before `IEND`.
- JPEG: an APP1 XMP segment (`http://ns.adobe.com/xap/1.0/` + an XMP packet whose
  `flux2:recipe` element holds the JSON, XML-escaped), after SOI and after any APP0/APP1 segments
  at the start of the file. A segment holds at most 65,533 bytes; a recipe that would not fit
  (only a prompt of tens of thousands of characters can do that) keeps the longest prefix of the
  prompt that fits and says so with `"prompt_truncated": true`.
- WebP: an `XMP ` chunk with the same packet. A simple (`VP8 ` / `VP8L`) file becomes an extended
  one: a `VP8X` chunk with the XMP flag (and the alpha flag where the lossless bitstream has
  alpha) and the canvas size of the bitstream goes first, and the RIFF size is updated.

Embedding again replaces flux2's own earlier recipe; anything else is left alone. What is
embedded is versioned JSON (`"flux2": 1`); see `Recipe.to_dict`. Reference images are not
embedded, only how many there were.

Everything read back is untrusted: `extract` and `Recipe.from_json` check types, ranges and
sizes, ignore unknown keys, and raise nothing but `MetadataError`.

No PIL here: the file structure is walked directly. `flux_cli.images.normalise_image` is how a
caller checks that bytes are a whole image first (`load_recipe` does).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flux_cli import __version__
from flux_cli.errors import UsageError
from flux_cli.generation import MAX_PROMPT_CHARS, MAX_SEED
from flux_cli.images import FORMATS, MAX_SIDE, sniff_format

if TYPE_CHECKING:
    from flux_cli.generation import Plan

__all__ = [
    "FORMAT_VERSION",
    "LEVELS",
    "MetadataError",
    "Recipe",
    "apply_level",
    "embed",
    "extract",
    "json_text",
    "load_recipe",
    "recipe_for",
    "recipe_from_json_line",
    "recipe_to_options",
    "usd_text",
]

FORMAT_VERSION = 1
TOOL = "flux2"
LEVELS = ("full", "minimal", "none")
Level = Literal["full", "minimal"]

PNG_KEYWORD = b"flux2"
XMP_NAMESPACE = "https://pypi.org/project/flux2-cli/ns/recipe/1.0/"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
#: A JPEG segment's length field counts itself: 65,535 - 2 bytes of payload at most.
MAX_JPEG_SEGMENT_PAYLOAD = 65_533

#: Bounds on what is read back from a file, before any parsing.
MAX_RECIPE_CHARS = 512 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_REFERENCES = 64
_SHORT = 64  # tool version, aspect ratio, size, route
_LONG = 256  # model id, generation id, provider

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = (b"iTXt", b"tEXt", b"zTXt")
_WEBP_XMP_FLAG = 0x04
_WEBP_ALPHA_FLAG = 0x10
# What precedes XMP in an extended WebP (RIFF order: VP8X, ICCP, ANIM, image, EXIF, XMP, unknown).
_WEBP_BEFORE_XMP = (b"VP8 ", b"VP8L", b"ALPH", b"ANMF", b"EXIF", b"XMP ")


class MetadataError(ValueError):
    """A recipe that cannot be written, or embedded metadata that is present but unusable."""


# --- the recipe ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_DECIMAL = re.compile(r"\d{1,9}(\.\d{1,6})?")
_SIZE = re.compile(r"[1-9]\d{0,4}x[1-9]\d{0,4}")
_ROUTE = re.compile(r"[a-z][a-z0-9_-]*")
_CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6})?(Z|[+-]\d\d:\d\d)")
# Characters JSON may leave literal that XML 1.0 or UTF-8 cannot carry (or that are best escaped).
_UNSAFE_IN_XML = re.compile(r"[\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


def _check_text(name: str, value: object, limit: int, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise MetadataError(f"{name} must be text")
    if not value or len(value) > limit:
        raise MetadataError(f"{name} must be 1 to {limit} characters")
    if _CONTROL.search(value):
        raise MetadataError(f"{name} contains control characters")


def _check_int(name: str, value: object, low: int, high: int, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MetadataError(f"{name} must be a whole number from {low} to {high}")


def _check_pattern(name: str, value: object, pattern: re.Pattern[str], example: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > _SHORT or not pattern.fullmatch(value):
        raise MetadataError(f"{name} must look like {example}")


@dataclass(frozen=True, kw_only=True)
class Recipe:
    """What made an image: enough to make it again (`flux2 generate --from`) and to account for it.

    `level="minimal"` carries the model, the seed and the tool version only. Money is text in
    USD ("0.03"), exact, never a float; `created` is ISO 8601 UTC. `aspect_ratio` and `size`
    are what was asked for (None when not sent); `width`/`height` what came back."""

    tool: str = TOOL
    tool_version: str | None = __version__
    level: Level = "full"
    model: str
    seed: int
    prompt: str | None = None
    prompt_truncated: bool = False
    width: int | None = None
    height: int | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    route: str | None = None
    format: str | None = None
    generation_id: str | None = None
    cost_usd: str | None = None
    estimate_usd: str | None = None
    created: str | None = None
    reference_count: int | None = None
    provider: str | None = None
    resolution: str | None = None  # `--resolution`, as sent
    options: dict[str, Any] | None = None  # model options, as sent (steps, guidance, …)

    def __post_init__(self) -> None:
        if self.tool != TOOL:
            raise MetadataError("not a flux2 recipe (its tool is not flux2)")
        if self.level not in ("full", "minimal"):
            raise MetadataError("level must be full or minimal")
        _check_text("tool_version", self.tool_version, _SHORT)
        _check_text("model", self.model, _LONG, required=True)
        _check_int("seed", self.seed, 0, MAX_SEED, required=True)
        if self.level == "minimal":
            extra = [name for name in _FULL_ONLY if getattr(self, name) not in (None, False)]
            if extra:
                raise MetadataError(f"a minimal recipe carries no {', '.join(extra)}")
            return
        if self.prompt is not None and (
            not isinstance(self.prompt, str) or len(self.prompt) > MAX_PROMPT_CHARS
        ):
            raise MetadataError(f"prompt must be text of at most {MAX_PROMPT_CHARS:,} characters")
        if not isinstance(self.prompt_truncated, bool):
            raise MetadataError("prompt_truncated must be true or false")
        if self.prompt_truncated and self.prompt is None:
            raise MetadataError("prompt_truncated without a prompt")
        _check_int("width", self.width, 1, MAX_SIDE)
        _check_int("height", self.height, 1, MAX_SIDE)
        _check_text("aspect_ratio", self.aspect_ratio, _SHORT)
        _check_pattern("size", self.size, _SIZE, "1024x768")
        _check_pattern("route", self.route, _ROUTE, "images")
        if self.format is not None and self.format not in FORMATS:
            raise MetadataError(f"format must be one of {', '.join(FORMATS)}")
        _check_text("generation_id", self.generation_id, _LONG)
        _check_pattern("cost_usd", self.cost_usd, _DECIMAL, "0.03")
        _check_pattern("estimate_usd", self.estimate_usd, _DECIMAL, "0.03")
        _check_pattern("created", self.created, _CREATED, "2026-11-21T10:00:00Z")
        if self.created is not None:
            try:
                datetime.fromisoformat(self.created.replace("Z", "+00:00"))
            except ValueError:
                raise MetadataError("created is not a real date and time") from None
        _check_int("reference_count", self.reference_count, 0, MAX_REFERENCES)
        _check_text("provider", self.provider, _LONG)
        _check_text("resolution", self.resolution, _SHORT)
        if self.options is not None:
            from flux_cli.models import MODEL_OPTIONS

            if not isinstance(self.options, dict) or not all(
                name in MODEL_OPTIONS
                and isinstance(value, (int, float, bool))
                and (not isinstance(value, float) or math.isfinite(value))
                for name, value in self.options.items()
            ):
                raise MetadataError(f"options may hold only {', '.join(MODEL_OPTIONS)} (numbers)")

    # -- serialising -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON object: `{"flux2": 1, "tool": "flux2", …}`. A minimal recipe has
        only tool, tool_version, level, model and seed; `prompt_truncated` appears only when
        true."""
        record: dict[str, Any] = {
            "flux2": FORMAT_VERSION,
            "tool": self.tool,
            "tool_version": self.tool_version,
            "level": self.level,
            "model": self.model,
            "seed": self.seed,
        }
        if self.level == "minimal":
            return record
        for name in _FULL_ONLY:
            value = getattr(self, name)
            if name in _ONLY_WHEN_SET and not value:
                continue
            record[name] = value
        return record

    def to_json(self) -> str:
        """Compact JSON that UTF-8 and XML 1.0 can both carry (see `json_text`)."""
        return json_text(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Recipe:
        """Parse untrusted JSON (at most MAX_RECIPE_CHARS); MetadataError for anything wrong."""
        if len(text) > MAX_RECIPE_CHARS:
            raise MetadataError(f"the recipe is over {MAX_RECIPE_CHARS:,} bytes")
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise MetadataError("the recipe is not UTF-8 text") from None
        return cls.from_dict(_loads(text))

    @classmethod
    def from_dict(cls, value: object) -> Recipe:
        """Build from a parsed JSON object, checking every field; unknown keys are ignored."""
        if not isinstance(value, dict):
            raise MetadataError("the recipe is not a JSON object")
        version = value.get("flux2")
        if isinstance(version, bool) or not isinstance(version, int):
            raise MetadataError("the recipe has no format version")
        if version != FORMAT_VERSION:
            raise MetadataError(
                f"the recipe is in format {version}; this flux2 ({__version__}) reads format "
                f"{FORMAT_VERSION}"
            )
        level = value.get("level")
        if level not in ("full", "minimal"):
            raise MetadataError("level must be full or minimal")
        names: tuple[str, ...] = ("tool", "tool_version", "model", "seed")
        if level == "full":
            names += _FULL_ONLY
        fields = {name: value[name] for name in names if name in value}
        for name in ("tool", "prompt_truncated"):
            if fields.get(name) is None:
                fields.pop(name, None)  # null means the default
        try:
            return cls(level=level, **fields)
        except TypeError:  # a required field is missing
            raise MetadataError("the recipe lacks the model or the seed") from None


_FULL_ONLY = (
    "prompt",
    "prompt_truncated",
    "width",
    "height",
    "aspect_ratio",
    "size",
    "route",
    "format",
    "generation_id",
    "cost_usd",
    "estimate_usd",
    "created",
    "reference_count",
    "provider",
    "resolution",
    "options",
)
_ONLY_WHEN_SET = frozenset({"prompt_truncated", "resolution", "options"})


def json_text(value: object, *, separators: tuple[str, str] | None = None) -> str:
    """JSON with non-ASCII text as itself, except what UTF-8 or XML 1.0 cannot carry literally:
    control characters, lone surrogates (from a badly encoded argv) and U+FFFE/U+FFFF become
    `\\uXXXX` escapes. Safe to write to any UTF-8 stream."""
    text = json.dumps(value, ensure_ascii=False, separators=separators)
    return _UNSAFE_IN_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MetadataError(f"the key {key[:40]!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> None:
    raise MetadataError(f"{name} is not a number")


def _loads(text: str) -> object:
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except MetadataError:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise MetadataError(f"the recipe is not valid JSON ({detail})") from None


def usd_text(micros: int) -> str:
    """Integer micro-dollars as exact decimal text: 30000 → "0.03", 0 → "0"."""
    return f"{(Decimal(micros) / 1_000_000).normalize():f}"


def apply_level(recipe: Recipe, level: str) -> Recipe | None:
    """The recipe to embed at `level`: full as is, minimal (model, seed, tool version), or none."""
    if level == "none":
        return None
    if level == "minimal":
        return Recipe(
            level="minimal",
            tool_version=recipe.tool_version,
            model=recipe.model,
            seed=recipe.seed,
        )
    if level == "full":
        return recipe
    raise MetadataError(f"metadata level must be one of {', '.join(LEVELS)}, got {level!r}")


def recipe_for(
    plan: Plan,
    *,
    seed: int,
    width: int,
    height: int,
    fmt: str,
    generation_id: str | None,
    provider: str | None,
    cost_micros: int | None,
    level: str = "full",
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> Recipe | None:
    """The recipe of one image of `plan` (seed, size and format as written), at `level`.

    The estimate is the plan's per-image share, as in the `--json` line. Values the recipe cannot
    hold (an over-long provider name, a negative charge) are left out rather than failing."""
    if level == "none":
        return None
    per_image = plan.estimate.total_micros // plan.count
    created = now().astimezone(timezone.utc).replace(microsecond=0)
    explicit = plan.explicit_size
    recipe = Recipe(
        model=plan.model.id,
        seed=seed,
        prompt=plan.prompt or None,
        width=width,
        height=height,
        aspect_ratio=plan.aspect_ratio,
        size=f"{explicit[0]}x{explicit[1]}" if explicit else None,
        route=plan.route,
        format=fmt,
        generation_id=_fits(generation_id),
        cost_usd=usd_text(cost_micros) if cost_micros is not None and cost_micros >= 0 else None,
        estimate_usd=usd_text(per_image),
        created=created.isoformat().replace("+00:00", "Z"),
        reference_count=len(plan.references),
        provider=_fits(provider),
        resolution=plan.resolution,
        options=dict(plan.options) or None,
    )
    return apply_level(recipe, level)


def _fits(text: str | None) -> str | None:
    try:
        _check_text("text", text, _LONG)
    except MetadataError:
        return None
    return text


# --- embedding ----------------------------------------------------------------------------------


def embed(data: bytes, fmt: str, recipe: Recipe | None) -> bytes:
    """`data` with `recipe` embedded (see the module docstring), or unchanged for None.

    `data` must be a whole image of format `fmt` (as `normalise_image` returns it). The image data
    and all other chunks/segments are kept byte for byte. MetadataError if the structure cannot
    be walked; a damaged file is never produced."""
    if recipe is None:
        return data
    if sniff_format(data) != fmt:
        raise MetadataError(f"the bytes are not a {fmt} image")
    if fmt == "png":
        return _embed_png(data, recipe)
    if fmt == "jpeg":
        return _embed_jpeg(data, recipe)
    return _embed_webp(data, recipe)


def extract(data: bytes) -> Recipe | None:
    """The flux2 recipe in an image's bytes, None if it carries none; MetadataError if the
    recipe is there but unusable, or the bytes are not a PNG, JPEG or WebP structure."""
    fmt = sniff_format(data)
    if fmt == "png":
        found = _png_recipes(data)
    elif fmt == "jpeg":
        found = _jpeg_recipes(data)
    elif fmt == "webp":
        found = _webp_recipes(data)
    else:
        raise MetadataError("not a PNG, JPEG or WebP image")
    if not found:
        return None
    if len(found) > 1:
        raise MetadataError(f"the file carries {len(found)} flux2 recipes; expected one")
    return Recipe.from_json(found[0])


# -- PNG


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return len(payload).to_bytes(4, "big") + kind + payload + crc.to_bytes(4, "big")


def _png_chunks(data: bytes) -> tuple[list[tuple[int, int, bytes]], int]:
    """(start, end, type) of each chunk up to and including IEND, and where IEND ends."""
    if not data.startswith(_PNG_MAGIC):
        raise MetadataError("not a PNG image")
    chunks: list[tuple[int, int, bytes]] = []
    pos, size = len(_PNG_MAGIC), len(data)
    while True:
        if pos + 12 > size:
            raise MetadataError("the PNG ends before its IEND chunk")
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise MetadataError("a PNG chunk runs past the end of the file")
        kind = data[pos + 4 : pos + 8]
        chunks.append((pos, end, kind))
        pos = end
        if kind == b"IEND":
            return chunks, pos


def _is_flux2_text(data: bytes, start: int, kind: bytes) -> bool:
    return kind in _PNG_TEXT_CHUNKS and data[start + 8 : start + 8 + 6] == PNG_KEYWORD + b"\x00"


def _embed_png(data: bytes, recipe: Recipe) -> bytes:
    chunks, end = _png_chunks(data)
    if chunks[0][2] != b"IHDR":
        raise MetadataError("the PNG does not start with IHDR")
    # keyword, NUL, compression flag 0 and method 0, empty language tag and translated keyword
    payload = PNG_KEYWORD + b"\x00\x00\x00\x00\x00" + recipe.to_json().encode("utf-8")
    parts = [data[: len(_PNG_MAGIC)]]
    for start, stop, kind in chunks:
        if _is_flux2_text(data, start, kind):
            continue  # an earlier recipe of ours: replaced
        if kind == b"IEND":
            parts.append(_png_chunk(b"iTXt", payload))
        parts.append(data[start:stop])
    parts.append(data[end:])
    return b"".join(parts)


def _png_recipes(data: bytes) -> list[str | bytes]:
    chunks, _ = _png_chunks(data)
    found: list[str | bytes] = []
    for start, stop, kind in chunks:
        if not _is_flux2_text(data, start, kind):
            continue
        payload = data[start + 8 : stop - 4]
        crc = int.from_bytes(data[stop - 4 : stop], "big")
        if zlib.crc32(kind + payload) & 0xFFFFFFFF != crc:
            raise MetadataError("the flux2 PNG chunk is damaged (CRC mismatch)")
        if kind != b"iTXt":
            raise MetadataError(f"the flux2 recipe is in a {kind.decode('ascii')} chunk, not iTXt")
        found.append(_itxt_text(payload))
    return found


def _itxt_text(payload: bytes) -> bytes:
    rest = payload[len(PNG_KEYWORD) + 1 :]
    if len(rest) < 2:
        raise MetadataError("the flux2 iTXt chunk is truncated")
    compressed, method, rest = rest[0], rest[1], rest[2:]
    _language, sep1, rest = rest.partition(b"\x00")
    _translated, sep2, text = rest.partition(b"\x00")
    if not (sep1 and sep2):
        raise MetadataError("the flux2 iTXt chunk is truncated")
    if compressed == 0:
        return text
    if compressed != 1 or method != 0:
        raise MetadataError("the flux2 iTXt chunk uses an unknown compression")
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(text, MAX_RECIPE_CHARS + 1)
    except zlib.error:
        raise MetadataError("the flux2 iTXt chunk does not decompress") from None
    if len(text) > MAX_RECIPE_CHARS or inflater.unconsumed_tail:
        raise MetadataError(f"the recipe is over {MAX_RECIPE_CHARS:,} bytes")
    return text


# -- XMP (JPEG and WebP)

_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_XML_ENTITY = re.compile(r"&(?:#x([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


def _xmp_packet(json_text: str) -> bytes:
    body = re.sub(r"[&<>]", lambda m: _XML_ESCAPES[m.group()], json_text)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:flux2="{XMP_NAMESPACE}">'
        f"<flux2:recipe>{body}</flux2:recipe>"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def _is_ours(packet: bytes) -> bool:
    return XMP_NAMESPACE.encode("ascii") in packet


def _xml_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        hex_code, dec_code, name = match.groups()
        if name:
            return _NAMED[name]
        code = int(hex_code, 16) if hex_code else int(dec_code)
        if not (
            code in (0x9, 0xA, 0xD)
            or 0x20 <= code <= 0xD7FF
            or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF
        ):
            raise MetadataError("the flux2 XMP has an invalid character reference")
        return chr(code)

    unescaped = _XML_ENTITY.sub(one, text)
    if "&" in _XML_ENTITY.sub("", text):
        raise MetadataError("the flux2 XMP has a malformed entity")
    return unescaped


def _recipe_in_xmp(packet: bytes) -> str | None:
    """The recipe JSON in an XMP packet that uses flux2's namespace; None for other packets."""
    if not _is_ours(packet):
        return None
    if len(packet) > 4 * MAX_RECIPE_CHARS:
        raise MetadataError("the flux2 XMP packet is too large")
    try:
        text = packet.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError("the flux2 XMP packet is not UTF-8") from None
    namespace = re.escape(XMP_NAMESPACE)
    declared = re.search(rf"xmlns:([A-Za-z_][\w.-]{{0,63}})\s*=\s*([\"']){namespace}\2", text)
    if declared is None:
        raise MetadataError("the flux2 XMP packet does not declare its namespace")
    prefix = re.escape(declared.group(1))
    element = re.search(rf"<{prefix}:recipe\s*>([^<]*)</{prefix}:recipe\s*>", text)
    if element is not None:
        return _xml_unescape(element.group(1))
    attribute = re.search(rf"\s{prefix}:recipe\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')", text)
    if attribute is not None:
        value = attribute.group(1) if attribute.group(1) is not None else attribute.group(2)
        return _xml_unescape(value)
    raise MetadataError("the flux2 XMP packet carries no recipe")


# -- JPEG


def _jpeg_segments(data: bytes, *, header_only: bool) -> list[tuple[int, int, int]]:
    """(start, end, marker) of each marker segment after SOI: the leading run of APPn/COM
    segments (`header_only`), or every segment up to the start of scan."""
    segments: list[tuple[int, int, int]] = []
    pos, size = 2, len(data)
    while True:
        if pos < size and data[pos] != 0xFF:
            # Bytes between segments: Pillow skips them, and so does this walk.
            pos = data.find(b"\xff", pos)
            if pos < 0:
                raise MetadataError("the JPEG's segments cannot be followed")
        if pos + 2 > size:
            raise MetadataError("the JPEG's segments cannot be followed")
        marker = data[pos + 1]
        if marker == 0xFF:  # a fill byte before the marker
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image
            return segments
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # no length field
            pos += 2
            continue
        if header_only and not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return segments
        if pos + 4 > size:
            raise MetadataError("the JPEG ends inside a segment header")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > size:
            raise MetadataError("a JPEG segment runs past the end of the file")
        segments.append((pos, end, marker))
        pos = end


def _is_xmp_segment(data: bytes, start: int, end: int, marker: int) -> bool:
    return marker == 0xE1 and data[start + 4 : start + 4 + len(XMP_HEADER)] == XMP_HEADER


def _jpeg_xmp_segment(recipe: Recipe) -> bytes:
    """The APP1 segment; a prompt too long for one segment is cut to the longest prefix that fits."""

    def payload_for(candidate: Recipe) -> bytes:
        return XMP_HEADER + _xmp_packet(candidate.to_json())

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
    header = _jpeg_segments(data, header_only=True)
    ours = [
        (start, end)
        for start, end, marker in header
        if _is_xmp_segment(data, start, end, marker) and _is_ours(data[start:end])
    ]
    kept_app01 = [
        end for start, end, marker in header if marker in (0xE0, 0xE1) and (start, end) not in ours
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
    for start, end, marker in _jpeg_segments(data, header_only=False):
        if _is_xmp_segment(data, start, end, marker):
            recipe = _recipe_in_xmp(data[start + 4 + len(XMP_HEADER) : end])
            if recipe is not None:
                found.append(recipe)
    return found


# -- WebP


def _riff_chunk(fourcc: bytes, payload: bytes) -> bytes:
    pad = b"\x00" if len(payload) % 2 else b""
    return fourcc + len(payload).to_bytes(4, "little") + payload + pad


def _webp_chunks(data: bytes) -> tuple[list[tuple[int, int, bytes]], int]:
    """(start, end of payload, fourcc) of each chunk, and where the RIFF data ends. A last chunk
    whose padding byte is missing is tolerated (and padded when the file is rebuilt)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MetadataError("not a WebP image")
    riff_size = int.from_bytes(data[4:8], "little")
    riff_end = 8 + riff_size
    if riff_size < 4 or riff_end > len(data):
        raise MetadataError("the WebP's RIFF size runs past the end of the file")
    chunks: list[tuple[int, int, bytes]] = []
    pos = 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise MetadataError("the WebP ends inside a chunk header")
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size
        if end > riff_end:
            raise MetadataError("a WebP chunk runs past the end of the RIFF data")
        chunks.append((pos, end, data[pos : pos + 4]))
        pos = end + (size & 1)
    if not chunks:
        raise MetadataError("the WebP has no chunks")
    return chunks, riff_end


def _whole_chunk(data: bytes, start: int, end: int) -> bytes:
    """A chunk as it is in the file, with its padding byte."""
    return _riff_chunk(data[start : start + 4], data[start + 8 : end])


def _vp8x_for_simple(data: bytes, start: int, end: int, fourcc: bytes) -> bytes:
    """A VP8X chunk for a simple file's bitstream: its canvas size, alpha flag and the XMP flag."""
    payload = data[start + 8 : end]
    flags = _WEBP_XMP_FLAG
    if fourcc == b"VP8 ":
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
    return _riff_chunk(b"VP8X", bytes([flags, 0, 0, 0]) + canvas)


def _embed_webp(data: bytes, recipe: Recipe) -> bytes:
    chunks, riff_end = _webp_chunks(data)
    xmp = _riff_chunk(b"XMP ", _xmp_packet(recipe.to_json()))
    first_start, first_end, first = chunks[0]
    body: list[bytes] = []
    if first == b"VP8X":
        if first_end - first_start < 18:
            raise MetadataError("the WebP's VP8X chunk is too short")
        vp8x = bytearray(_whole_chunk(data, first_start, first_end))
        vp8x[8] |= _WEBP_XMP_FLAG
        kept = [
            (start, end, fourcc)
            for start, end, fourcc in chunks[1:]
            if not (fourcc == b"XMP " and _is_ours(data[start + 8 : end]))
        ]
        after = max(
            (i for i, (_, _, fourcc) in enumerate(kept) if fourcc in _WEBP_BEFORE_XMP),
            default=len(kept) - 1,
        )
        body.append(bytes(vp8x))
        for i, (start, end, _) in enumerate(kept):
            body.append(_whole_chunk(data, start, end))
            if i == after:
                body.append(xmp)
        if not kept:
            body.append(xmp)
    elif first in (b"VP8 ", b"VP8L"):
        body.append(_vp8x_for_simple(data, first_start, first_end, first))
        body.append(_whole_chunk(data, first_start, first_end))
        body.append(xmp)
        body.extend(_whole_chunk(data, start, end) for start, end, _ in chunks[1:])
    else:
        raise MetadataError(f"the WebP starts with an unknown chunk {first!r}")
    riff = b"".join(body)
    return b"RIFF" + (len(riff) + 4).to_bytes(4, "little") + b"WEBP" + riff + data[riff_end:]


def _webp_recipes(data: bytes) -> list[str | bytes]:
    chunks, _ = _webp_chunks(data)
    found: list[str | bytes] = []
    for start, end, fourcc in chunks:
        if fourcc == b"XMP ":
            recipe = _recipe_in_xmp(data[start + 8 : end])
            if recipe is not None:
                found.append(recipe)
    return found


# --- --from -------------------------------------------------------------------------------------


def load_recipe(source: Path) -> Recipe:
    """The recipe for `generate --from FILE`: embedded in an image flux2 made, or one JSON line as
    printed by `flux2 generate --json` (or the object `flux2 inspect --json` prints). UsageError,
    naming the file, for anything else."""
    data = read_input(source)
    if sniff_format(data) is not None:
        from flux_cli.images import InvalidImage, normalise_image

        try:
            image_bytes, _ = normalise_image(data)
        except InvalidImage as exc:
            raise UsageError(f"{source} is not a usable image: {exc.reason}") from None
        try:
            recipe = extract(image_bytes)
        except MetadataError as exc:
            raise UsageError(f"the flux2 metadata in {source} cannot be read: {exc}") from None
        if recipe is None:
            raise UsageError(
                f"{source} carries no flux2 recipe",
                hint="it was not made by flux2, was made with --metadata none, or its metadata "
                "was stripped; a line of flux2 generate --json works too",
            )
        return recipe
    try:
        text = data.decode("utf-8").lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        text = ""
    if not text.startswith("{"):
        from flux_cli.images import describe_unknown

        raise UsageError(
            f"{source} is neither an image made by flux2 nor a JSON line from flux2 generate "
            f"--json ({describe_unknown(data)})"
        )
    try:
        return recipe_from_json_line(text)
    except MetadataError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
            raise UsageError(
                f"{source} holds {len(lines)} JSON lines; --from takes one image's line",
                hint=f"pick one, e.g. sed -n 1p {source} > one.json",
            ) from None
        raise UsageError(f"{source}: {exc}") from None


def read_input(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A user's input file, whole, or a UsageError naming it."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {path}: {reason}") from None
    if len(data) > limit:
        raise UsageError(f"{path} is over {limit // (1024 * 1024)} MiB; is it really an image?")
    return data


def recipe_from_json_line(line: str) -> Recipe:
    """A recipe from a `flux2 generate --json` line, an embedded recipe's JSON, or the object
    `flux2 inspect --json` prints (a JSON object, on one line or pretty-printed). MetadataError
    when it holds no usable model and seed.

    A `--json` line records the size the image came out at, not how it was asked for, so the
    request is rebuilt from width×height: a FLUX.2 aspect ratio's own size (1344×768 is 16:9)
    becomes that aspect ratio; any other size FLUX.2 can be asked for becomes `size`; and a size it
    cannot be asked for (not a multiple of 16, say) the nearest aspect ratio."""
    if len(line) > MAX_RECIPE_CHARS:
        raise MetadataError(f"the JSON line is over {MAX_RECIPE_CHARS:,} characters")
    record = _loads(line)
    if not isinstance(record, dict):
        raise MetadataError("the JSON line is not an object")
    if isinstance(record.get("recipe"), dict):  # flux2 inspect --json
        return Recipe.from_dict(record["recipe"])
    if record.get("recipe", 0) is None:
        raise MetadataError("the inspected image carried no flux2 recipe")
    if "flux2" in record:
        return Recipe.from_dict(record)
    model, seed = record.get("model"), record.get("seed")
    if not isinstance(model, str) or isinstance(seed, bool) or not isinstance(seed, int):
        raise MetadataError(
            "the JSON line has no model and seed (is it from flux2 generate --json?)"
        )
    width, height = _positive(record.get("width")), _positive(record.get("height"))
    aspect_ratio, size = None, None
    if width is not None and height is not None:
        aspect_ratio, size = _request_for(width, height)
    else:
        width = height = None
    fmt = record.get("format")
    return Recipe(
        tool_version=None,
        model=model,
        seed=seed,
        prompt=_text_or_none(record.get("prompt")),
        width=width,
        height=height,
        aspect_ratio=aspect_ratio,
        size=size,
        route=_text_or_none(record.get("route")),
        format=fmt if fmt in FORMATS else None,
        generation_id=_text_or_none(record.get("generation_id")),
        cost_usd=_json_usd(record.get("cost_usd")),
        estimate_usd=_json_usd(record.get("estimate_usd")),
        provider=_text_or_none(record.get("provider")),
    )


def _positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MetadataError("a text field of the JSON line is not text")
    return value


def _json_usd(value: object) -> str | None:
    """A USD number of a `--json` line (the shortest float) as exact text; None if unusable."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        amount = Decimal(repr(value)).normalize()
    except InvalidOperation:
        return None
    text = f"{amount:f}"
    return text if amount.is_finite() and _DECIMAL.fullmatch(text) else None


def _request_for(width: int, height: int) -> tuple[str | None, str | None]:
    """(aspect_ratio, size) that asks FLUX.2 for width×height, as closely as it can be asked."""
    from flux_cli.models import ASPECT_RATIO_SIZES, FLUX2_ASPECT_RATIOS
    from flux_cli.sizes import SizeError, check_size, nearest_aspect_ratio

    for ratio, ratio_size in ASPECT_RATIO_SIZES.items():
        if ratio != "auto" and ratio_size == (width, height):
            return ratio, None
    try:
        check_size(width, height)
    except SizeError:
        return nearest_aspect_ratio(width, height, FLUX2_ASPECT_RATIOS), None
    return None, f"{width}x{height}"


def recipe_to_options(recipe: Recipe) -> dict[str, Any]:
    """The recipe as generate's option names, for "flags override the recipe": `model`,
    `prompt` (left out when the recipe has none, or only a truncated one), `seed`, `size` or
    `aspect_ratio` (neither when the image was made without either), `api`, `image_format`."""
    options: dict[str, Any] = {"model": recipe.model, "seed": recipe.seed}
    if recipe.prompt is not None and not recipe.prompt_truncated:
        options["prompt"] = recipe.prompt
    if recipe.size is not None:
        options["size"] = recipe.size
    elif recipe.aspect_ratio is not None:
        options["aspect_ratio"] = recipe.aspect_ratio
    if recipe.route is not None:
        options["api"] = recipe.route
    if recipe.format is not None:
        options["image_format"] = recipe.format
    if recipe.resolution is not None:
        options["resolution"] = recipe.resolution
    options.update(recipe.options or {})
    return options
