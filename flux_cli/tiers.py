"""Output sizes for any model: aspect ratios beyond FLUX.2's and `resolution` tiers.

Shared by the client (the estimate) and the sandbox (what it renders and charges), like
flux_cli.sizes, which it extends: without a tier, the FLUX.2 ratios keep their recorded ~1 MP
sizes. A tier's size is inferred as tier² pixels at the requested ratio, sides multiples of 16
(docs/openrouter-flux2.md#sizes).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES
from flux_cli.sizes import SIDE_STEP, SizeError, fit_within, output_size

#: The long-edge class each `resolution` value names (docs/openrouter.md#image-request).
TIER_SIDES: dict[str, int] = {
    "512": 512,
    "768": 768,
    "1K": 1024,
    "1.5K": 1536,
    "2K": 2048,
    "4K": 4096,
}
DEFAULT_TIER = "1K"


def ratio_parts(aspect_ratio: str) -> tuple[Decimal, Decimal]:
    """`16:9` → (16, 9); `9:19.5` → (9, 19.5). SizeError unless both sides are positive numbers."""
    left, sep, right = aspect_ratio.partition(":")
    try:
        width, height = Decimal(left), Decimal(right)
    except InvalidOperation:
        raise SizeError(f"unknown aspect ratio {aspect_ratio!r}") from None
    if not sep or not width.is_finite() or not height.is_finite() or width <= 0 or height <= 0:
        raise SizeError(f"unknown aspect ratio {aspect_ratio!r}")
    if max(width / height, height / width) > 32:
        raise SizeError(f"aspect ratio {aspect_ratio!r} is too extreme")
    return width, height


def tier_size(aspect_ratio: str, tier: str) -> tuple[int, int]:
    """The size of `tier` (`1K`) at `aspect_ratio` (`16:9`): at most tier² pixels."""
    side = TIER_SIDES.get(tier)
    if side is None:
        raise SizeError(f"unknown resolution {tier!r}")
    width, height = ratio_parts(aspect_ratio)
    # Scale the ratio up to whole pixels first so fit_within keeps its shape.
    scale = Decimal(side * 4) / max(width, height)
    return fit_within(int(width * scale), int(height * scale), max_pixels=side * side)


def planned_size(
    aspect_ratio: str | None,
    resolution: str | None = None,
    explicit: tuple[int, int] | None = None,
    references: Sequence[tuple[int, int]] = (),
) -> tuple[int, int]:
    """What a request will produce, and so what it is billed for."""
    if resolution is None and (aspect_ratio is None or aspect_ratio in ASPECT_RATIO_SIZES):
        return output_size(aspect_ratio, explicit, references)
    if explicit is not None:
        return output_size(None, explicit)
    ratio = aspect_ratio or ("auto" if references else "1:1")
    side = TIER_SIDES.get(resolution or DEFAULT_TIER)
    if side is None:
        raise SizeError(f"unknown resolution {resolution!r}")
    if ratio == "auto":
        if references:
            return fit_within(*references[0], max_pixels=side * side)
        ratio = "1:1"
    return tier_size(ratio, resolution or DEFAULT_TIER)


__all__ = ["DEFAULT_TIER", "SIDE_STEP", "TIER_SIDES", "planned_size", "ratio_parts", "tier_size"]
