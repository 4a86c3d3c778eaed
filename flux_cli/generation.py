"""Planning a generation: from what the user asked for to the exact requests and their price.

No I/O and no CLI imports: the command parses flags, calls `plan_generation`, shows the estimate,
then sends `plan.requests()`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flux_cli.choices import FORMATS
from flux_cli.embedded_catalog import (
    MODEL_OPTIONS,
    MODELS,
    PriceRule,
    embedded_model,
    resolve_model_id,
)
from flux_cli.errors import UsageError
from flux_cli.pricing import (
    TOKENS_PER_MEGAPIXEL,
    Estimate,
    billed_megapixels,
    estimate,
    format_usd,
    unit_text,
)

if TYPE_CHECKING:
    from flux_cli.openrouter.catalog import Catalog, CatalogEntry
    from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sizes import SizeError, nearest_aspect_ratio
from flux_cli.tiers import planned_size

MAX_COUNT = 16
MAX_SEED = 2**32 - 1
MAX_PROMPT_CHARS = 32_000


EMBEDDED_SOURCE = "embedded table"


@dataclass(frozen=True)
class ModelSpec:
    """What planning needs to know of a model, from the embedded table or the live catalog."""

    id: str
    alias: str
    aspect_ratios: tuple[str, ...]
    output_formats: tuple[str, ...]
    max_references: int
    passthrough: tuple[str, ...]
    price: PriceRule
    price_source: str = EMBEDDED_SOURCE
    resolutions: tuple[str, ...] = ()
    takes_seed: bool = True
    takes_n: bool = True
    min_references: int = 0
    price_unknown: bool = False  # counted at --max-cost until its charge is known

    @classmethod
    def from_entry(
        cls,
        entry: CatalogEntry,
        price_source: str,
        *,
        configured: PriceRule | None = None,
        unknown_at: int | None = None,
    ) -> ModelSpec:
        """`configured`: the user's `prices.<model>` rule, which wins; `unknown_at`: with no
        price, count each call at this many micro-dollars (--accept-unknown-price)."""
        price, source, unknown = entry.price, price_source, False
        if entry.price_source != "live":
            source = EMBEDDED_SOURCE
        if configured is not None:
            price, source = configured, "config file (prices)"
        elif price is None and unknown_at is not None:
            price = PriceRule(unknown_at, 0, 0, unit="image")
            source, unknown = f"unknown, counted at {format_usd(unknown_at)} per call", True
        if price is None:
            raise UsageError(
                f"no price is known for {entry.id}, so flux2 cannot tell what it would cost; "
                "nothing was sent",
                hint=(
                    f'write its price into the config file ([prices."{entry.id}"] with '
                    "unit and output_usd; see flux2 help cost), or give --max-cost with "
                    "--accept-unknown-price to count each call at --max-cost until its "
                    "charge is known"
                ),
            )
        if price.unit != "megapixel" and not unknown:
            source = f"{source}, {unit_text(price)}"
        return cls(
            id=entry.id,
            alias=entry.alias or entry.id.rsplit("/", 1)[-1],
            aspect_ratios=entry.aspect_ratios,
            output_formats=entry.output_formats,
            max_references=entry.max_references,
            passthrough=entry.passthrough,
            price=price,
            price_source=source,
            resolutions=entry.resolutions,
            takes_seed=entry.takes_seed,
            takes_n=entry.takes_n,
            min_references=entry.min_references,
            price_unknown=unknown,
        )


@dataclass(frozen=True)
class Plan:
    model: ModelSpec
    route: str
    prompt: str
    aspect_ratio: str | None  # as sent
    size: tuple[int, int]  # what each output will measure, and so what is billed
    explicit_size: tuple[int, int] | None  # sent as provider width/height
    seeds: tuple[int, ...]
    request_format: str | None  # `output_format` as sent
    target_format: str | None  # what the file must be; None = whatever comes back
    references: tuple[str, ...] = ()
    reference_sizes: tuple[tuple[int, int], ...] = ()
    notes: tuple[str, ...] = field(default=())
    resolution: str | None = None  # as sent
    options: tuple[tuple[str, object], ...] = ()  # provider options, as sent

    @property
    def count(self) -> int:
        return len(self.seeds)

    @property
    def sends_seed(self) -> bool:
        """False for models without `seed`: their results cannot be reproduced."""
        return self.model.takes_seed

    @property
    def estimate(self) -> Estimate:
        prompt = "" if self.model.price_unknown else self.prompt
        return estimate(
            self.model.price, self.size, self.reference_sizes, count=self.count, prompt=prompt
        )

    def request(self, index: int) -> ImageRequest:
        from flux_cli.openrouter.wire import ImageRequest  # not at import: `cost` sends nothing

        options: dict[str, object] | None = dict(self.options) or None
        if self.explicit_size is not None:
            options = {
                **(options or {}),
                "width": self.explicit_size[0],
                "height": self.explicit_size[1],
            }
        return ImageRequest(
            model=self.model.id,
            prompt=self.prompt,
            seed=self.seeds[index] if self.sends_seed else None,
            aspect_ratio=self.aspect_ratio,
            output_format=self.request_format,
            references=self.references,
            provider_options=options,
            max_output_tokens=TOKENS_PER_MEGAPIXEL * billed_megapixels(*self.size),
            resolution=self.resolution,
            send_n=self.model.takes_n,
        )

    def requests(self) -> list[ImageRequest]:
        return [self.request(i) for i in range(self.count)]


def known_models_text() -> str:
    return ", ".join(f"{m.alias} ({m.id})" for m in MODELS)


def resolve_model(name: str, catalog: Catalog | None = None) -> ModelSpec:
    """A model by alias or id: from the live catalog when one is given, else the embedded table."""
    if catalog is not None:
        from flux_cli.openrouter.catalog import resolve

        return ModelSpec.from_entry(resolve(catalog, name), price_source_text(catalog))
    model = embedded_model(name)
    if model is None:
        raise UsageError(
            f"unknown model {resolve_model_id(name)!r}",
            hint=f"use one of: {known_models_text()}",
        )
    return ModelSpec(
        id=model.id,
        alias=model.alias,
        aspect_ratios=model.aspect_ratios,
        output_formats=model.output_formats,
        max_references=model.max_references,
        passthrough=model.passthrough,
        price=model.price,
    )


def price_source_text(catalog: Catalog) -> str:
    """`embedded table`, or `live catalog, 3 h old`: what the table says its prices come from."""
    if catalog.source == "embedded":
        return EMBEDDED_SOURCE
    if catalog.age is None or catalog.age.total_seconds() < 60:
        return "live catalog, just fetched"
    minutes = int(catalog.age.total_seconds() // 60)
    age = f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"
    return f"live catalog, {age} old"


def check_prompt(prompt: str) -> str:
    if not prompt.strip():
        raise UsageError(
            "the prompt is empty", hint='give one: flux2 generate "a red fox in the snow"'
        )
    if "\x00" in prompt:
        raise UsageError("the prompt contains a NUL character")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise UsageError(
            f"the prompt is {len(prompt):,} characters long; FLUX.2 takes at most {MAX_PROMPT_CHARS:,}"
        )
    return prompt.strip()


def check_count(count: int) -> None:
    """-n/--count: how many images one run makes."""
    if not 1 <= count <= MAX_COUNT:
        raise UsageError(f"-n/--count must be between 1 and {MAX_COUNT}, got {count}")


def plan_generation(
    *,
    model: ModelSpec,
    prompt: str | None,
    route: str = "images",
    aspect_ratio: str | None = None,
    size: tuple[int, int] | None = None,
    seed: int | None = None,
    count: int = 1,
    target_format: str | None = None,
    references: Sequence[str] = (),
    reference_sizes: Sequence[tuple[int, int]] = (),
    resolution: str | None = None,
    options: Sequence[tuple[str, object]] = (),
    estimate_only: bool = False,
) -> Plan:
    """`estimate_only`: `flux2 cost`, which checks flags against the model but not what a call
    also needs (its references, its output format)."""
    info = model
    prompt = "" if prompt is None else check_prompt(prompt)  # None: an estimate only
    check_count(count)
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")
    if seed is not None and not info.takes_seed and not estimate_only:
        raise UsageError(
            f"{info.alias} takes no seed: its results cannot be reproduced, so --seed does nothing",
            hint="leave out --seed for this model",
        )
    if aspect_ratio is not None and aspect_ratio not in info.aspect_ratios:
        if not info.aspect_ratios:
            raise UsageError(f"{info.alias} takes no aspect ratio", hint="leave out --aspect-ratio")
        raise UsageError(
            f"{info.alias} does not support aspect ratio {aspect_ratio!r}",
            hint="choose one of " + " ".join(info.aspect_ratios),
        )
    if resolution is not None and resolution not in info.resolutions:
        if not info.resolutions:
            raise UsageError(
                f"{info.alias} takes no --resolution", hint="leave it out for this model"
            )
        raise UsageError(
            f"{info.alias} does not support resolution {resolution!r}",
            hint="choose one of " + " ".join(info.resolutions),
        )
    if len(references) > info.max_references:
        if info.max_references == 0:
            raise UsageError(f"{info.alias} takes no reference images", hint="use flux2 generate")
        raise UsageError(
            f"{info.alias} takes at most {info.max_references} reference images, got {len(references)}"
        )
    if len(references) < info.min_references and not estimate_only:
        raise UsageError(
            f"{info.alias} needs at least {info.min_references} reference image"
            + ("s" if info.min_references > 1 else ""),
            hint=f"give them with flux2 edit -i (got {len(references)})",
        )
    raster = {"png", "jpeg", "webp"}
    if info.output_formats and not raster & set(info.output_formats) and not estimate_only:
        raise UsageError(
            f"{info.alias} returns only {', '.join(info.output_formats)}, "
            "which flux2 does not write; nothing was sent",
            hint="choose a model that returns PNG, JPEG or WebP (flux2 models)",
        )
    for name, _ in options:
        if name not in info.passthrough:
            flag = MODEL_OPTIONS.get(name, name)
            raise UsageError(
                f"{info.alias} does not take {flag} here: its endpoint does not allow "
                f"{name!r} (allowed: {', '.join(info.passthrough) or 'none'})",
                hint=f"leave out {flag} for this model",
            )
    if target_format is not None and target_format not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}, got {target_format!r}")

    notes: list[str] = []
    explicit: tuple[int, int] | None = None
    if size is not None:
        if aspect_ratio is not None:
            raise UsageError("give either --size or --aspect-ratio, not both")
        can_send = (
            route == "images" and {"width", "height"} <= set(info.passthrough) and not resolution
        )
        if can_send:
            explicit = size
        else:
            aspect_ratio = nearest_aspect_ratio(*size, info.aspect_ratios)
            where = "the chat route" if route != "images" else f"{info.alias} on OpenRouter"
            notes.append(
                f"{where} cannot be asked for an exact size; {size[0]}x{size[1]} is not honoured, "
                f"using the nearest aspect ratio {aspect_ratio} instead"
            )
    if route != "images" and (resolution is not None or options):
        raise UsageError(
            "--resolution and model options go only by the images route (--api images)"
        )
    try:
        out = planned_size(aspect_ratio, resolution, explicit, list(reference_sizes))
    except SizeError as exc:
        raise UsageError(str(exc)) from None

    # Ask for the requested format where the model supports it; for others (webp) ask for PNG,
    # a lossless source, and convert locally.
    request_format: str | None = None
    if target_format in info.output_formats:
        request_format = target_format
    elif target_format is not None:
        request_format = "png" if "png" in info.output_formats else None
        notes.append(f"{info.alias} cannot return {target_format}; the image is converted locally")

    if not info.takes_seed and not estimate_only:
        notes.append(f"{info.alias} takes no seed: running this again will not reproduce the image")
    if seed is None:
        import secrets  # here, not at the top: `flux2 cost` never picks a seed

        first_seed = secrets.randbelow(MAX_SEED - MAX_COUNT)
    else:
        first_seed = seed
    seeds = tuple((first_seed + i) % (MAX_SEED + 1) for i in range(count))
    return Plan(
        model=info,
        route=route,
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        size=out,
        explicit_size=explicit,
        seeds=seeds,
        request_format=request_format,
        target_format=target_format,
        references=tuple(references),
        reference_sizes=tuple(reference_sizes),
        notes=tuple(notes),
        resolution=resolution,
        options=tuple(options),
    )
