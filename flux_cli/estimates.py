"""A call's price without a prompt or a key: the references' billed sizes (a file by its header,
or `WxH` as given) and the estimate as a JSON record (`flux2 cost --json`, the MCP tool)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli.errors import UsageError
from flux_cli.pricing import megapixels, micros_to_usd

if TYPE_CHECKING:
    from flux_cli.generation import Plan

_SIZE = r"\s*\d+\s*[xX×]\s*\d+\s*"  # compiled by `re` on first use, not at import
_CENT = Decimal("0.01")


def is_size(spec: str) -> bool:
    """`WxH` (a reference given by its size, not as a file)."""
    return re.fullmatch(_SIZE, spec) is not None


def reference_sizes(specs: list[str], max_pixels: int) -> tuple[list[tuple[int, int]], list[str]]:
    """Each reference's billed size and a label: `WxH` as given, a file by its header."""
    from flux_cli import inputs

    sizes: list[tuple[int, int]] = []
    labels: list[str] = []
    for spec in specs:
        if is_size(spec) and not Path(spec).exists():
            parts = re.split(r"[xX×]", spec.strip())
            width, height = int(parts[0]), int(parts[1])
            if width <= 0 or height <= 0:
                raise UsageError(f"reference size {spec!r} must be positive")
            sent = inputs.sent_size(width, height, max_pixels, source=spec.strip())
            sizes.append(sent)
            labels.append(spec.strip() if sent == (width, height) else f"{spec.strip()} (shrunk)")
        elif spec.lower().startswith(("http://", "https://")):
            sizes.append(inputs.ASSUMED_REMOTE_SIZE)
            labels.append(f"{spec} (size unknown, counted as 1 MP)")
        else:
            width, height = inputs.probe_file(Path(spec))
            sent = inputs.sent_size(width, height, max_pixels, source=spec)
            sizes.append(sent)
            labels.append(spec if sent == (width, height) else f"{spec} (from {width}×{height})")
    return sizes, labels


def plan_estimate(
    model: str,
    *,
    aspect_ratio: str | None,
    size: str | None,
    count: int,
    images: list[str],
    max_input_mp: float | None,
    route: str,
    refresh: bool = False,
    resolution: str | None = None,
    warn: Callable[[str], None],
) -> tuple[Plan, list[str]]:
    """`flux2 cost`: the plan of a call with no prompt, and its references' labels. Offline
    unless `refresh`: the cached catalog of the current API (any age), else the embedded table;
    what the catalog and the plan say goes to `warn`."""
    from flux_cli import inputs
    from flux_cli.choices import ROUTES
    from flux_cli.credentials import resolve_base_url
    from flux_cli.generation import plan_generation, resolve_model
    from flux_cli.openrouter.catalog_cache import load_catalog
    from flux_cli.sizes import SizeError, parse_size

    if route not in ROUTES:  # not `options.check_route`: `cost` does not import the run's options
        raise UsageError(f"--api must be images or chat, got {route!r}")
    try:
        explicit = parse_size(size) if size is not None else None
    except SizeError as exc:
        raise UsageError(str(exc)) from None
    sizes, labels = reference_sizes(images, inputs.max_pixels_for(max_input_mp))
    catalog = load_catalog(resolve_base_url(), refresh=refresh, offline=not refresh)
    for warning in catalog.warnings:
        warn(warning)
    plan = plan_generation(
        model=resolve_model(model, catalog),
        prompt=None,
        route=route,
        aspect_ratio=aspect_ratio,
        size=explicit,
        seed=0,
        count=count,
        references=list(images),
        reference_sizes=sizes,
        resolution=resolution,
        estimate_only=True,
    )
    for note in plan.notes:
        warn(note)
    return plan, labels


def _usd(micros: int) -> float:
    return float(micros_to_usd(micros))


def estimate_json(plan: Plan, labels: list[str]) -> dict[str, Any]:
    from flux_cli.cost_rows import numbered_lines
    from flux_cli.records import money

    lines = []
    for line, output_index, reference_index in numbered_lines(plan.estimate):
        lines.append(
            {
                "kind": line.kind,
                "output": output_index,
                **(
                    {"reference": reference_index, "label": labels[reference_index - 1]}
                    if line.kind == "reference"
                    else {}
                ),
                "width": line.width,
                "height": line.height,
                "megapixels": float(megapixels(line.width, line.height).quantize(_CENT)),
                "billed_megapixels": line.billed_mp,
                "usd": _usd(line.micros),
                "micros": line.micros,
            }
        )
    return {
        "model": plan.model.id,
        "alias": plan.model.alias,
        "route": plan.route,
        "count": plan.count,
        "price_source": plan.model.price_source,
        "price_unit": plan.model.price.unit,
        "lines": lines,
        **money("output", plan.estimate.output_micros),
        **money("references", plan.estimate.reference_micros),
        **money("total", plan.estimate.total_micros),
    }
