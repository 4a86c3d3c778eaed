"""`flux2 inspect FILE`: what an image made by flux2 carries: its recipe (embedded, or in an XMP
sidecar next to an image with content credentials) and its C2PA content credentials.

The file is checked as strictly as any input image first. Its format, size, recipe and
credentials are the command's result, so they go to stdout; "no flux2 metadata" is a note on
stderr, and still exit 0. Checking the credentials needs the optional c2pa-python
(`flux2-cli[c2pa]`), imported only here through `flux_cli.provenance`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_cli.cli.flags import PreviewProtocolOption

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.images import ImageInfo
    from flux_cli.metadata import Found, Recipe
    from flux_cli.provenance import Credentials

_FORMAT_NAMES = {"png": "PNG", "jpeg": "JPEG", "webp": "WebP"}


def inspect_command(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="A PNG, JPEG or WebP image.", show_default=False),
    ],
    json_output: Annotated[
        bool,
        typer.Option(
            "--json",
            help="One JSON object on stdout: path, format, width, height, recipe (null when "
            "the image carries none), sidecar and content_credentials.",
        ),
    ] = False,
    preview: Annotated[
        bool,
        typer.Option(
            "--preview",
            help="Also draw the image in the terminal (on stderr, only when it is a terminal).",
        ),
    ] = False,
    preview_protocol: PreviewProtocolOption = None,
) -> None:
    """Show what an image carries: flux2's recipe and its content credentials (C2PA).

    The recipe: prompt, model, seed, size, cost and generation id.

    Reads the recipe flux2 embeds in every image it writes (see --metadata), or the XMP sidecar
    next to an image whose content credentials it kept, e.g.
    flux2 inspect fox.png --json
    """
    preview = preview or preview_protocol is not None
    run_inspect(ctx.obj, file, json_output=json_output, preview=preview)


def run_inspect(app: App, path: Path, *, json_output: bool, preview: bool = False) -> None:
    from flux_cli.errors import UsageError
    from flux_cli.images import InvalidImage, normalise_image
    from flux_cli.metadata import MetadataError, json_text, read_input, recipe_of
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
    for note in found.notes:
        app.info(note)
    if found.recipe is None:
        app.info(
            f"{path} carries no flux2 metadata: not made by flux2, made with --metadata none, "
            "or stripped since"
        )
    credentials = read_credentials(image_bytes, info.format)
    if json_output:
        from flux_cli.records import micros_from_text, money

        record = {
            "path": str(path),
            "format": info.format,
            "width": info.width,
            "height": info.height,
            "recipe": found.recipe.to_dict() if found.recipe is not None else None,
            "sidecar": str(found.sidecar) if found.sidecar is not None else None,
            "content_credentials": credentials.to_dict(),
            # The recipe keeps money as exact decimal text; beside it, the shared vocabulary.
            **money("charged", micros_from_text(found.recipe.cost_usd if found.recipe else None)),
            **money(
                "estimate", micros_from_text(found.recipe.estimate_usd if found.recipe else None)
            ),
        }
        app.display(json_text(record))
    else:
        app.out.print(_table(app, path, info, found, credentials))
    if preview:
        from flux_cli.cli.preview import show_preview

        show_preview(app, image_bytes)


def _table(app: App, path: Path, info: ImageInfo, found: Found, credentials: Credentials) -> Any:
    from rich.text import Text

    from flux_cli.cli.render import styled_table
    from flux_cli.textsafe import strip_control

    def text(value: str) -> Text:
        # Untrusted: no markup, no control characters, nothing a terminal cannot encode.
        return Text(strip_control(value).encode("utf-8", "replace").decode("utf-8"))

    table = styled_table(app.out, "")
    table.show_header = False
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("file", text(str(path)))
    table.add_row("image", f"{_FORMAT_NAMES[info.format]}, {info.width}×{info.height}")
    table.add_row("credentials", text(_credentials(credentials)))
    recipe = found.recipe
    if recipe is None:
        table.add_row("recipe", "none")
        return table
    if found.sidecar is not None:
        table.add_row("recipe from", text(f"{found.sidecar} (sidecar)"))
    if recipe.prompt is not None:
        prompt = text(recipe.prompt)
        if recipe.prompt_truncated:
            prompt.append(" … (shortened to fit in the file)", style="dim")
        table.add_row("prompt", prompt)
    table.add_row("model", text(recipe.model))
    table.add_row("seed", str(recipe.seed))
    asked = _asked_for(recipe)
    if asked:
        table.add_row("asked for", asked)
    if recipe.route is not None:
        table.add_row("route", recipe.route)
    if recipe.cost_usd is not None or recipe.estimate_usd is not None:
        table.add_row("cost", _cost(recipe))
    if recipe.generation_id is not None:
        table.add_row("generation id", text(recipe.generation_id))
    if recipe.provider is not None:
        table.add_row("provider", text(recipe.provider))
    if recipe.reference_count:
        table.add_row("references", f"{recipe.reference_count} (the images are not embedded)")
    if recipe.created is not None:
        table.add_row("created", recipe.created)
    version = f"flux2 {recipe.tool_version}" if recipe.tool_version else "flux2"
    detail = "" if recipe.level == "full" else " (model, seed and tool version only)"
    table.add_row("made by", text(f"{version}, metadata {recipe.level}{detail}"))
    return table


def _asked_for(recipe: Recipe) -> str | None:
    if recipe.size is not None:
        return f"--size {recipe.size}"
    if recipe.aspect_ratio is not None:
        return f"aspect ratio {recipe.aspect_ratio}"
    return None


def _cost(recipe: Recipe) -> str:
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


def _credentials(found: Credentials) -> str:
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
