"""The XMP packet flux2 writes, in an image or in a sidecar file, and reading its recipe back.

One packet speaks the standard vocabulary that photo tools, platforms and exiftool read, and
carries flux2's own recipe (docs/image-metadata.md has the sources):

- `Iptc4xmpExt:DigitalSourceType` = the IPTC code for media made by a trained algorithm;
- `xmp:CreatorTool` = "flux2 VERSION";
- `dc:description` = the prompt (only in a full recipe);
- `flux2:recipe` = the recipe JSON, XML-escaped (namespace `XMP_NAMESPACE`);
- in a sidecar only, `flux2:imageSha256`: the sha256 of the image file it belongs to.

Reading is deliberately narrow (no XML parser, no entities beyond the five predefined ones and
character references): only flux2's `recipe` and `imageSha256` are looked for, in a packet that
declares flux2's namespace. Everything read is untrusted; failures are `MetadataError`.
"""

from __future__ import annotations

import re

from flux_cli.recipe import MAX_RECIPE_CHARS, MetadataError, Recipe

__all__ = [
    "DIGITAL_SOURCE_TYPE",
    "XMP_NAMESPACE",
    "is_ours",
    "packet",
    "recipe_in_packet",
    "sidecar_sha256",
]

XMP_NAMESPACE = "https://pypi.org/project/flux2-cli/ns/recipe/1.0/"
#: IPTC NewsCodes, digital source type: "created by software using a model trained on sampled
#: content" (docs/image-metadata.md).
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MAX_PACKET_BYTES = 4 * MAX_RECIPE_CHARS

_NAMESPACES = (
    ('xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'),
    ('xmlns:xmp="http://ns.adobe.com/xap/1.0/"'),
    ('xmlns:dc="http://purl.org/dc/elements/1.1/"'),
    ('xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'),
    (f'xmlns:flux2="{XMP_NAMESPACE}"'),
)
_XML_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# What XML 1.0 cannot carry at all: C0 controls but tab, LF and CR; lone surrogates; U+FFFE/FFFF.
_NOT_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ENTITY = re.compile(r"&(?:#x([0-9A-Fa-f]{1,6})|#([0-9]{1,7})|(amp|lt|gt|quot|apos));")
_NAMED = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _escape(text: str) -> str:
    return re.sub(r"[&<>]", lambda m: _XML_ESCAPES[m.group()], _NOT_XML.sub("", text))


def packet(recipe: Recipe, *, image_sha256: str | None = None) -> bytes:
    """The UTF-8 XMP packet for `recipe` (and, for a sidecar, the image it describes)."""
    tool = f"flux2 {recipe.tool_version}" if recipe.tool_version else "flux2"
    properties = [
        f"<Iptc4xmpExt:DigitalSourceType>{DIGITAL_SOURCE_TYPE}</Iptc4xmpExt:DigitalSourceType>",
        f"<xmp:CreatorTool>{_escape(tool)}</xmp:CreatorTool>",
    ]
    if recipe.prompt is not None:
        properties.append(
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{_escape(recipe.prompt)}</rdf:li></rdf:Alt></dc:description>"
        )
    if image_sha256 is not None:
        properties.append(f"<flux2:imageSha256>{image_sha256}</flux2:imageSha256>")
    # recipe.to_json() escapes every character XML cannot carry (see recipe.json_text)
    properties.append(f"<flux2:recipe>{_escape(recipe.to_json())}</flux2:recipe>")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f"<rdf:RDF {_NAMESPACES[0]}>\n"
        f'<rdf:Description rdf:about="" {" ".join(_NAMESPACES[1:])}>\n'
        + "\n".join(properties)
        + "\n</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def is_ours(data: bytes) -> bool:
    """Whether an XMP packet uses flux2's namespace (so is flux2's to replace)."""
    return XMP_NAMESPACE.encode("ascii") in data


def _text(data: bytes) -> tuple[str, str]:
    """The packet as text and the prefix it declares for flux2's namespace."""
    if len(data) > MAX_PACKET_BYTES:
        raise MetadataError("the flux2 XMP packet is too large")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError("the flux2 XMP packet is not UTF-8") from None
    namespace = re.escape(XMP_NAMESPACE)
    declared = re.search(rf"xmlns:([A-Za-z_][\w.-]{{0,63}})\s*=\s*([\"']){namespace}\2", text)
    if declared is None:
        raise MetadataError("the flux2 XMP packet does not declare its namespace")
    return text, re.escape(declared.group(1))


def _property(text: str, prefix: str, name: str) -> str | None:
    element = re.search(rf"<{prefix}:{name}\s*>([^<]*)</{prefix}:{name}\s*>", text)
    if element is not None:
        return _xml_unescape(element.group(1))
    attribute = re.search(rf"\s{prefix}:{name}\s*=\s*(?:\"([^\"<]*)\"|'([^'<]*)')", text)
    if attribute is not None:
        value = attribute.group(1) if attribute.group(1) is not None else attribute.group(2)
        return _xml_unescape(value)
    return None


def recipe_in_packet(data: bytes) -> str | None:
    """The recipe JSON in an XMP packet that uses flux2's namespace; None for other packets."""
    if not is_ours(data):
        return None
    text, prefix = _text(data)
    found = _property(text, prefix, "recipe")
    if found is None:
        raise MetadataError("the flux2 XMP packet carries no recipe")
    return found


def sidecar_sha256(data: bytes) -> str | None:
    """The `flux2:imageSha256` of a sidecar packet, None when it has none."""
    if not is_ours(data):
        return None
    text, prefix = _text(data)
    found = _property(text, prefix, "imageSha256")
    if found is None:
        return None
    if not _SHA256.fullmatch(found):
        raise MetadataError("the sidecar's image sha256 is not 64 hex digits")
    return found


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
