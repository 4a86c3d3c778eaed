"""From options to plans: the model for an endpoint, the reference images, the lines of a batch
file, and the requests a dry run would send. Everything here is checked before anything is sent.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from flux_cli.errors import Flux2Error, UsageError
from flux_cli.generation import ModelSpec, Plan, check_prompt, plan_generation, price_source_text
from flux_cli.options import GenerateOptions, model_options, target_format
from flux_cli.sizes import SizeError, parse_size

if TYPE_CHECKING:
    from flux_cli.inputs import Reference
    from flux_cli.ledger import Row
    from flux_cli.output import OutputPlan
    from flux_cli.spending import Outcome

MAX_ITEMS = 10_000
MAX_LINE_BYTES = 256 * 1024
ITEM_KEYS = frozenset(
    {"prompt", "model", "seed", "size", "aspect_ratio", "output", "images", "format"}
    | {"resolution", "steps", "guidance", "safety_tolerance", "prompt_upsampling"}
)
# What a result line (--json) adds to those: ignored on input, so that the failures of a run
# are a batch again (`jq -c 'select(.status != "ok")' results.jsonl | flux2 generate --batch -`).
RESULT_KEYS = frozenset(
    {
        "status", "index", "line", "path", "provider", "route", "width", "height", "bytes",
        "sha256", "estimate_usd", "estimate_micros", "charged_usd", "charged_micros",
        "generation_id", "elapsed_s", "error", "exit_code", "content_credentials", "sidecar",
    }
)  # fmt: skip


def model_for(
    name: str, catalog_url: str | None, *, sandbox: bool = False, unknown_at: int | None = None
) -> tuple[ModelSpec, list[str]]:
    """The model `name`, with what to say about it (the catalog's warnings, a note on its price).

    From the live catalog at `catalog_url` (cached for a day); the built-in sandbox's own catalog
    for `sandbox`; for a dry run, which sends nothing, the cached catalog of any age (else the
    embedded table). A price in the config file wins; `unknown_at`: a model with no price is
    counted at this many micro-dollars a call (--accept-unknown-price)."""
    from flux_cli.config import configured_price
    from flux_cli.openrouter.catalog import resolve
    from flux_cli.openrouter.catalog_cache import load_catalog
    from flux_cli.openrouter.catalog_fetch import sandbox_catalog

    if catalog_url is not None:
        catalog = load_catalog(catalog_url)
    elif sandbox:
        catalog = sandbox_catalog()
    else:
        from flux_cli.credentials import resolve_base_url

        catalog = load_catalog(resolve_base_url(), offline=True)
    warnings = list(catalog.warnings)
    entry = resolve(catalog, name)
    configured = configured_price(entry.id)
    if entry.note and "price" in entry.note and configured is None:
        warnings.append(f"{entry.alias or entry.id}: {entry.note}")  # where its price came from
    model = ModelSpec.from_entry(
        entry, price_source_text(catalog), configured=configured, unknown_at=unknown_at
    )
    return model, warnings


def unknown_price_at(opts: GenerateOptions, max_cost: int | None, count: int) -> int | None:
    """With --accept-unknown-price, what a call of a model with no price is counted at: its share
    of --max-cost among `count` calls."""
    if not opts.accept_unknown_price:
        return None
    if max_cost is None:
        raise UsageError(
            "--accept-unknown-price needs --max-cost: each call is counted at it until its "
            "charge is known"
        )
    return max(1, max_cost // max(1, count))


def preflight(directory: Path) -> None:
    """The output directory, proved writable before anything is sent. Failing here is a bad
    -o (exit 2), not exit 11: that one means an image was paid for and could not be written."""
    from flux_cli import atomic_write
    from flux_cli.errors import OutputError

    try:
        atomic_write.preflight(directory)
    except OutputError as exc:
        raise UsageError(f"{exc.message}; nothing was sent", hint=exc.hint) from None


def load_references(opts: GenerateOptions, model: ModelSpec) -> list[Reference]:
    if not opts.images:
        return []
    from flux_cli import inputs

    if len(opts.images) > model.max_references:
        raise UsageError(
            f"{model.alias} takes at most {model.max_references} reference images, got {len(opts.images)}",
            hint="drop some -i images, or use a model that takes more (pro, max and flex take 8)",
        )
    stdin = getattr(sys.stdin, "buffer", None) if sys.stdin is not None else None
    return inputs.load_references(
        list(opts.images),
        stdin=stdin,
        max_pixels=inputs.max_pixels_for(opts.max_input_mp),
        inline_urls=opts.inline_urls,
    )


def size_option(text: str | None) -> tuple[int, int] | None:
    """`--size WxH` (or a batch line's size) as pixels; a usage error when it is no size."""
    try:
        return parse_size(text) if text is not None else None
    except SizeError as exc:
        raise UsageError(str(exc)) from None


def plan_run(
    opts: GenerateOptions,
    model: ModelSpec,
    prompt: str,
    references: list[Reference],
    output: OutputPlan,
) -> Plan:
    """The plan of one generate or edit run: its -n images, their requests and estimate."""
    return plan_generation(
        model=model,
        prompt=prompt,
        route=opts.route,
        aspect_ratio=opts.aspect_ratio,
        size=size_option(opts.size),
        # A recipe's seed is only worth repeating to a model that takes one.
        seed=None if opts.recipe_seed and not model.takes_seed else opts.seed,
        count=opts.count,
        target_format=target_format(opts.image_format, output),
        references=[r.url for r in references],
        reference_sizes=[r.billed_size for r in references],
        resolution=opts.resolution,
        options=model_options(opts),
    )


@dataclass(frozen=True)
class PreparedRun:
    """A generate or edit run checked and planned, before anything is sent."""

    plan: Plan
    references: list[Reference]
    output: OutputPlan
    max_cost: int | None  # --max-cost, in micro-dollars


def prepare_run(
    opts: GenerateOptions,
    *,
    catalog_url: Callable[[], str | None],
    sandbox: bool,
    stdout_is_tty: Callable[[], bool],
    stdin_is_tty: Callable[[], bool],
    warn: Callable[[str], None],
) -> PreparedRun:
    """Check and plan one run. Everything that can fail without spending is checked here, and
    what needs no network before the catalog is fetched (at the URL `catalog_url()` gives, asked
    only then; the built-in sandbox's for `sandbox`; the cached one for None, see `model_for`). What the checks, the
    catalog and the plan have to say goes to `warn` as it comes."""
    from flux_cli.generation import check_count
    from flux_cli.options import check_stdout_output, image_from_stdin, max_cost_micros
    from flux_cli.output import plan_outputs
    from flux_cli.prompts import read_prompt

    check_count(opts.count)  # before -o is planned for that many
    output = plan_outputs(opts.output, count=opts.count, default_dir=Path("."))
    if output.to_stdout:
        for warning in check_stdout_output(opts, stdout_is_tty=stdout_is_tty()):
            warn(warning)
    size_option(opts.size)

    def prompt() -> str:
        return check_prompt(read_prompt(opts.prompt, opts.prompt_file, stdin_is_tty=stdin_is_tty))

    # With the image on stdin (`-i -`), the prompt is read once the image has been.
    given = None if image_from_stdin(opts, stdin_is_tty=stdin_is_tty()) else prompt()
    max_cost = max_cost_micros(opts)
    url = catalog_url()
    unknown_at = unknown_price_at(opts, max_cost, opts.count)
    model, warnings = model_for(opts.model, url, sandbox=sandbox, unknown_at=unknown_at)
    for warning in warnings:
        warn(warning)
    references = load_references(opts, model)
    plan = plan_run(opts, model, prompt() if given is None else given, references, output)
    if not opts.dry_run and output.directory is not None:
        preflight(output.directory)
    for note in plan.notes:
        warn(note)
    return PreparedRun(plan, references, output, max_cost)


def dry_run_target(built_in_sandbox: bool) -> tuple[str, str]:
    """Where a dry run's requests would go and the key they would carry, masked; without
    failing when there is no key or the base URL is not valid."""
    if built_in_sandbox:
        return "(the built-in sandbox)", "sk-or-v1-…"
    from flux_cli.credentials import DEFAULT_BASE_URL, resolve_base_url, resolve_key

    try:
        base_url = resolve_base_url()
    except UsageError:
        base_url = DEFAULT_BASE_URL
    try:
        masked = resolve_key().masked
    except Flux2Error:
        masked = "(no key found)"
    return base_url, masked


def dry_run_requests(plan: Plan, base_url: str, masked_key: str) -> list[dict[str, Any]]:
    """The requests `plan` would send, as a dry run shows them (the key masked)."""
    from flux_cli.openrouter import wire

    path = "images" if plan.route == "images" else "chat/completions"
    return [
        {
            "method": "POST",
            "url": f"{base_url}/{path}",
            "headers": {
                "Authorization": f"Bearer {masked_key}",
                "Content-Type": "application/json",
            },
            "body": wire.images_body(request)
            if plan.route == "images"
            else wire.chat_body(request),
        }
        for request in plan.requests()
    ]


# -- batch files -------------------------------------------------------------------------------


@dataclass(slots=True)
class Item:
    """One line of a batch file. Its plan is made when the line is checked, dropped, and made
    again just before the line is sent (`lean`); once finished the line keeps only a small
    record (`done`), so a long batch grows neither with its plans nor with its images."""

    line: int
    prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    output: OutputPlan | None = None
    error: Flux2Error | None = None
    outcome: Outcome | None = None
    estimate_micros: int = 0
    started: bool = False  # reserved: sent, or refused by a budget
    charged_micros: int | None = None
    auto_seed: int | None = None  # its seed when it names none (`flux_cli.resume.line_seed`)
    fingerprint: str | None = None  # of its request (`flux_cli.resume`), once planned
    resumed: str | None = None  # --resume: "skipped" or "held" (not sent), "remade"
    resume_reason: str | None = None  # why it is made again or held back
    skipped_row: Row | None = None  # --resume: the earlier row of a line not sent again
    charge_doubt: str | None = None  # its answer's charge was not believed (flux_cli.saving)

    @property
    def failure(self) -> Flux2Error | None:
        return self.error or (self.outcome.error if self.outcome else None)

    def lean(self) -> None:
        """Drop the plan until the line's turn comes (its estimate stays)."""
        self.plan, self.output = None, None

    def done(self) -> None:
        """Keep only what the summary needs."""
        if self.outcome is not None:
            self.started = True
            result = self.outcome.result
            self.charged_micros = result.cost_micros if result is not None else None
            self.error = self.failure
            self.charge_doubt = self.outcome.charge_doubt
            self.outcome = None
        self.plan, self.output, self.prompt, self.overrides = None, None, None, {}


def read_items(stream: IO[bytes], source: str) -> list[Item]:
    """Plain lines are prompts; lines starting with `{` are JSON objects with per-item overrides.
    Blank lines and lines starting with `#` are skipped. A bad line becomes a failed item."""
    from flux_cli.generation import MAX_SEED
    from flux_cli.resume import line_seed

    items: list[Item] = []
    seen: dict[bytes, int] = {}
    for number, raw in enumerate(stream, start=1):
        if len(items) >= MAX_ITEMS:
            raise UsageError(f"{source} has more than {MAX_ITEMS:,} items; split it")
        item = _read_line(number, raw)
        if item is not None:
            text = raw.strip()
            occurrence = seen[text] = seen.get(text, -1) + 1
            item.auto_seed = line_seed(text.decode("utf-8", "replace"), occurrence, MAX_SEED + 1)
            items.append(item)
    return items


def _read_line(number: int, raw: bytes) -> Item | None:
    if len(raw) > MAX_LINE_BYTES:
        return Item(
            number, error=UsageError(f"the line is longer than {MAX_LINE_BYTES // 1024} KiB")
        )
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Item(number, error=UsageError("the line is not valid UTF-8"))
    if not text or text.startswith("#"):
        return None
    if not text.startswith("{"):
        return Item(number, prompt=text)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Item(number, error=UsageError(f"not valid JSON ({exc.msg})"))
    except (ValueError, RecursionError):
        return Item(number, error=UsageError("not valid JSON"))
    if not isinstance(data, dict):
        return Item(number, error=UsageError("not a JSON object"))
    # A null is no value (a result line's `format` of a failed call): the default applies.
    data = {k: v for k, v in data.items() if k not in RESULT_KEYS and v is not None}
    unknown = sorted(set(data) - ITEM_KEYS)
    if unknown:
        return Item(
            number,
            error=UsageError(
                f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(ITEM_KEYS))})"
            ),
        )
    prompt = data.get("prompt")
    return Item(number, prompt=prompt if isinstance(prompt, str) else None, overrides=data)


