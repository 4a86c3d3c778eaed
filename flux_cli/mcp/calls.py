"""The work behind each MCP tool, on the same core, budgets and ledger as the command line.

A make or edit call goes through `flux_cli.mcp.making`, which takes the same core steps as
`flux2 generate --json --quiet` with `command="mcp"` (and, for a --sandbox server, the server's one
sandbox). So a call gets the same budget check (one transaction with its `pending` row), the same
ledger row, the same billing-aware retries and the same no-clobber writes as `flux2 generate`.
Calls run at once on worker threads; each has its own ledger connection, and the ledger's write
lock keeps two calls from slipping under the same budget.

Nothing here speaks MCP: results are plain dicts, failures are the typed errors of
`flux_cli.errors`, `flux_cli.ledger` and `flux_cli.openrouter.errors`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli.errors import BudgetError, Flux2Error, UsageError
from flux_cli.mcp.policy import check_written, output_spec, readable_reference
from flux_cli.mcp.reports import Reports
from flux_cli.pricing import format_usd, micros_to_usd, usd_to_micros

if TYPE_CHECKING:
    from flux_cli.config import Settings
    from flux_cli.generation import Plan

COMMAND = "mcp"  # the ledger's `command` column for every call made through the server
TIMEOUT_S = 300.0  # per attempt, as `flux2 generate`
RETRIES = 2  # of failures that cannot have been billed; an unknown outcome is never retried
THUMBNAIL_PX = 256


class CeilingRefused(BudgetError):
    """The call's estimate is above the server's per-call ceiling (or the agent's own)."""

    def __init__(self, estimate_micros: int, ceiling_micros: int, whose: str) -> None:
        self.estimate_micros = estimate_micros
        self.ceiling_micros = ceiling_micros
        super().__init__(
            f"this call would cost {format_usd(estimate_micros, 2)}, more than {whose} "
            f"{format_usd(ceiling_micros, 2)}; nothing was sent",
            hint="ask for fewer or smaller images, fewer references or a cheaper model"
            if whose != "the server's per-call ceiling"
            else "ask for fewer or smaller images, fewer references or a cheaper model; only "
            "the user can raise the ceiling (flux2 mcp --max-cost-per-call)",
        )


class NoBudget(BudgetError):
    """The server runs without --no-budget, and no daily or monthly budget is set any more."""


# -- requests -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageRequest:
    """What an agent asks of make_image / edit_image; None: the config's value (as the CLI)."""

    prompt: str
    model: str | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    seed: int | None = None
    image_format: str | None = None
    count: int = 1
    filename: str | None = None
    max_cost_usd: str | None = None
    references: tuple[str, ...] = ()
    # Model options, sent where the model's endpoint allows them (`options.model_options`).
    steps: int | None = None
    guidance: float | None = None
    safety_tolerance: int | None = None
    prompt_upsampling: bool | None = None


@dataclass(frozen=True)
class _Estimate:
    micros: int | None  # None: not known before the pipeline prices the call
    ceiling: int | None  # the lower of the server's ceiling and the agent's max_cost_usd


@dataclass
class Made:
    """What a make/edit call did: one record per image (the CLI's --json lines), and `error`
    when no image was made at all."""

    records: list[dict[str, Any]]
    estimate_micros: int
    notes: list[str] = field(default_factory=list)
    error: Flux2Error | None = None

    @property
    def written(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") == "ok"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("status") != "ok"]


class Calls(Reports):
    """The tools' work for one server: its policy, and the sandbox of a --sandbox server."""

    # -- money ------------------------------------------------------------------------------

    def _settings(self) -> Settings:
        from flux_cli.config import load_settings

        settings = load_settings()
        if not self.policy.no_budget and not (
            settings.daily_budget_micros is not None or settings.monthly_budget_micros is not None
        ):
            raise NoBudget(
                "no daily or monthly budget is set, and this server spends only under one; "
                "nothing was sent",
                hint="the user can set FLUX2_BUDGET_DAILY_USD (or flux2 config set "
                "budget.daily_usd 2.00)",
            )
        return settings

    # -- pricing ----------------------------------------------------------------------------

    def _plan(
        self,
        *,
        model: str,
        aspect_ratio: str | None,
        size: str | None,
        count: int,
        references: list[str],
        route: str,
    ) -> tuple[Plan, list[str]]:
        """The call's plan and its reference labels, priced as `flux2 cost` prices it."""
        from flux_cli import inputs
        from flux_cli.estimates import reference_sizes
        from flux_cli.generation import plan_generation, resolve_model
        from flux_cli.sizes import SizeError, parse_size

        try:
            explicit = parse_size(size) if size is not None else None
        except SizeError as exc:
            raise UsageError(str(exc)) from None
        sizes, labels = reference_sizes(references, inputs.max_pixels_for(None))
        if self.policy.sandbox:
            spec = resolve_model(model)  # the in-process sandbox serves the embedded table
        else:
            from flux_cli.credentials import resolve_base_url
            from flux_cli.openrouter.catalog_cache import load_catalog

            spec = resolve_model(model, load_catalog(resolve_base_url(), offline=True))
        plan = plan_generation(
            model=spec,
            prompt=None,
            route=route,
            aspect_ratio=aspect_ratio,
            size=explicit,
            seed=0,
            count=count,
            references=list(references),
            reference_sizes=sizes,
        )
        return plan, labels

    def estimate(
        self,
        *,
        model: str | None,
        aspect_ratio: str | None,
        size: str | None,
        count: int,
        references: list[str],
    ) -> dict[str, Any]:
        """What a call would cost, offline, and whether the ceiling and budgets would let it go."""
        from flux_cli.config import load_settings
        from flux_cli.estimates import estimate_json

        settings = load_settings()
        checked = [self._reference_or_size(r) for r in references]
        plan, labels = self._plan(
            model=model or settings.model,
            aspect_ratio=aspect_ratio if aspect_ratio or size else settings.aspect_ratio,
            size=size,
            count=count,
            references=checked,
            route=settings.route,
        )
        result = estimate_json(plan, labels)
        result["notes"] = list(plan.notes)
        total = plan.estimate.total_micros
        status = self.budget_status(settings)
        ceiling = self.policy.max_cost_per_call_micros
        refusals = []
        if ceiling is not None and total > ceiling:
            refusals.append(f"above the per-call ceiling {format_usd(ceiling, 2)}")
        for name in ("daily", "monthly"):
            budget = status[name]
            if budget is not None and total > usd_to_micros(budget["left_usd"]):
                refusals.append(f"more than is left of the {name} budget ({budget['left_usd']})")
        result["allowed"] = not refusals
        result["refused_because"] = refusals
        result["budget"] = status
        return result

    def _reference_or_size(self, text: str) -> str:
        from flux_cli.estimates import is_size

        if is_size(text):
            return text.strip()
        return str(readable_reference(text, self.policy))

    # -- images -----------------------------------------------------------------------------

    def make(self, request: ImageRequest) -> Made:
        """make_image and edit_image: checks, the ceiling, then the generate/edit pipeline."""
        from flux_cli.mcp.making import run_images
        from flux_cli.options import GenerateOptions, apply_settings

        settings = self._settings()
        if request.prompt.strip() == "-":  # the CLI reads stdin for "-": here stdin is MCP
            raise UsageError("the prompt must be the text itself")
        if not 1 <= request.count <= 8:
            raise UsageError(f"count must be 1 to 8, got {request.count}")
        references = tuple(str(readable_reference(r, self.policy)) for r in request.references)
        explicit = {"output", "route", "metadata"}
        values: dict[str, Any] = {}
        for name in ("model", "aspect_ratio", "size", "image_format"):
            value = getattr(request, name)
            if value is not None:
                values[name] = value
                explicit.add(name)
        opts = GenerateOptions(
            prompt=request.prompt,
            prompt_file=None,
            model=values.get("model", "pro"),
            aspect_ratio=values.get("aspect_ratio"),
            size=values.get("size"),
            seed=request.seed,
            image_format=values.get("image_format"),
            count=request.count,
            output=output_spec(self.policy, settings.output_template, request.filename),
            force=False,
            max_cost=None,
            dry_run=False,
            json_lines=True,
            quiet=True,
            route=settings.route,
            timeout=TIMEOUT_S,
            retries=RETRIES,
            retry_ambiguous=False,
            sandbox=self.policy.sandbox,
            command=COMMAND,
            metadata=settings.metadata,
            images=references,
            steps=request.steps,
            guidance=request.guidance,
            safety_tolerance=request.safety_tolerance,
            prompt_upsampling=request.prompt_upsampling,
        )
        opts, _ = apply_settings(opts, 1, frozenset(explicit), settings)
        estimate = self._check_ceiling(opts, request)
        if estimate.ceiling is not None:
            from dataclasses import replace

            # The pipeline checks it again against its own (live) prices before sending.
            opts = replace(opts, max_cost=str(micros_to_usd(estimate.ceiling)))
        ran = run_images(opts, settings, self.sandbox_url)
        records = ran.records
        if estimate.micros is None:
            estimate = _Estimate(
                sum(
                    usd_to_micros(str(r["estimate_usd"])) for r in records if r.get("estimate_usd")
                ),
                estimate.ceiling,
            )
        made = Made(records, estimate.micros or 0, ran.messages, None)
        for record in made.written:
            check_written(self.policy, record["path"])
        if not made.written:
            made.error = ran.error or Flux2Error("no image was made")
        return made

    def _check_ceiling(self, opts: Any, request: ImageRequest) -> _Estimate:
        """Refuse before anything is sent when the estimate is above the server's per-call
        ceiling or the agent's own max_cost."""
        ceilings = []
        if self.policy.max_cost_per_call_micros is not None:
            ceilings.append((self.policy.max_cost_per_call_micros, "the server's per-call ceiling"))
        if request.max_cost_usd is not None:
            from flux_cli.options import parse_money

            ceilings.append((parse_money(request.max_cost_usd, "max_cost_usd"), "max_cost_usd"))
        try:
            plan, _ = self._plan(
                model=opts.model,
                aspect_ratio=opts.aspect_ratio,
                size=opts.size,
                count=opts.count,
                references=list(opts.images),
                route=opts.route,
            )
        except UsageError:
            if self.policy.sandbox:
                raise
            # A model the cached catalog does not know yet: the pipeline prices it from the
            # live catalog and refuses above the same ceiling (its --max-cost) before sending.
            return _Estimate(None, min(ceilings)[0] if ceilings else None)
        total = plan.estimate.total_micros
        for ceiling, whose in sorted(ceilings):
            if total > ceiling:
                raise CeilingRefused(total, ceiling, whose)
        return _Estimate(total, min(ceilings)[0] if ceilings else None)


def thumbnail(path: str, max_side: int = THUMBNAIL_PX) -> bytes:
    """A small JPEG of an image this server wrote, for the agent to look at."""
    from PIL import Image

    with Image.open(Path(path)) as image:
        image.thumbnail((max_side, max_side))
        small = image.convert("RGB")
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
