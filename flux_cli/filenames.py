"""File names: name templates, slugs and safe names (docs/reliability.md#security).

`render_name(template, fields)` fills in a name template and `sanitize_component` makes any text
one safe file-name component: no path separators, controls or bidi tricks, no Windows device
names, at most 255 bytes of UTF-8. `with_format_extension` makes a name's extension follow the
image's real format.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from string import Formatter

from flux_cli.errors import UsageError
from flux_cli.images import EXTENSIONS, FORMATS, format_from_extension

TEMPLATE_FIELDS = ("date", "time", "model", "seed", "slug", "index", "n", "ext", "id")
MAX_NAME_BYTES = 255
FALLBACK_NAME = "image"


_TRANSLITERATE = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O", "đ": "d",
     "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ð": "d", "Ð": "D", "ı": "i"}
)  # fmt: skip
_NON_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(prompt: str, max_len: int = 40) -> str:
    """Lower-case ASCII words joined by `-`, at most `max_len` characters, never empty.

    Accents are transliterated (NFKD, plus a few letters NFKD leaves alone: ß → ss, ø → o …);
    everything else that is not a letter or digit separates words. Cut at a word boundary where
    one is near."""
    ascii_text = (
        unicodedata.normalize("NFKD", prompt.translate(_TRANSLITERATE))
        .encode("ascii", "ignore")
        .decode("ascii")
    )
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_len:
        cut = slug[: max_len + 1]
        boundary = cut.rfind("-")
        slug = cut[:boundary] if boundary >= max_len // 2 else slug[:max_len]
        slug = slug.strip("-")
    return slug or FALLBACK_NAME


# Dropped: controls (C0, DEL, C1), bidi marks, embeddings, overrides and isolates, and lone
# surrogates (not encodable). Replaced by "_": path separators and the other characters Windows
# forbids in names.
_DROP = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_REPLACE = re.compile(r'[/\\<>:"|?*]')
_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in [*"123456789", "¹", "²", "³"]]
)
_LEADING = " -."
_TRAILING = " ."


def split_extension(name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(name)
    if not stem or len(ext.encode()) > 32:
        return name, ""
    return stem, ext


def truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    return encoded[:max_bytes].decode("utf-8", "ignore")


def _fit(stem: str, ext: str, max_bytes: int = MAX_NAME_BYTES) -> str:
    """stem + ext in at most max_bytes, shortening the stem; "" if the stem does not survive."""
    ext = truncate_utf8(ext, max_bytes // 2)
    stem = truncate_utf8(stem, max_bytes - len(ext.encode())).rstrip(_TRAILING)
    return stem + ext if stem else ""


def sanitize_component(name: str, *, fallback: str = FALLBACK_NAME) -> str:
    """Make `name` one safe file-name component (docs/reliability.md#security).

    NFC; controls, bidi overrides and lone surrogates removed; `/ \\ < > : " | ? *` replaced by
    `_`; `..` collapsed to `.`; no leading `-`, `.` or space and no trailing `.` or space; Windows
    device names (CON, NUL, COM1 … with or without an extension) prefixed with `_`; at most 255
    bytes of UTF-8, shortening the stem and keeping the extension. An empty result becomes
    `fallback` (itself sanitised, so it should already be safe)."""
    text = unicodedata.normalize("NFC", _DROP.sub("", name))
    text = _REPLACE.sub("_", text)
    while ".." in text:
        text = text.replace("..", ".")
    text = text.lstrip(_LEADING).rstrip(_TRAILING)
    stem, ext = split_extension(text)
    if stem.split(".", 1)[0].rstrip(" ").upper() in _DEVICE_NAMES:
        stem = "_" + stem
    text = _fit(stem, ext)
    if not text:
        return FALLBACK_NAME if fallback == FALLBACK_NAME else sanitize_component(fallback)
    return text


def with_format_extension(name: str, fmt: str) -> str:
    """`name` with an extension that matches `fmt` ("png", "jpeg", "webp").

    An extension that already names the format is kept as spelled (`fox.JPEG` stays); another
    image extension is swapped (`fox.png` → `fox.jpg`); anything else gets one appended
    (`fox` → `fox.png`, `fox.v2` → `fox.v2.png`)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    current = format_from_extension(name)
    if current == fmt:
        return name
    stem = os.path.splitext(name)[0] if current else name
    return f"{stem}.{EXTENSIONS[fmt]}"


@dataclass(frozen=True)
class NameFields:
    """The values a name template can use. `fmt` is the image's real format; {ext} follows it."""

    when: datetime
    model: str
    seed: int
    prompt: str
    index: int = 1
    n: int = 1
    fmt: str = "png"
    generation_id: str = ""

    def values(self) -> dict[str, object]:
        return {
            "date": self.when.strftime("%Y-%m-%d"),
            "time": self.when.strftime("%H%M%S"),
            "model": self.model.rstrip("/").rsplit("/", 1)[-1] or "model",
            "seed": self.seed,
            "slug": slugify(self.prompt),
            "index": self.index,
            "n": self.n,
            "ext": EXTENSIONS.get(self.fmt, self.fmt),
            "id": self.generation_id or "unknown",
        }


SAMPLE_FIELDS = NameFields(
    when=datetime(2000, 1, 1), model="flux.2-pro", seed=1, prompt="sample", generation_id="gen-1"
)


def _template_error(template: str, problem: str) -> UsageError:
    valid = " ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
    return UsageError(
        f"bad output name template {template!r}: {problem}",
        hint=f"valid fields: {valid}; write {{{{ and }}}} for literal braces",
    )


def _check_template(template: str) -> None:
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise _template_error(template, str(exc)) from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            problem = "empty field {}" if not field else f"unknown field {{{field}}}"
            raise _template_error(template, problem)
        if conversion or (spec and ("{" in spec or "}" in spec)):
            raise _template_error(template, f"field {{{field}}} has an unsupported conversion")


def render_name(template: str, fields: NameFields) -> str:
    """Fill in `template` and sanitise the result into one safe file name.

    Fields may carry a format spec (`{index:03}`, `{slug:.20}`). An unknown field, bad braces or
    a spec that does not fit its field is a UsageError naming the problem and the valid fields.
    The extension is not adjusted here; `OutputPlan.name_for` does that."""
    _check_template(template)
    try:
        rendered = template.format_map(fields.values())
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise _template_error(template, str(exc)) from None
    return sanitize_component(rendered)