def _typed(item: Item, key: str, kind: type, default: Any) -> Any:
    value = item.overrides.get(key, default)
    if value is default:
        return value
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise UsageError(f"{key} must be a whole number")
    if kind is str and not isinstance(value, str):
        raise UsageError(f"{key} must be a string")
    if kind is list and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
        raise UsageError(f"{key} must be a list of strings")
    return value


def _item_options(item: Item, opts: GenerateOptions) -> GenerateOptions:
    """The model options of one line (steps, guidance, …), over the command line's."""
    changes: dict[str, Any] = {}
    for key, kinds in (
        ("steps", (int,)),
        ("guidance", (int, float)),
        ("safety_tolerance", (int,)),
        ("prompt_upsampling", (bool,)),
    ):
        if key in item.overrides:
            value = item.overrides[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise UsageError(
                    f"{key} must be {'true or false' if bool in kinds else 'a number'}"
                )
            changes[key] = value
    return replace(opts, **changes)


def _line_seed(item: Item, opts: GenerateOptions, model: ModelSpec) -> int | None:
    """The line's seed, else --seed, else one derived from the line (the same on every run)."""
    seed = _typed(item, "seed", int, opts.seed)
    if seed is None and model.takes_seed:
        return item.auto_seed
    return seed  # type: ignore[no-any-return]


def plan_item(
    item: Item, opts: GenerateOptions, model_named: Callable[[str], ModelSpec], count: int
) -> None:
    """Fill in `item.plan` and `item.output`, or `item.error`."""
    from flux_cli import inputs
    from flux_cli import output as out

    try:
        if item.prompt is None:
            given = item.overrides.get("prompt")
            raise UsageError("no prompt" if given is None else "prompt must be a string")
        prompt = check_prompt(item.prompt)
        model_name = _typed(item, "model", str, None)
        model = model_named(model_name or opts.model)
        size_text = _typed(item, "size", str, opts.size)
        size = size_option(size_text or None)
        aspect_ratio = _typed(item, "aspect_ratio", str, opts.aspect_ratio)
        if "size" in item.overrides and "aspect_ratio" not in item.overrides:
            aspect_ratio = None
        specs = _typed(item, "images", list, list(opts.images))
        if opts.command == "edit" and not specs:
            raise UsageError("no reference image: give the line an images field, or -i")
        if "-" in specs:
            raise UsageError("images cannot come from stdin in a batch")
        if len(specs) > model.max_references:
            raise UsageError(f"{model.alias} takes at most {model.max_references} reference images")
        references = inputs.load_references(
            specs,
            stdin=None,
            max_pixels=inputs.max_pixels_for(opts.max_input_mp),
            inline_urls=opts.inline_urls,
        )
        output_spec = _typed(item, "output", str, opts.output)
        output_plan = out.plan_outputs(
            output_spec, count=count if output_spec == opts.output else 1, default_dir=Path(".")
        )
        if output_plan.to_stdout:
            raise UsageError("a batch cannot write images to stdout")
        fmt = _typed(item, "format", str, opts.image_format)
        item.plan = plan_generation(
            model=model,
            prompt=prompt,
            route=opts.route,
            aspect_ratio=aspect_ratio,
            size=size,
            seed=_line_seed(item, opts, model),
            count=1,
            target_format=target_format(fmt, output_plan),
            references=[r.url for r in references],
            reference_sizes=[r.billed_size for r in references],
            resolution=_typed(item, "resolution", str, opts.resolution),
            options=model_options(_item_options(item, opts)),
        )
        item.output = output_plan
        item.estimate_micros = item.plan.estimate.total_micros
    except Flux2Error as exc:
        item.error = exc
