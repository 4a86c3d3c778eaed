"""Output pixel sizes: what a request will produce, and so what it will be billed.

Shared by the client (for the estimate) and the sandbox (for what it renders and charges), so the
two cannot drift apart. FLUX.2 limits: each side a multiple of 16, at least 64, at most 4
megapixels in total. BFL states no limit per side; `MAX_SIDE` is the one flux2 holds every image
to, so that a size it plans is a size it accepts in the answer (`images.MAX_SIDE` is this one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES
from flux_cli.pricing import MEGAPIXEL

SIDE_STEP = 16
MIN_SIDE = 64
MAX_PIXELS = 4 * MEGAPIXEL
MAX_SIDE = 8192
DEFAULT_ASPECT_RATIO = "1:1"


class SizeError(ValueError):
    """A width×height FLUX.2 cannot produce."""


def _nearest_side(side: int) -> int:
    """The multiple of SIDE_STEP nearest to `side` (halfway rounds up: 1000 → 1008)."""
    return max(MIN_SIDE, (side + SIDE_STEP // 2) // SIDE_STEP * SIDE_STEP)


def parse_size(text: str) -> tuple[int, int]:
    """`1024x768` (or `1024X768`, `1024×768`) → (1024, 768); checked against FLUX.2's limits."""
    parts = text.strip().lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise SizeError(f"size must look like WIDTHxHEIGHT (e.g. 1024x768), got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    check_size(width, height)
    return width, height


def check_size(width: int, height: int) -> None:
    if width < MIN_SIDE or height < MIN_SIDE:
        raise SizeError(f"{width}x{height}: each side must be at least {MIN_SIDE} pixels")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise SizeError(f"{width}x{height}: each side must be at most {MAX_SIDE} pixels")
    if width % SIDE_STEP or height % SIDE_STEP:
        near = [_nearest_side(width), _nearest_side(height)]
        if near[0] * near[1] > MAX_PIXELS:  # rounding up went over: round down instead
            near = [max(MIN_SIDE, side // SIDE_STEP * SIDE_STEP) for side in (width, height)]
        raise SizeError(
            f"{width}x{height}: each side must be a multiple of {SIDE_STEP} "
            f"(the nearest size is {near[0]}x{near[1]})"
        )
    if width * height > MAX_PIXELS:
        raise SizeError(f"{width}x{height} is over FLUX.2's 4 megapixel limit (2048x2048 at most)")


def fit_within(width: int, height: int, max_pixels: int = MEGAPIXEL) -> tuple[int, int]:
    """The largest size with `width:height`'s shape, sides multiples of 16 from 64 to `MAX_SIDE`,
    at most `max_pixels`."""
    if width <= 0 or height <= 0:
        raise SizeError(f"image size must be positive, got {width}x{height}")
    scale = min(1.0, math.sqrt(max_pixels / (width * height)), MAX_SIDE / width, MAX_SIDE / height)
    w = max(MIN_SIDE, int(width * scale) // SIDE_STEP * SIDE_STEP)
    h = max(MIN_SIDE, int(height * scale) // SIDE_STEP * SIDE_STEP)
    while w * h > max_pixels and (w > MIN_SIDE or h > MIN_SIDE):
        if w >= h:
            w -= SIDE_STEP
        else:
            h -= SIDE_STEP
    return w, h


def output_size(
    aspect_ratio: str | None,
    explicit: tuple[int, int] | None = None,
    references: Sequence[tuple[int, int]] = (),
) -> tuple[int, int]:
    """What FLUX.2 returns for a request.

    An explicit size wins. Otherwise the aspect ratio's ~1 MP size; with no ratio (or `auto`) and
    reference images, the first reference's shape at up to 1 MP (FLUX.2 "matches input image
    dimensions by default", docs/openrouter-flux2.md#sizes, held to the ~1 MP default output).
    """
    if explicit is not None:
        check_size(*explicit)
        return explicit
    ratio = aspect_ratio or ("auto" if references else DEFAULT_ASPECT_RATIO)
    if ratio == "auto" and references:
        return fit_within(*references[0])
    try:
        return ASPECT_RATIO_SIZES[ratio]
    except KeyError:
        raise SizeError(f"unknown aspect ratio {ratio!r}") from None


def nearest_aspect_ratio(width: int, height: int, allowed: Sequence[str]) -> str:
    """The allowed ratio closest in shape (log scale), for when a size cannot be sent."""
    target = math.log(width / height)
    best, best_distance = DEFAULT_ASPECT_RATIO, math.inf
    for ratio in allowed:
        if ratio == "auto" or ":" not in ratio:
            continue
        a, b = ratio.split(":", 1)
        distance = abs(math.log(float(a) / float(b)) - target)
        if distance < best_distance:
            best, best_distance = ratio, distance
    return best
