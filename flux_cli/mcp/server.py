"""The MCP side of `flux2 mcp`: the tools an agent sees, their results, and the stdio loop.

Built on the official Python SDK (`pip install 'flux2-cli[mcp]'`); imported only by the `mcp`
command. Each tool is a plain function that the SDK runs on a worker thread, so calls made at
once run at once; `calls` does the work and this module turns its dicts and typed errors into
tool results. A refused or failed call is a tool error (`is_error`) whose text says what
happened to the money, so the agent can tell its user instead of trying again.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server import MCPServer
from mcp.types import CallToolResult, ContentBlock, ImageContent, TextContent, ToolAnnotations
from pydantic import Field

from flux_cli import __version__
from flux_cli.choices import GUIDANCE_RANGE, SAFETY_TOLERANCE_RANGE, STEPS_RANGE
from flux_cli.errors import BudgetError, Flux2Error, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import BudgetExceeded
from flux_cli.mcp.calls import Calls, CeilingRefused, ImageRequest, Made, thumbnail
from flux_cli.mcp.policy import PathRefused, Policy, next_resets
from flux_cli.pricing import format_usd
from flux_cli.records import usd
from flux_cli.redact import redact

INSTRUCTIONS = """\
flux2 makes and edits images with FLUX.2 models through OpenRouter, for real money.
Every call is priced before it is sent and checked against the user's daily/monthly budget and
a per-call ceiling; a refused call sends nothing. Use estimate_cost first when unsure, and
spending to see what is left. When a call is refused for money, tell the user what is left and
when it resets; do not retry. When a result says the call "may have been billed", do not retry
it automatically: ask the user. Images are written only in the server's output directory;
reference images are read only from directories the user allowed."""

_T = TypeVar("_T")

Prompt = Annotated[str, Field(description="What the image should show (up to 32,000 characters).")]
Model = Annotated[
    str | None,
    Field(description="pro, max, flex, klein, or an OpenRouter model id; default from config."),
]
AspectRatio = Annotated[
    str | None,
    Field(description="e.g. 1:1, 16:9, 3:4 or auto; ignored when size is given."),
]
Size = Annotated[
    str | None,
    Field(description="WIDTHxHEIGHT in pixels (multiples of 16, at most 4 megapixels)."),
]
Seed = Annotated[int | None, Field(description="For a reproducible image; one is picked if not.")]
ImageFormat = Annotated[str | None, Field(description="png, jpeg or webp.")]
Count = Annotated[int, Field(ge=1, le=8, description="How many images (1-8), one request each.")]
Filename = Annotated[
    str | None,
    Field(
        description="A file name (no directories) or name template ({date} {time} {model} "
        "{seed} {slug} {index} {n} {ext} {id}); default from config. Never overwrites."
    ),
]
MaxCost = Annotated[
    str | None,
    Field(description="Refuse the call if its estimate is above this many USD, e.g. 0.10."),
]
References = Annotated[
    list[str],
    Field(
        description="Paths of reference images (PNG, JPEG, WebP) inside a directory the server "
        "may read; up to 8 for pro, max and flex.",
        min_length=1,
        max_length=8,
    ),
]
Steps = Annotated[
    int | None,
    Field(
        ge=STEPS_RANGE[0],
        le=STEPS_RANGE[1],
        description="Model option: diffusion steps (FLUX.2 flex), where the model's endpoint "
        "allows it (list_models shows which); refused otherwise.",
    ),
]
Guidance = Annotated[
    float | None,
    Field(
        ge=GUIDANCE_RANGE[0],
        le=GUIDANCE_RANGE[1],
        description="Model option: guidance scale (FLUX.2 flex), where the endpoint allows it.",
    ),
]
SafetyTolerance = Annotated[
    int | None,
    Field(
        ge=SAFETY_TOLERANCE_RANGE[0],
        le=SAFETY_TOLERANCE_RANGE[1],
        description="Model option: 0 (strict) to 6 (permissive), where the endpoint allows it.",
    ),
]
PromptUpsampling = Annotated[
    bool | None,
    Field(description="Model option: let the provider rewrite the prompt, where allowed."),
]
PlannedReferences = Annotated[
    list[str],
    Field(
        description="Reference images as readable paths, or as sizes like 1024x1024.",
        max_length=8,
    ),
]


def build(calls: Calls) -> MCPServer:
    """The server with its six tools."""
    server = MCPServer(
        "flux2",
        title="flux2: FLUX.2 images with budgets",
        version=__version__,
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    paid = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    free = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=paid)
    def make_image(
        prompt: Prompt,
        model: Model = None,
        aspect_ratio: AspectRatio = None,
        size: Size = None,
        seed: Seed = None,
        image_format: ImageFormat = None,
        count: Count = 1,
        filename: Filename = None,
        max_cost_usd: MaxCost = None,
        steps: Steps = None,
        guidance: Guidance = None,
        safety_tolerance: SafetyTolerance = None,
        prompt_upsampling: PromptUpsampling = None,
    ) -> CallToolResult:
        """Make images from a prompt. Costs money: checked against the budgets and the per-call
        ceiling first. Returns the written paths, the estimate, the charge, the generation id
        and a thumbnail of each image."""
        request = ImageRequest(
            prompt,
            model,
            aspect_ratio,
            size,
            seed,
            image_format,
            count,
            filename,
            max_cost_usd,
            steps=steps,
            guidance=guidance,
            safety_tolerance=safety_tolerance,
            prompt_upsampling=prompt_upsampling,
        )
        return _guard("make_image", lambda: _image_result("make_image", calls.make(request)))

    @server.tool(annotations=paid)
    def edit_image(
        prompt: Prompt,
        references: References,
        model: Model = None,
        aspect_ratio: AspectRatio = None,
        size: Size = None,
        seed: Seed = None,
        image_format: ImageFormat = None,
        count: Count = 1,
        filename: Filename = None,
        max_cost_usd: MaxCost = None,
        steps: Steps = None,
        guidance: Guidance = None,
        safety_tolerance: SafetyTolerance = None,
        prompt_upsampling: PromptUpsampling = None,
    ) -> CallToolResult:
        """Edit images, or combine several into a new one, guided by a prompt. Costs money
        (each reference is billed by its megapixels too). Returns what make_image returns."""
        request = ImageRequest(
            prompt,
            model,
            aspect_ratio,
            size,
            seed,
            image_format,
            count,
            filename,
            max_cost_usd,
            tuple(references),
            steps=steps,
            guidance=guidance,
            safety_tolerance=safety_tolerance,
            prompt_upsampling=prompt_upsampling,
        )
        return _guard("edit_image", lambda: _image_result("edit_image", calls.make(request)))

    @server.tool(annotations=free)
    def estimate_cost(
        model: Model = None,
        aspect_ratio: AspectRatio = None,
        size: Size = None,
        count: Count = 1,
        references: PlannedReferences | None = None,
    ) -> CallToolResult:
        """What a make_image or edit_image call would cost, without spending anything, and
        whether the ceiling and the budgets would let it through."""
        return _guard(
            "estimate_cost",
            lambda: _data_result(
                calls.estimate(
                    model=model,
                    aspect_ratio=aspect_ratio,
                    size=size,
                    count=count,
                    references=list(references or []),
                )
            ),
        )

    @server.tool(annotations=free)
    def list_models() -> CallToolResult:
        """The image models with their aspect ratios, reference limits, formats and prices
        per megapixel (with where each price came from)."""
        return _guard("list_models", lambda: _data_result({"models": calls.models()}))

    @server.tool(annotations=free)
    def spending() -> CallToolResult:
        """What has been spent today and this month (in all, and by model), the budgets, what
        is left of each and when each resets."""
        return _guard("spending", lambda: _data_result(calls.spending()))

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def balance() -> CallToolResult:
        """The OpenRouter credits and the key's limit and usage, with the local budgets."""
        return _guard("balance", lambda: _data_result(calls.balance()))

    return server


