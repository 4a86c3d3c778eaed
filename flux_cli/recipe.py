"""The recipe of an image made by flux2: what made it, enough to make it again (`--from`) and to
account for it, as versioned JSON (`"flux2": 1`; see `Recipe.to_dict`).

Where it is stored in or next to an image is `flux_cli.metadata`'s job. Everything read back is
untrusted: `Recipe.from_json`, `Recipe.from_dict` and `recipe_from_json_line` check types, ranges
and sizes, ignore unknown keys, and raise nothing but `MetadataError`. Reference images are not
part of a recipe, only how many there were.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from flux_cli import __version__
from flux_cli.choices import FORMATS, METADATA_LEVELS
from flux_cli.generation import MAX_PROMPT_CHARS, MAX_SEED
from flux_cli.images import MAX_SIDE

if TYPE_CHECKING:
    from flux_cli.generation import Plan

__all__ = [
    "FORMAT_VERSION",
    "LEVELS",
    "MAX_RECIPE_CHARS",
    "MetadataError",
    "Recipe",
    "apply_level",
    "json_text",
    "loads",
    "recipe_for",
    "recipe_from_json_line",
    "recipe_to_options",
    "usd_text",
]

FORMAT_VERSION = 1
TOOL = "flux2"
LEVELS = METADATA_LEVELS
Level = Literal["full", "minimal"]

#: Bounds on what is read back from a file, before any parsing.
MAX_RECIPE_CHARS = 512 * 1024
MAX_REFERENCES = 64
_SHORT = 64  # tool version, aspect ratio, size, route
_LONG = 256  # model id, generation id, provider


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
            from flux_cli.embedded_catalog import MODEL_OPTIONS

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
        return cls.from_dict(loads(text))

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


def loads(text: str) -> object:
    """Parse untrusted JSON: no duplicate keys, no NaN or Infinity; MetadataError otherwise."""
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
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Recipe | None:
    """The recipe of one image of `plan` (seed, size and format as written), at `level`.

    The estimate is the plan's per-image share, as in the `--json` line. Values the recipe cannot
    hold (an over-long provider name, a negative charge) are left out rather than failing."""
    if level == "none":
        return None
    per_image = plan.estimate.total_micros // plan.count
    created = now().astimezone(UTC).replace(microsecond=0)
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
    record = loads(line)
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
        resolution=_text_or_none(record.get("resolution")),
        options=_json_options(record),
    )


def _json_options(record: Mapping[str, Any]) -> dict[str, Any] | None:
    """The model options of a JSON line: `model_options` (a `flux2 history --json` line) or the
    option names themselves (a `flux2 generate --json` line, like a batch line). The Recipe
    checks them."""
    from flux_cli.embedded_catalog import MODEL_OPTIONS

    given = record.get("model_options")
    if given is not None and not isinstance(given, dict):
        raise MetadataError("model_options of the JSON line is not an object")
    options = dict(given or {})
    options.update({name: record[name] for name in MODEL_OPTIONS if record.get(name) is not None})
    return options or None


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
    from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES, FLUX2_ASPECT_RATIOS
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
    `aspect_ratio` (neither when the image was made without either), `route`, `image_format`."""
    options: dict[str, Any] = {"model": recipe.model, "seed": recipe.seed}
    if recipe.prompt is not None and not recipe.prompt_truncated:
        options["prompt"] = recipe.prompt
    if recipe.size is not None:
        options["size"] = recipe.size
    elif recipe.aspect_ratio is not None:
        options["aspect_ratio"] = recipe.aspect_ratio
    if recipe.route is not None:
        options["route"] = recipe.route
    if recipe.format is not None:
        options["image_format"] = recipe.format
    if recipe.resolution is not None:
        options["resolution"] = recipe.resolution
    options.update(recipe.options or {})
    return options
