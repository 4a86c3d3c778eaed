"""The plan of one generate or edit run, from its options."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flux_cli.errors import UsageError
from flux_cli.generation import resolve_model
from flux_cli.options import GenerateOptions
from flux_cli.output import plan_outputs
from flux_cli.planning import plan_run, size_option


def _opts(**changes: Any) -> GenerateOptions:
    values: dict[str, Any] = {
        "prompt": "a fox", "prompt_file": None, "model": "pro", "aspect_ratio": None,
        "size": None, "seed": 42, "image_format": None, "count": 2, "output": None,
        "force": False, "max_cost": None, "dry_run": True, "json_lines": False, "quiet": True,
        "route": "chat", "timeout": 30.0, "retries": 0, "retry_ambiguous": False,
        "sandbox": True,
    }  # fmt: skip
    return GenerateOptions(**{**values, **changes})


def test_a_size_option_is_pixels_or_a_usage_error() -> None:
    assert size_option(None) is None
    assert size_option("1024x768") == (1024, 768)
    with pytest.raises(UsageError):
        size_option("huge")
    with pytest.raises(UsageError):
        size_option("")


def test_the_plan_takes_the_run_options(tmp_path: Path) -> None:
    output = plan_outputs(str(tmp_path / "fox.png"), count=2, default_dir=Path("."))
    opts = _opts(size="1024x768", route="images")
    plan = plan_run(opts, resolve_model("pro"), "a fox", [], output)
    assert (plan.route, plan.count, plan.size, plan.seeds) == ("images", 2, (1024, 768), (42, 43))
    assert plan.target_format == "png"  # the -o name's extension


def test_a_recipe_seed_is_not_sent_to_a_model_that_takes_none() -> None:
    output = plan_outputs(None, count=1, default_dir=Path("."))
    model = resolve_model("pro")
    opts = _opts(count=1, recipe_seed=True)
    seeded = plan_run(opts, model, "a fox", [], output)
    unseeded = plan_run(opts, replace(model, takes_seed=False), "a fox", [], output)
    assert seeded.seeds == (42,)
    assert unseeded.seeds != (42,)  # a random one: the recipe's means nothing to this model
