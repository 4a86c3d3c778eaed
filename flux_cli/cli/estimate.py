"""What `flux2 cost` does: plan a call without a prompt or a key, and show its price."""

from __future__ import annotations

import json

from flux_cli.choices import ROUTES
from flux_cli.cli.context import App
from flux_cli.cli.render import estimate_table
from flux_cli.errors import UsageError
from flux_cli.estimates import estimate_json, reference_sizes
from flux_cli.generation import plan_generation, resolve_model
from flux_cli.sizes import SizeError, parse_size


def run_cost(
    app: App,
    *,
    model: str,
    aspect_ratio: str | None,
    size: str | None,
    count: int,
    images: list[str],
    max_input_mp: float | None,
    route: str,
    json_output: bool,
    refresh: bool = False,
    resolution: str | None = None,
) -> None:
    from flux_cli import inputs
    from flux_cli.credentials import resolve_base_url
    from flux_cli.openrouter.catalog_cache import load_catalog

    if route not in ROUTES:  # not `options.check_route`: `cost` does not import the run's options
        raise UsageError(f"--api must be images or chat, got {route!r}")
    try:
        explicit = parse_size(size) if size is not None else None
    except SizeError as exc:
        raise UsageError(str(exc)) from None
    sizes, labels = reference_sizes(images, inputs.max_pixels_for(max_input_mp))
    # Offline unless asked: the cached catalog of the current API (any age), else the embedded table.
    catalog = load_catalog(resolve_base_url(), refresh=refresh, offline=not refresh)
    for warning in catalog.warnings:
        app.warn(warning)
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
        app.warn(note)
    if json_output:
        app.display(json.dumps(estimate_json(plan, labels)))
        return
    table = estimate_table(
        app.out,
        model_id=plan.model.id,
        alias=plan.model.alias,
        route=plan.route,
        price_source=plan.model.price_source,
        estimate=plan.estimate,
        seeds=(),
        reference_labels=labels,
        count=plan.count,
    )
    try:
        app.out.print(table)
    except BrokenPipeError:
        app.stdout_closed = True
