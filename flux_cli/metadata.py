"""Where an image's recipe goes, and reading it back: into the file itself (`flux_cli.embedding`),
or, when the file carries C2PA content credentials, into an XMP sidecar next to it.

A file with content credentials is never changed: any added byte breaks the manifest's data hash
(docs/image-metadata.md). `for_saving` is the one entry point for writing an answer: it embeds,
or leaves the bytes alone and returns an XMP sidecar (`fox.xmp` next to `fox.jpg`) holding the
packet of `flux_cli.xmp` plus the sha256 of the image it belongs to. `recipe_of` reads an
embedded recipe or, failing that, a sidecar whose sha256 matches; `load_recipe` is `--from`.

The recipe itself (`Recipe`, its JSON and checks) is `flux_cli.recipe`; its names are importable
from here too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from flux_cli import xmp
from flux_cli.embedding import MAX_JPEG_SEGMENT_PAYLOAD, XMP_HEADER, embed, extract
from flux_cli.errors import UsageError
from flux_cli.images import sniff_format
from flux_cli.provenance import find_credentials
from flux_cli.recipe import (
    FORMAT_VERSION,
    LEVELS,
    MAX_RECIPE_CHARS,
    MetadataError,
    Recipe,
    apply_level,
    json_text,
    recipe_for,
    recipe_from_json_line,
    recipe_to_options,
    usd_text,
)
from flux_cli.xmp import XMP_NAMESPACE

__all__ = [
    "FORMAT_VERSION",
    "LEVELS",
    "MAX_JPEG_SEGMENT_PAYLOAD",
    "MAX_RECIPE_CHARS",
    "XMP_HEADER",
    "XMP_NAMESPACE",
    "Found",
    "MetadataError",
    "Recipe",
    "ToWrite",
    "apply_level",
    "embed",
    "extract",
    "for_saving",
    "json_text",
    "load_recipe",
    "read_input",
    "recipe_for",
    "recipe_from_json_line",
    "recipe_of",
    "recipe_to_options",
    "sidecar_candidates",
    "usd_text",
    "write_sidecar",
]

MAX_FILE_BYTES = 256 * 1024 * 1024
SIDECAR_SUFFIX = ".xmp"


# --- saving an answer: embed, or keep the credentials and write a sidecar -------------------------


@dataclass(frozen=True)
class ToWrite:
    """What to write for one answer. `data` is the image file; `sidecar`, when not None, is an
    XMP packet to write next to it (`write_sidecar`). `credentials` is "kept" (the file carries
    the content credentials it came with, untouched), "dropped" (a local conversion removed
    them) or None (none came). `warnings` are for the user."""

    data: bytes
    sidecar: bytes | None = None
    credentials: str | None = None
    warnings: tuple[str, ...] = ()


def for_saving(
    data: bytes,
    fmt: str,
    recipe: Recipe | None,
    *,
    converted_from: tuple[bytes, str] | None = None,
) -> ToWrite:
    """The bytes to write for an answer `data` of format `fmt`, with `recipe` (None: level
    none) embedded where that breaks nothing. `converted_from` is (the answer's own bytes, their
    format) when `data` is a local conversion of them.

    - credentials in `data`: written byte for byte; the recipe goes in a sidecar;
    - credentials in the answer, dropped by the conversion: said in `credentials` and a warning;
    - a recipe that cannot be embedded: the image as it is, and a warning; never an error."""
    warnings: list[str] = []
    credentials: str | None = None
    if converted_from is not None:
        original, original_fmt = converted_from
        if find_credentials(original, original_fmt) is not None:
            credentials = "dropped"
            warnings.append(
                f"converting the image from {original_fmt} to {fmt} dropped the content "
                "credentials (C2PA) it came with; leave out --format to keep them"
            )
    elif find_credentials(data, fmt) is not None:
        if recipe is None:
            return ToWrite(data, credentials="kept")
        sha256 = hashlib.sha256(data).hexdigest()
        return ToWrite(data, xmp.packet(recipe, image_sha256=sha256), credentials="kept")
    try:
        data = embed(data, fmt, recipe)
    except MetadataError as exc:
        warnings.append(f"the image is written without its recipe ({exc})")
    return ToWrite(data, credentials=credentials, warnings=tuple(warnings))


def sidecar_candidates(image: Path) -> tuple[Path, Path]:
    """Where an image's sidecar is: `fox.xmp` (the name Adobe's tools, exiftool and most photo
    managers use), or `fox.jpg.xmp` (darktable's, and flux2's when `fox.xmp` is taken)."""
    return image.with_suffix(SIDECAR_SUFFIX), image.with_name(image.name + SIDECAR_SUFFIX)


def write_sidecar(image: Path, packet: bytes, *, force: bool) -> tuple[Path | None, str | None]:
    """Write `packet` next to `image` (see `sidecar_candidates`), atomically; never over an
    existing file unless `force` (then over `fox.xmp`). (the path written, None) or (None, a
    warning): the image is already written, so a sidecar that cannot be is not an error."""
    from flux_cli import atomic_write
    from flux_cli.errors import OutputError

    primary, fallback = sidecar_candidates(image)
    choice = primary if force or not primary.exists() else fallback
    if not force and choice.exists():
        return None, f"the recipe was not written: {primary.name} and {fallback.name} exist"
    try:
        written = atomic_write.write_atomic(choice.parent, choice.name, packet, force=force)
    except OutputError as exc:
        return None, f"the recipe was not written ({exc.message})"
    if written != choice:  # taken by another writer in between: a name nobody would look for
        written.unlink(missing_ok=True)
        return None, f"the recipe was not written: {choice.name} was taken"
    return written, None


# --- reading back: inspect and --from ---------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A recipe read from an image or its sidecar. `sidecar` is the sidecar's path when it came
    from one; `notes` are for the user (a sidecar that was there but not used, and why)."""

    recipe: Recipe | None
    sidecar: Path | None = None
    notes: tuple[str, ...] = ()


