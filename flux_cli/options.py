"""The options of one `generate` or `edit` run, and how they are merged and checked.

Precedence, highest first: a flag given on the command line, then (for `--from FILE`) the
recipe the image carries, then the environment and the config file (`flux_cli.config`), then
the built-in default. Everything here is checked before anything costs money.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli.choices import (
    DEFAULT_NAME_TEMPLATE,
    FORMAT_ALIASES,
    MAX_CONCURRENCY,
    METADATA_LEVELS,
    MIN_CONCURRENCY,
    ROUTES,
)
from flux_cli.errors import BudgetError, UsageError
from flux_cli.pricing import format_usd, usd_to_micros

if TYPE_CHECKING:
    from flux_cli.config import Settings
    from flux_cli.output import OutputPlan


@dataclass(frozen=True)
class GenerateOptions:
    prompt: str | None
    prompt_file: Path | None
    model: str
    aspect_ratio: str | None
    size: str | None
    seed: int | None
    image_format: str | None
    count: int
    output: str | None
    force: bool
    max_cost: str | None
    dry_run: bool
    json_lines: bool
    quiet: bool
    route: str  # --api: images or chat
    timeout: float
    retries: int
    retry_ambiguous: bool
    sandbox: bool
    command: str = "generate"
    metadata: str = "full"
    images: tuple[str, ...] = ()
    inline_urls: bool = False
    max_input_mp: float | None = None
    preview: bool = False
    resolution: str | None = None
    steps: int | None = None
    guidance: float | None = None
    safety_tolerance: int | None = None
    prompt_upsampling: bool | None = None
    accept_unknown_price: bool = False
    recipe_seed: bool = False  # the seed came from a --from recipe, not a flag

    @classmethod
    def from_params(cls, command: str, params: dict[str, Any]) -> GenerateOptions:
        """The options of a run from its parsed parameters (by name; others are left out)."""
        from dataclasses import fields

        names = {f.name for f in fields(cls)}
        values = {name: value for name, value in params.items() if name in names}
        values["images"] = tuple(values.get("images") or ())
        return cls(command=command, **values)


def model_options(opts: GenerateOptions) -> list[tuple[str, object]]:
    """The provider options the flags ask for, by their API names (docs/openrouter-flux2.md)."""
    given: list[tuple[str, object]] = []
    for name, value in (
        ("steps", opts.steps),
        ("guidance", opts.guidance),
        ("safety_tolerance", opts.safety_tolerance),
        ("prompt_upsampling", opts.prompt_upsampling),
    ):
        if value is not None:
            given.append((name, value))
    return given


def check_choices(opts: GenerateOptions) -> None:
    """The options that take one of a closed list of values."""
    if opts.metadata not in METADATA_LEVELS:
        raise UsageError(f"--metadata must be full, minimal or none, got {opts.metadata!r}")
    check_route(opts.route)


def check_route(route: str) -> None:
    if route not in ROUTES:
        raise UsageError(f"--api must be images or chat, got {route!r}")


def apply_settings(
    opts: GenerateOptions, concurrency: int, explicit: frozenset[str], settings: Settings
) -> tuple[GenerateOptions, int]:
    """Config defaults (env > file > built-in) for every option not given on the command line."""
    from flux_cli.images import format_from_extension

    changes: dict[str, Any] = {}
    for option, value in (
        ("model", settings.model),
        ("aspect_ratio", settings.aspect_ratio),
        ("image_format", settings.image_format),
        ("route", settings.route),
        ("metadata", settings.metadata),
    ):
        if option not in explicit and value is not None:
            changes[option] = value
    if "size" in explicit and "aspect_ratio" not in explicit:
        changes.pop("aspect_ratio", None)  # an explicit --size wins over a configured ratio
    if "output" in explicit and opts.output and format_from_extension(opts.output):
        changes.pop("image_format", None)  # so does the extension of an explicit -o name
    if "output" not in explicit and (
        settings.output_dir is not None or settings.output_template != DEFAULT_NAME_TEMPLATE
    ):
        directory = str(settings.output_dir) if settings.output_dir is not None else "."
        changes["output"] = f"{directory.rstrip('/')}/{settings.output_template}"
    if "concurrency" not in explicit:
        concurrency = settings.concurrency
    return replace(opts, **changes), concurrency


#: Recipe fields that repeat a request exactly (docs/openrouter-flux2.md#provider-options).
_RECIPE_OPTIONS = ("resolution", "steps", "guidance", "safety_tolerance", "prompt_upsampling")


def apply_recipe(
    opts: GenerateOptions, source: Path, explicit: frozenset[str], notes: list[str] | None = None
) -> GenerateOptions:
    """`--from FILE`: the recipe's settings wherever no flag was given. What the recipe cannot
    give back (its reference images) is said in `notes`."""
    from flux_cli.metadata import load_recipe, recipe_to_options

    loaded = load_recipe(source)
    references = loaded.reference_count or 0
    if references and not opts.images and notes is not None:
        images = "image" if references == 1 else "images"
        again = "give them again with -i" if opts.command == "edit" else "flux2 edit --from … -i"
        notes.append(
            f"{source} was made from {references} reference {images}, which a recipe does not "
            f"keep: this makes a new image from its prompt alone ({again} to use them)"
        )
    recipe = recipe_to_options(loaded)
    changes: dict[str, Any] = {}
    if "prompt" in recipe and opts.prompt is None and opts.prompt_file is None:
        changes["prompt"] = recipe["prompt"]
    for name in ("model", "seed", "route", "image_format", *_RECIPE_OPTIONS):
        if name in recipe and name not in explicit:
            changes[name] = recipe[name]
    if "seed" in changes:
        changes["recipe_seed"] = True
    if changes.get("image_format") == "jpeg":
        del changes["image_format"]  # FLUX.2's own default: asking for it changes nothing
    if not {"size", "aspect_ratio"} & explicit:
        if "size" in recipe:
            changes["size"] = recipe["size"]
        elif "aspect_ratio" in recipe:
            changes["aspect_ratio"] = recipe["aspect_ratio"]
    return replace(opts, **changes)


def parse_money(text: str, flag: str) -> int:
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise UsageError(f"{flag} must be an amount in USD such as 0.50, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{flag} must be a positive amount in USD, got {text!r}")
    return usd_to_micros(value)


def max_cost_micros(opts: GenerateOptions) -> int | None:
    return parse_money(opts.max_cost, "--max-cost") if opts.max_cost is not None else None


def check_max_cost(total: int, max_cost: int | None) -> None:
    if max_cost is not None and total > max_cost:
        raise BudgetError(
            f"the estimate {format_usd(total)} is over --max-cost {format_usd(max_cost)}; nothing was sent",
            hint="raise --max-cost, or lower -n, the size or the model",
        )


def target_format(image_format: str | None, output: OutputPlan) -> str | None:
    """The format the written file must have: `--format`, or the output name's extension."""
    asked = None
    if image_format is not None:
        asked = FORMAT_ALIASES.get(image_format.strip().lower())
        if asked is None:
            raise UsageError(f"--format must be png, jpeg or webp, got {image_format!r}")
    implied = output.requested_format
    if asked and implied and asked != implied:
        raise UsageError(
            f"--format {asked} contradicts the output name's extension ({implied})",
            hint="drop one of them, or give the file a matching extension",
        )
    return asked or implied