# -- results ------------------------------------------------------------------------------------


def _log(line: str) -> None:
    """One line per call on stderr (the MCP client's log), never on stdout (the protocol)."""
    try:
        sys.stderr.write(f"flux2 mcp: {redact(line)}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _guard(tool: str, work: Callable[[], CallToolResult]) -> CallToolResult:
    try:
        return work()
    except Flux2Error as exc:
        result = error_result(exc)
        _log(f"{tool}: refused or failed: {exc.message}")
        return result


def _data_result(data: dict[str, Any]) -> CallToolResult:
    text = json.dumps(data, ensure_ascii=False, indent=1)
    return CallToolResult(content=[TextContent(text=text)], structured_content=data)


def _image_result(tool: str, made: Made) -> CallToolResult:
    if made.error is not None:
        result = error_result(made.error, made)
        _log(f"{tool}: failed: {made.error.message}")
        return result
    images = [_image_record(r) for r in made.written]
    failed = [_failure_record(r) for r in made.failed]
    charges = [
        r["charged_micros"]
        for r in made.written + made.failed
        if isinstance(r.get("charged_micros"), int)
    ]
    data: dict[str, Any] = {
        "images": images,
        "failed": failed,
        "estimate_usd": usd(made.estimate_micros),
        "charged_usd": usd(sum(charges)) if charges else None,
        "charged_micros": sum(charges) if charges else None,
        "notes": made.notes,
    }
    lines = [
        f"made {len(images)} image{'s' if len(images) != 1 else ''}; estimate "
        f"${data['estimate_usd']}, charged "
        + (f"${data['charged_usd']}" if data["charged_usd"] is not None else "unknown")
    ]
    for image in images:
        lines.append(
            f"{image['path']} ({image['width']}x{image['height']} {image['format']}, seed "
            f"{image['seed']}, generation {image['generation_id']}, charged "
            f"{'$' + str(image['charged_usd']) if image['charged_usd'] is not None else 'unknown'})"
        )
    for failure in failed:
        lines.append(f"image {failure['index']} failed: {failure['error']}")
    lines += [f"note: {note}" for note in made.notes]
    content: list[ContentBlock] = [TextContent(text="\n".join(lines))]
    for image in images:
        content.append(
            ImageContent(
                data=base64.b64encode(thumbnail(image["path"])).decode("ascii"),
                mime_type="image/jpeg",
            )
        )
    _log(f"{tool}: {lines[0]}; " + ", ".join(i["path"] for i in images))
    return CallToolResult(content=content, structured_content=data)


def _image_record(record: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "path",
        "model",
        "provider",
        "seed",
        "width",
        "height",
        "format",
        "bytes",
        "sha256",
        "estimate_usd",
        "estimate_micros",
        "charged_usd",
        "charged_micros",
        "generation_id",
        "elapsed_s",
    )
    return {key: record.get(key) for key in keys}


def _failure_record(record: dict[str, Any]) -> dict[str, Any]:
    code = record.get("exit_code")
    return {
        "index": record.get("index"),
        "seed": record.get("seed"),
        "error": record.get("error"),
        "may_have_been_billed": code == ExitCode.OUTCOME_UNKNOWN,
        "generation_id": record.get("generation_id"),
        "charged_usd": record.get("charged_usd"),
        "charged_micros": record.get("charged_micros"),
    }


def error_result(exc: Flux2Error, made: Made | None = None) -> CallToolResult:
    """A tool error that says what happened to the money and what the agent should do."""
    data: dict[str, Any] = {
        "error": _kind(exc),
        "message": exc.message,
        "hint": exc.hint,
        "exit_code": int(exc.exit_code),
        "sent": not isinstance(exc, (BudgetError, UsageError)),
        "may_have_been_billed": bool(getattr(exc, "may_be_billed", False)),
        "generation_id": getattr(exc, "generation_id", None),
    }
    text = exc.message
    if isinstance(exc, BudgetExceeded) and exc.budget != "max-cost":
        daily_reset, monthly_reset = next_resets()
        reset = daily_reset if exc.budget == "daily" else monthly_reset
        period = "today" if exc.budget == "daily" else "this month"
        data.update(
            budget=exc.budget,
            limit_usd=usd(exc.limit_micros),
            left_usd=usd(exc.remaining_micros),
            estimate_usd=usd(exc.estimate_micros),
            resets_at=reset.isoformat(timespec="seconds"),
        )
        text = (
            f"refused by the {exc.budget} budget, nothing was sent: "
            f"{format_usd(exc.remaining_micros, 2)} of {format_usd(exc.limit_micros, 2)} is left "
            f"{period} and this call would cost {format_usd(exc.estimate_micros, 2)}. "
            f"The {exc.budget} budget resets at {reset:%Y-%m-%d %H:%M %Z}. "
            "Do not retry before then; tell the user (only they can raise the budget)."
        )
    elif isinstance(exc, CeilingRefused):
        data.update(estimate_usd=usd(exc.estimate_micros), ceiling_usd=usd(exc.ceiling_micros))
        text = f"refused: {exc.message}."
    elif data["may_have_been_billed"]:
        seen = data["generation_id"]
        text = (
            f"{exc.message}. The request was sent but no usable answer came back, so it MAY "
            "HAVE BEEN BILLED"
            + (f" (generation id {seen})" if seen else "")
            + ". It was not retried and must not be retried automatically: tell the user, who "
            "can check it with `flux2 history --reconcile`."
        )
    elif isinstance(exc, BudgetError):
        text = f"refused, nothing was sent: {exc.message}"
    if made is not None and made.records:
        data["failed"] = [_failure_record(r) for r in made.records]
    if exc.hint and exc.hint not in text:
        text += f"\nhint: {exc.hint}"
    return CallToolResult(
        content=[TextContent(text=redact(text))], structured_content=data, is_error=True
    )


def _kind(exc: Flux2Error) -> str:
    if isinstance(exc, BudgetExceeded) and exc.budget != "max-cost":
        return "budget"
    if isinstance(exc, BudgetError):
        return "ceiling" if isinstance(exc, CeilingRefused) else "budget"
    if isinstance(exc, PathRefused):
        return "path"
    if getattr(exc, "may_be_billed", False):
        return "outcome_unknown"
    return exc.exit_code.name.lower()


# -- running ------------------------------------------------------------------------------------


def serve(policy: Policy) -> None:
    """Serve over stdin/stdout until the client closes stdin."""
    if policy.sandbox:
        from flux_cli.sandbox import Sandbox, SandboxConfig

        with Sandbox(SandboxConfig(port=0)) as sandbox:
            _announce(policy, f"the in-process sandbox at {sandbox.base_url} (no key, no cost)")
            build(Calls(policy, sandbox.base_url)).run("stdio")
        return
    from flux_cli.endpoints import current_api

    _announce(policy, current_api()[1])
    build(Calls(policy)).run("stdio")


def _announce(policy: Policy, where: str) -> None:
    ceiling = policy.max_cost_per_call_micros
    _log(
        f"serving on stdio; API: {where}; writing in {policy.output_dir}; reading "
        + (", ".join(str(d) for d in policy.allow_read) or "nothing")
        + "; per-call ceiling "
        + (format_usd(ceiling, 2) if ceiling is not None else "none")
        + ("; NO BUDGET (--no-budget)" if policy.no_budget else "")
    )