def recipe_of(path: Path, data: bytes, image_bytes: bytes) -> Found:
    """The recipe of the image file `path` (`data` its whole contents, `image_bytes` the image as
    `normalise_image` returned it): embedded, or else from a sidecar next to it that names this
    image's sha256 (or names none). MetadataError for an embedded or sidecar recipe that is
    there but unusable."""
    recipe = extract(image_bytes)
    if recipe is not None:
        return Found(recipe)
    notes: list[str] = []
    sha256 = hashlib.sha256(data).hexdigest()
    for candidate in dict.fromkeys(sidecar_candidates(path)):
        try:
            with candidate.open("rb") as handle:
                packet = handle.read(xmp.MAX_PACKET_BYTES + 1)
        except OSError:
            continue
        if not xmp.is_ours(packet):
            continue
        try:
            owner = xmp.sidecar_sha256(packet)
            if owner is not None and owner != sha256:
                notes.append(f"{candidate.name} describes another image (its sha256 differs)")
                continue
            text = xmp.recipe_in_packet(packet)
            if text is None:
                continue
            return Found(Recipe.from_json(text), candidate, tuple(notes))
        except MetadataError as exc:
            raise MetadataError(f"{candidate.name}: {exc}") from None
    return Found(None, notes=tuple(notes))


def load_recipe(source: Path) -> Recipe:
    """The recipe for `generate --from FILE`: embedded in an image flux2 made (or in its
    sidecar), or one JSON line as printed by `flux2 generate --json` (or the object `flux2
    inspect --json` prints). UsageError, naming the file, for anything else."""
    data = read_input(source)
    if sniff_format(data) is not None:
        from flux_cli.images import InvalidImage, normalise_image

        try:
            image_bytes, _ = normalise_image(data)
        except InvalidImage as exc:
            raise UsageError(f"{source} is not a usable image: {exc.reason}") from None
        try:
            recipe = recipe_of(source, data, image_bytes).recipe
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
    except FileNotFoundError:  # worded as for -i (inputs.read_file)
        raise UsageError(f"cannot read {path}: no such file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot read {path}: {reason}") from None
    if len(data) > limit:
        raise UsageError(f"{path} is over {limit // (1024 * 1024)} MiB; is it really an image?")
    return data