def run_options(
    opts: GenerateOptions,
    concurrency: int,
    explicit: frozenset[str],
    settings: Settings,
    *,
    batch: str | None,
    from_file: Path | None,
    resume: tuple[bool, bool] = (False, False),
    warn: Callable[[str], None],
) -> tuple[GenerateOptions, int]:
    """generate and edit's options, merged (flags, `--from`, the config file) and checked in
    the order people meet them; the notes of `--from` go to `warn` as soon as it is read.
    `resume`: --resume and --resend-unknown."""
    opts, concurrency = apply_settings(opts, concurrency, explicit, settings)
    check_choices(opts)
    if from_file is not None:
        if batch is not None:
            raise UsageError("--from and --batch do not combine")
        notes: list[str] = []
        opts = apply_recipe(opts, from_file, explicit, notes)
        for note in notes:
            warn(note)
    if resume[0] and batch is None:
        raise UsageError("--resume goes with --batch FILE")
    if resume[1] and not resume[0]:
        raise UsageError("--resend-unknown goes with --resume")
    if opts.command == "edit" and not opts.images and batch is None:
        raise UsageError(
            "edit needs at least one reference image",
            hint='give it with -i: flux2 edit "make it night" -i photo.jpg',
        )
    return opts, concurrency


def check_stdout_output(opts: GenerateOptions, *, stdout_is_tty: bool) -> list[str]:
    """`-o -`: refused at a terminal and with --json; what to warn about (--preview)."""
    if stdout_is_tty:
        raise UsageError(
            "refusing to write image bytes to a terminal",
            hint="redirect stdout (flux2 generate … -o - > fox.jpg) or give a file name with -o",
        )
    if opts.json_lines:
        raise UsageError("--json and -o - both write to stdout; choose one")
    if opts.preview:
        return ["--preview is ignored with -o -; flux2 inspect FILE --preview draws a saved image"]
    return []


def image_from_stdin(opts: GenerateOptions, *, stdin_is_tty: bool) -> bool:
    """Whether a reference image comes from stdin (`-i -`), which then cannot carry the prompt
    and must not be a terminal."""
    if "-" not in opts.images:
        return False
    if stdin_is_tty:
        raise UsageError(
            "refusing to read image bytes from a terminal (-i -)",
            hint="pipe the image in (flux2 edit … -i - < photo.jpg) or give its file name with -i",
        )
    if opts.prompt_file is None and opts.prompt in (None, "-"):
        raise UsageError(
            "stdin carries the image (-i -), so the prompt cannot come from stdin",
            hint='give the prompt as an argument: flux2 edit "make it night" -i -',
        )
    return True


def check_batch_options(opts: GenerateOptions, concurrency: int) -> list[str]:
    """What `--batch` refuses to combine with; what to warn about (--preview)."""
    if not MIN_CONCURRENCY <= concurrency <= MAX_CONCURRENCY:
        raise UsageError(
            f"--concurrency must be between {MIN_CONCURRENCY} and {MAX_CONCURRENCY}, got {concurrency}"
        )
    if opts.prompt is not None or opts.prompt_file is not None:
        raise UsageError("--batch takes its prompts from the batch file; give no prompt argument")
    if opts.count != 1:
        raise UsageError("-n does not combine with --batch; repeat the line instead")
    if opts.output == "-":
        raise UsageError("a batch cannot write images to stdout (-o -)")
    if opts.preview:
        return ["--preview is ignored with --batch; flux2 inspect FILE --preview draws one image"]
    return []
