"""What an image made by flux2 carries (`flux2 inspect`): its recipe (embedded, or in an XMP
sidecar next to an image with content credentials) and its C2PA content credentials.

The file is checked as strictly as any input image first. The result is one JSON record, or
the facts of the table as plain text, each marked when its value came from the file (so the
command line shows it without markup or control characters). Checking the credentials needs
the optional c2pa-python (`flux2-cli[c2pa]`), imported only then through `flux_cli.provenance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_cli.images import ImageInfo
    from flux_cli.metadata import Found, Recipe
    from flux_cli.provenance import Credentials

FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


@dataclass(frozen=True)
class Inspection:
    """An image file read and checked: its image, its recipe, its credentials, and notes for
    the person who asked (about a sidecar not used, or no flux2 metadata at all)."""

    path: Path
    image_bytes: bytes
    info: ImageInfo
    found: Found
    credentials: Credentials
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Fact:
    """One row of the table. `untrusted`: the value came from the file. `shortened`: the value
    is a prompt that was cut to fit in the file."""

    what: str
    value: str
    untrusted: bool = False
    shortened: bool = False


def inspect_file(path: Path) -> Inspection:
    """Read `path` and what it carries; UsageError when it is not a usable image or its flux2
    metadata cannot be read."""
    from flux_cli.errors import UsageError
    from flux_cli.images import InvalidImage, normalise_image
    from flux_cli.metadata import MetadataError, read_input, recipe_of
    from flux_cli.provenance import read_credentials

    data = read_input(path)
    try:
        image_bytes, info = normalise_image(data)
    except InvalidImage as exc:
        raise UsageError(f"{path} is not a usable image: {exc.reason}") from None
    try:
        found = recipe_of(path, data, image_bytes)
    except MetadataError as exc:
        raise UsageError(f"the flux2 metadata in {path} cannot be read: {exc}") from None
    notes = list(found.notes)
    if found.recipe is None:
        notes.append(
            f"{path} carries no flux2 metadata: not made by flux2, made with --metadata none, "
            "or stripped since"
        )
    credentials = read_credentials(image_bytes, info.format)
    return Inspection(path, image_bytes, info, found, credentials, tuple(notes))


def inspection_record(inspection: Inspection) -> dict[str, Any]:
    """The `--json` object: path, format, size, recipe, sidecar, credentials and money."""
    from flux_cli.records import micros_from_text, money

    recipe = inspection.found.recipe
    sidecar = inspection.found.sidecar
    return {
        "path": str(inspection.path),
        "format": inspection.info.format,
        "width": inspection.info.width,
        "height": inspection.info.height,
        "recipe": recipe.to_dict() if recipe is not None else None,
        "sidecar": str(sidecar) if sidecar is not None else None,
        "content_credentials": inspection.credentials.to_dict(),
        # The recipe keeps money as exact decimal text; beside it, the shared vocabulary.
        **money("charged", micros_from_text(recipe.cost_usd if recipe else None)),
        **money("estimate", micros_from_text(recipe.estimate_usd if recipe else None)),
    }


def facts(inspection: Inspection) -> list[Fact]:
    """The rows of the table, in order: the file, the image, the credentials, the recipe."""
    info = inspection.info
    rows = [
        Fact("file", str(inspection.path), untrusted=True),
        Fact("image", f"{FORMAT_NAMES[info.format]}, {info.width}×{info.height}"),
        Fact("credentials", credentials_line(inspection.credentials), untrusted=True),
    ]
    recipe = inspection.found.recipe
    if recipe is None:
        return [*rows, Fact("recipe", "none")]
    if inspection.found.sidecar is not None:
        rows.append(Fact("recipe from", f"{inspection.found.sidecar} (sidecar)", untrusted=True))
    if recipe.prompt is not None:
        rows.append(
            Fact("prompt", recipe.prompt, untrusted=True, shortened=recipe.prompt_truncated)
        )
    rows.append(Fact("model", recipe.model, untrusted=True))
    rows.append(Fact("seed", str(recipe.seed)))
    asked = asked_for(recipe)
    if asked:
        rows.append(Fact("asked for", asked))
    if recipe.route is not None:
        rows.append(Fact("route", recipe.route))
    if recipe.cost_usd is not None or recipe.estimate_usd is not None:
        rows.append(Fact("cost", cost_line(recipe)))
    if recipe.generation_id is not None:
        rows.append(Fact("generation id", recipe.generation_id, untrusted=True))
    if recipe.provider is not None:
        rows.append(Fact("provider", recipe.provider, untrusted=True))
    if recipe.reference_count:
        rows.append(Fact("references", f"{recipe.reference_count} (the images are not embedded)"))
    if recipe.created is not None:
        rows.append(Fact("created", recipe.created))
    version = f"flux2 {recipe.tool_version}" if recipe.tool_version else "flux2"
    detail = "" if recipe.level == "full" else " (model, seed and tool version only)"
    rows.append(Fact("made by", f"{version}, metadata {recipe.level}{detail}", untrusted=True))
    return rows


def asked_for(recipe: Recipe) -> str | None:
    """The size the recipe asked for: `--size WxH`, or an aspect ratio."""
    if recipe.size is not None:
        return f"--size {recipe.size}"
    if recipe.aspect_ratio is not None:
        return f"aspect ratio {recipe.aspect_ratio}"
    return None


def cost_line(recipe: Recipe) -> str:
    """`$0.030 charged, $0.030 estimated`, from the recipe's exact decimal text."""
    from decimal import Decimal

    from flux_cli.pricing import format_usd, usd_to_micros

    def usd(value: str) -> str:
        return format_usd(usd_to_micros(Decimal(value)))

    parts = []
    if recipe.cost_usd is not None:
        parts.append(f"{usd(recipe.cost_usd)} charged")
    if recipe.estimate_usd is not None:
        parts.append(f"{usd(recipe.estimate_usd)} estimated")
    return ", ".join(parts)


def credentials_line(found: Credentials) -> str:
    """One line on the content credentials: where, whether they validate, who, what."""
    if not found.present:
        return "none"
    if not found.checked:
        return f"present ({found.where}); {found.note}"
    if found.valid:
        verdict = "valid"
    elif found.problems:
        verdict = f"INVALID ({', '.join(found.problems)})"
    else:
        verdict = f"not valid ({found.state or 'unknown state'})"
    parts = [f"{verdict}, in the {found.where}"]
    if found.signer:
        parts.append(f"signed by {found.signer}")
    if found.claim_generator:
        parts.append(f"made with {found.claim_generator}")
    if found.digital_source_type:
        parts.append(f"source: {found.digital_source_type.rsplit('/', 1)[-1]}")
    if found.note:
        parts.append(found.note)
    return "; ".join(parts)
