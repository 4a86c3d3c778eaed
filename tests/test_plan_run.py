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
from flux_cli.planning import PreparedRun, plan_run, prepare_run, size_option


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


def _prepare(opts: GenerateOptions, said: list[str], asked: list[str]) -> PreparedRun:
    def catalog_url() -> str | None:
        asked.append("catalog")
        return None

    return prepare_run(
        opts,
        catalog_url=catalog_url,
        sandbox=False,
        stdout_is_tty=lambda: False,
        stdin_is_tty=lambda: False,
        warn=said.append,
    )


def test_a_run_is_checked_and_planned_before_anything_is_sent(tmp_path: Path) -> None:
    said: list[str] = []
    asked: list[str] = []
    prepared = _prepare(_opts(output=str(tmp_path / "fox.png"), max_cost="1"), said, asked)
    assert (prepared.plan.prompt, prepared.plan.count) == ("a fox", 2)
    assert prepared.output.directory == tmp_path
    assert (prepared.references, prepared.max_cost) == ([], 1_000_000)
    assert asked == ["catalog"]
    assert said == list(prepared.plan.notes)


def test_what_fails_without_the_network_fails_before_the_catalog_is_asked() -> None:
    asked: list[str] = []
    for bad, message in [
        (_opts(count=0), "-n/--count must be between"),
        (_opts(count=1, output="-", json_lines=True), "--json and -o - both write to stdout"),
        (_opts(size="huge"), "size"),
        (_opts(images=("-",), prompt=None), "so the prompt cannot come from stdin"),
        (_opts(prompt="  "), "prompt"),
        (_opts(max_cost="lots"), "--max-cost must be an amount"),
    ]:
        with pytest.raises(UsageError, match=message):
            _prepare(bad, [], asked)
    assert asked == []


def test_image_bytes_on_stdout_warn_that_there_is_nothing_to_preview() -> None:
    said: list[str] = []
    prepared = _prepare(_opts(count=1, output="-", preview=True), said, [])
    assert prepared.output.to_stdout
    assert said[0].startswith("--preview is ignored with -o -")
