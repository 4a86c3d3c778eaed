"""What `flux2 cost` does: plan a call without a prompt or a key (`flux_cli.estimates`), and
show its price."""

from __future__ import annotations

import json

from flux_cli.cli.context import App
from flux_cli.cli.render import estimate_table
from flux_cli.estimates import estimate_json, plan_estimate


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
    plan, labels = plan_estimate(
        model,
        aspect_ratio=aspect_ratio,
        size=size,
        count=count,
        images=images,
        max_input_mp=max_input_mp,
        route=route,
        refresh=refresh,
        resolution=resolution,
        warn=app.warn,
    )
    if json_output:
        app.display(json.dumps(estimate_json(plan, labels)))
        return
    app.show(estimate_table(app.out, plan, seeds=(), reference_labels=labels, count=plan.count))
