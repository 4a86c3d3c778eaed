"""What `flux2 generate` (and later `edit`) does once its flags are parsed.

Glue only: read the prompt, plan, show the estimate, send, write, show the charge. The pieces are
the core modules (generation, openrouter, output, images); this module decides what the user sees.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from flux_cli.cli.common import explicit_options
from flux_cli.cli.context import App
from flux_cli.cli.render import Charged, charged_table, estimate_table
from flux_cli.config import ApiKey
from flux_cli.errors import BudgetError, Flux2Error, Interrupted, OutputError, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import (
    MAX_PROMPT_CHARS,
    ModelSpec,
    Plan,
    check_prompt,
    plan_generation,
)
from flux_cli.inputs import Reference
from flux_cli.openrouter.client import ImageResult, OpenRouterClient, RetryNotice, Timeouts
from flux_cli.openrouter.errors import BadResponseError, OpenRouterError
from flux_cli.output import NameFields, OutputPlan
from flux_cli.pricing import format_usd, micros_to_usd, usd_to_micros
from flux_cli.sizes import SizeError, parse_size
from flux_cli.userfiles import read_regular

if TYPE_CHECKING:
    from flux_cli.ledger import Budgets, Ledger, NewEntry
    from flux_cli.metadata import ToWrite
_FORMAT_ALIASES = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "webp": "webp"}


@dataclass(frozen=True)
class GenerateOptions:
    prompt: str | None
    prompt_file: Path | None
    model: str
    aspect_ratio: str | None
    size: str | None
    seed: int | None
    image_format: str | None
    count: int
    output: str | None
    force: bool
    max_cost: str | None
    dry_run: bool
    json_lines: bool
    quiet: bool
    api: str
    timeout: float
    retries: int
    retry_ambiguous: bool
    sandbox: bool
    command: str = "generate"
    metadata: str = "full"
    images: tuple[str, ...] = ()
    inline_urls: bool = False
    max_input_mp: float | None = None
    preview: bool = False
    resolution: str | None = None
    steps: int | None = None
    guidance: float | None = None
    safety_tolerance: int | None = None
    prompt_upsampling: bool | None = None
    accept_unknown_price: bool = False
    recipe_seed: bool = False  # the seed came from a --from recipe, not a flag


@dataclass
class Outcome:
    index: int
    seed: int
    result: ImageResult | None = None
    path: str | None = None
    fmt: str | None = None
    converted_from: str | None = None
    credentials: str | None = None  # content credentials: "kept", "dropped" (conversion), None
    sidecar: str | None = None  # the recipe's XMP sidecar, for an image with credentials
    error: Flux2Error | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    data: bytes | None = None  # the paid bytes, held until written so a failure can rescue them
    row_id: int | None = None  # its ledger row


# -- inputs ------------------------------------------------------------------------------------


def _decode_prompt(data: bytes, where: str) -> str:
    if len(data) > MAX_PROMPT_CHARS * 4:
        raise UsageError(
            f"the prompt from {where} is too long (over {MAX_PROMPT_CHARS:,} characters)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the prompt from {where} is not valid UTF-8 text") from None


def read_prompt(app: App, prompt: str | None, prompt_file: Path | None) -> str:
    if prompt_file is not None:
        if prompt is not None:
            raise UsageError("give the prompt as an argument or with --prompt-file, not both")
        try:
            return _decode_prompt(
                read_regular(prompt_file, "the prompt file", MAX_PROMPT_CHARS * 4 + 1),
                str(prompt_file),
            )
        except OSError as exc:
            raise UsageError(f"cannot read the prompt file {prompt_file}: {exc.strerror}") from None
    if prompt is not None and prompt != "-":
        return prompt
    stdin = sys.stdin
    if stdin is None or (prompt is None and app.stdin_is_tty()):
        raise UsageError(
            "no prompt given",
            hint='flux2 generate "a red fox in the snow", or pipe one in: echo "…" | flux2 generate',
        )
    try:
        data = stdin.buffer.read(MAX_PROMPT_CHARS * 4 + 1)
    except (OSError, ValueError, AttributeError):
        raise UsageError("cannot read the prompt from stdin") from None
    return _decode_prompt(data, "stdin")


def parse_money(text: str, flag: str) -> int:
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        raise UsageError(f"{flag} must be an amount in USD such as 0.50, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise UsageError(f"{flag} must be a positive amount in USD, got {text!r}")
    return usd_to_micros(value)


def _target_format(opts: GenerateOptions, output: OutputPlan) -> str | None:
    asked = None
    if opts.image_format is not None:
        asked = _FORMAT_ALIASES.get(opts.image_format.strip().lower())
        if asked is None:
            raise UsageError(f"--format must be png, jpeg or webp, got {opts.image_format!r}")
    implied = output.requested_format
    if asked and implied and asked != implied:
        raise UsageError(
            f"--format {asked} contradicts the output name's extension ({implied})",
            hint="drop one of them, or give the file a matching extension",
        )
    return asked or implied


# -- endpoint ----------------------------------------------------------------------------------


@contextmanager
def _endpoint(use_sandbox: bool, real: tuple[str, ApiKey] | None) -> Iterator[tuple[str, ApiKey]]:
    """The sandbox started for this run, or the real endpoint resolved earlier."""
    if use_sandbox:
        from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig

        with Sandbox(SandboxConfig(port=0)) as sandbox:
            yield sandbox.base_url, ApiKey(SANDBOX_KEY, "sandbox")
        return
    assert real is not None
    yield real


def _real_endpoint() -> tuple[str, ApiKey]:
    from flux_cli.config import resolve_base_url, resolve_key

    return resolve_base_url(), resolve_key()


# -- the run -----------------------------------------------------------------------------------


def apply_settings(
    opts: GenerateOptions, concurrency: int, explicit: frozenset[str]
) -> tuple[GenerateOptions, int]:
    """Config defaults (env > file > built-in) for every option not given on the command line."""
    from dataclasses import replace

    from flux_cli.images import format_from_extension
    from flux_cli.output import DEFAULT_TEMPLATE
    from flux_cli.settings import load_settings

    settings = load_settings()
    changes: dict[str, Any] = {}
    for option, value in (
        ("model", settings.model),
        ("aspect_ratio", settings.aspect_ratio),
        ("image_format", settings.image_format),
        ("api", settings.route),
        ("metadata", settings.metadata),
    ):
        if option not in explicit and value is not None:
            changes[option] = value
    if "size" in explicit and "aspect_ratio" not in explicit:
        changes.pop("aspect_ratio", None)  # an explicit --size wins over a configured ratio
    if "output" in explicit and opts.output and format_from_extension(opts.output):
        changes.pop("image_format", None)  # so does the extension of an explicit -o name
    if "output" not in explicit and (
        settings.output_dir is not None or settings.output_template != DEFAULT_TEMPLATE
    ):
        directory = str(settings.output_dir) if settings.output_dir is not None else "."
        changes["output"] = f"{directory.rstrip('/')}/{settings.output_template}"
    if "concurrency" not in explicit:
        concurrency = settings.concurrency
    return replace(opts, **changes), concurrency


#: Recipe fields that repeat a request exactly (docs/openrouter-flux2.md#provider-options).
_RECIPE_OPTIONS = ("resolution", "steps", "guidance", "safety_tolerance", "prompt_upsampling")


def apply_recipe(
    opts: GenerateOptions, source: Path, explicit: frozenset[str], notes: list[str] | None = None
) -> GenerateOptions:
    """`--from FILE`: the recipe's settings wherever no flag was given (product.md §2). What the
    recipe cannot give back (its reference images) is said in `notes`."""
    from dataclasses import replace

    from flux_cli.metadata import load_recipe, recipe_to_options

    loaded = load_recipe(source)
    references = loaded.reference_count or 0
    if references and not opts.images and notes is not None:
        images = "image" if references == 1 else "images"
        again = "give them again with -i" if opts.command == "edit" else "flux2 edit --from … -i"
        notes.append(
            f"{source} was made from {references} reference {images}, which a recipe does not "
            f"keep: this makes a new image from its prompt alone ({again} to use them)"
        )
    recipe = recipe_to_options(loaded)
    changes: dict[str, Any] = {}
    if "prompt" in recipe and opts.prompt is None and opts.prompt_file is None:
        changes["prompt"] = recipe["prompt"]
    for name in ("model", "seed", "api", "image_format", *_RECIPE_OPTIONS):
        if name in recipe and name not in explicit:
            changes[name] = recipe[name]
    if "seed" in changes:
        changes["recipe_seed"] = True
    if changes.get("image_format") == "jpeg":
        del changes["image_format"]  # FLUX.2's own default: asking for it changes nothing
    if not {"size", "aspect_ratio"} & explicit:
        if "size" in recipe:
            changes["size"] = recipe["size"]
        elif "aspect_ratio" in recipe:
            changes["aspect_ratio"] = recipe["aspect_ratio"]
    return replace(opts, **changes)


def run_command(
    app: App,
    *,
    opts: GenerateOptions,
    batch: str | None,
    concurrency: int,
    lock: str | None,
    from_file: Path | None = None,
    explicit: frozenset[str] = frozenset(),
) -> None:
    """generate and edit: one run, or a batch, optionally under a named lock."""
    from contextlib import nullcontext

    from flux_cli.locking import hold

    opts, concurrency = apply_settings(opts, concurrency, explicit)
    if opts.metadata not in {"full", "minimal", "none"}:
        raise UsageError(f"--metadata must be full, minimal or none, got {opts.metadata!r}")
    if from_file is not None:
        if batch is not None:
            raise UsageError("--from and --batch do not combine")
        notes: list[str] = []
        opts = apply_recipe(opts, from_file, explicit, notes)
        for note in notes:
            app.warn(note)
    if opts.command == "edit" and not opts.images and batch is None:
        raise UsageError(
            "edit needs at least one reference image",
            hint='give it with -i: flux2 edit "make it night" -i photo.jpg',
        )

    with hold(lock) if lock is not None else nullcontext():
        if batch is not None:
            from flux_cli.cli.batch import run_batch

            run_batch(app, opts, batch, concurrency)
        else:
            run_generate(app, opts)


def run_generate(app: App, opts: GenerateOptions) -> None:
    app.quiet = opts.quiet
    if opts.api not in {"images", "chat"}:
        raise UsageError(f"--api must be images or chat, got {opts.api!r}")
    from flux_cli.generation import MAX_COUNT

    if not 1 <= opts.count <= MAX_COUNT:  # before -o is planned for that many
        raise UsageError(f"-n/--count must be between 1 and {MAX_COUNT}, got {opts.count}")
    from flux_cli import output as out
    from flux_cli.settings import load_settings

    settings = load_settings()
    output_plan = out.plan_outputs(opts.output, count=opts.count, default_dir=Path("."))
    if output_plan.to_stdout:
        if app.stdout_is_tty():
            raise UsageError(
                "refusing to write image bytes to a terminal",
                hint="redirect stdout (flux2 generate … -o - > fox.jpg) or give a file name with -o",
            )
        if opts.json_lines:
            raise UsageError("--json and -o - both write to stdout; choose one")
        if opts.preview:
            app.warn(
                "--preview is ignored with -o -; flux2 inspect FILE --preview draws a saved image"
            )
    # Everything that can fail without spending is checked before the estimate is shown, and
    # what needs no network before the catalog is fetched.
    try:
        size = parse_size(opts.size) if opts.size is not None else None
    except SizeError as exc:
        raise UsageError(str(exc)) from None
    stdin_image = "-" in opts.images
    if stdin_image and app.stdin_is_tty():
        raise UsageError(
            "refusing to read image bytes from a terminal (-i -)",
            hint="pipe the image in (flux2 edit … -i - < photo.jpg) or give its file name with -i",
        )
    if stdin_image and opts.prompt_file is None and opts.prompt in (None, "-"):
        raise UsageError(
            "stdin carries the image (-i -), so the prompt cannot come from stdin",
            hint='give the prompt as an argument: flux2 edit "make it night" -i -',
        )
    prompt = None if stdin_image else check_prompt(read_prompt(app, opts.prompt, opts.prompt_file))
    real = None if opts.sandbox or opts.dry_run else _real_endpoint()
    max_cost = parse_money(opts.max_cost, "--max-cost") if opts.max_cost is not None else None
    model = _resolve_model(app, opts, real, max_cost)
    references = _load_references(opts, model)
    if prompt is None:
        prompt = check_prompt(read_prompt(app, opts.prompt, opts.prompt_file))
    plan = plan_generation(
        model=model,
        prompt=prompt,
        route=opts.api,
        aspect_ratio=opts.aspect_ratio,
        size=size,
        seed=None if opts.recipe_seed and not model.takes_seed else opts.seed,
        count=opts.count,
        target_format=_target_format(opts, output_plan),
        references=[r.url for r in references],
        reference_sizes=[r.billed_size for r in references],
        resolution=opts.resolution,
        options=model_options(opts),
    )
    if not opts.dry_run and output_plan.directory is not None:
        preflight(output_plan.directory)

    for note in plan.notes:
        app.warn(note)
    for reference in references:
        if reference.removed_gps:
            app.info(f"removed GPS location data from {reference.source} before sending it")
    if opts.dry_run:
        _show_estimate(app, plan, references, None)
        _check_max_cost(plan.estimate.total_micros, max_cost)
        _print_dry_run(app, plan, opts.sandbox)
        return

    from flux_cli.ledger import Budgets, Ledger

    api = _api_label(real, sandbox=opts.sandbox)
    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    with Ledger.open() as ledger:
        spending = Spending(ledger, api, budgets, plan, opts.command, settings.store_prompts)
        _show_estimate(app, plan, references, spending.remaining_text())
        _check_max_cost(plan.estimate.total_micros, max_cost)
        outcomes = _send_all(app, opts, plan, output_plan, real, spending)
    _show_charged(app, plan, outcomes)
    _finish(app, outcomes)


def preflight(directory: Path) -> None:
    """The output directory, proved writable before anything is sent. Failing here is a bad
    -o (exit 2), not exit 11: that one means an image was paid for and could not be written."""
    from flux_cli import output as out

    try:
        out.preflight(directory)
    except OutputError as exc:
        raise UsageError(f"{exc.message}; nothing was sent", hint=exc.hint) from None


RECONCILE_HINT = (
    "flux2 history --reconcile settles it once OpenRouter knows the call; one with no "
    "generation id is settled by hand with flux2 history --settle ID failed|ok"
)


def say_reconcile(app: App, unknown: int) -> None:
    """After Ctrl-C: calls cut off may have been billed, and this is how to find out."""
    if unknown:
        calls = "1 call" if unknown == 1 else f"{unknown} calls"
        app.warn(f"{calls} cut off may have been billed: {RECONCILE_HINT}")


def point_at_reconcile(error: Flux2Error) -> Flux2Error:
    """Exit 9 (may have been billed) says how to settle the call."""
    if error.exit_code == ExitCode.OUTCOME_UNKNOWN and "--reconcile" not in (error.hint or ""):
        error.hint = f"{error.hint}; {RECONCILE_HINT}" if error.hint else RECONCILE_HINT
    return error


def _check_max_cost(total: int, max_cost: int | None) -> None:
    if max_cost is not None and total > max_cost:
        raise BudgetError(
            f"the estimate {format_usd(total)} is over --max-cost {format_usd(max_cost)}; nothing was sent",
            hint="raise --max-cost, or lower -n, the size or the model",
        )


def _send_all(
    app: App,
    opts: GenerateOptions,
    plan: Plan,
    output_plan: OutputPlan,
    real: tuple[str, ApiKey] | None,
    spending: Spending,
) -> list[Outcome]:
    """One request per image (in parallel for -n), each with its ledger row."""
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    with (
        _endpoint(opts.sandbox, real) as (base_url, key),
        make_client(app, opts, base_url, key) as client,
    ):
        previewed = False
        waiting: dict[int, Outcome] = {}  # finished, not yet shown: an image before it is not

        def one(index: int) -> Outcome:
            nonlocal previewed
            outcome = Outcome(index=index, seed=plan.seeds[index])
            try:
                outcome.row_id = spending.reserve(index)
                outcome.result = client.generate(plan.request(index), plan.route)
            except Flux2Error as exc:
                outcome.error = exc
            except Interrupted:
                _keep_interrupted(app, outcome, spending)
                raise
            try:
                save_and_settle(app, plan, output_plan, outcome, opts, spending)
            except Flux2Error:  # settling the row failed (the ledger stayed locked)
                with lock:  # the image is written, only its row could not be: still name it
                    _emit(app, plan, outcome, opts.json_lines)
                raise
            with lock:
                outcomes.append(outcome)
                waiting[index] = outcome
                # Paths go out in index order (out/1, out/2, …), each once those before it are out.
                while (next_out := len(outcomes) - len(waiting)) in waiting:
                    ready = waiting.pop(next_out)
                    _emit(app, plan, ready, opts.json_lines)
                    if opts.preview and ready.error is None and ready.path not in (None, "-"):
                        from flux_cli.cli.preview import show_preview

                        assert ready.path is not None
                        show_preview(app, ready.path, announce_skip=not previewed)
                        previewed = True
            return outcome

        try:
            with _waiting(app, plan):
                if plan.count == 1:
                    one(0)
                else:
                    with ThreadPoolExecutor(
                        max_workers=min(plan.count, 8), thread_name_prefix="flux2"
                    ) as pool:
                        try:
                            for future in as_completed(
                                [pool.submit(one, i) for i in range(plan.count)]
                            ):
                                future.result()
                        except Interrupted:
                            # Images not started yet are not sent; those in flight finish
                            # when the pool closes.
                            pool.shutdown(wait=False, cancel_futures=True)
                            raise
        except Interrupted:
            say_reconcile(app, spending.interrupted())
            raise
    outcomes.sort(key=lambda o: o.index)
    return outcomes


def make_client(
    app: App,
    opts: GenerateOptions,
    base_url: str,
    key: ApiKey,
    *,
    announce_retries: Callable[[], bool] = lambda: True,
    lanes: int = 1,
) -> OpenRouterClient:
    """The run's one client: its timeout, retry counts, and retries announced on stderr;
    `lanes` connection pools for that many requests at once."""

    from flux_cli.cli.boundary import resume_gc

    def notice(n: RetryNotice) -> None:
        if announce_retries():
            from flux_cli.cli.live import stamp

            app.info(
                f"{stamp(app)}attempt {n.attempt} failed ({n.reason}); retrying in {n.delay:.1f} s"
            )

    client = OpenRouterClient(
        base_url,
        key,
        timeouts=Timeouts(attempt=opts.timeout),
        max_retries=opts.retries,
        retry_ambiguous=1 if opts.retry_ambiguous else 0,
        on_retry=notice,
        lanes=lanes,
    )
    resume_gc()  # what start-up imports is in by now (generate and edit; see `guarded`)
    return client


def run_cli(ctx: Any, command: str) -> None:
    """generate and edit: Typer has parsed every option into `ctx.params`; build the run from it."""
    from dataclasses import fields

    params = dict(ctx.params)
    names = {f.name for f in fields(GenerateOptions)}
    values = {name: value for name, value in params.items() if name in names}
    values["images"] = tuple(values.get("images") or ())
    run_command(
        ctx.obj,
        opts=GenerateOptions(command=command, **values),
        batch=params["batch"],
        concurrency=params["concurrency"],
        lock=params["lock"],
        from_file=params["from_file"],
        explicit=explicit_options(ctx),
    )


class Spending:
    """The ledger rows of one run: reserved (budgets checked) before each request, settled after."""

    def __init__(
        self,
        ledger: Ledger,
        api: str,
        budgets: Budgets,
        plan: Plan,
        command: str,
        store_prompts: bool,
    ) -> None:
        self.ledger, self.api, self.budgets, self.plan = ledger, api, budgets, plan
        self.command, self.store_prompts = command, store_prompts
        self._open: set[int] = set()
        self._ahead: set[int] = set()  # reserved ahead, request not sent yet
        self._closed = False  # interrupted: no request may start any more
        self._lock = threading.Lock()

    def remaining_text(self) -> str | None:
        if self.budgets.daily_micros is None and self.budgets.monthly_micros is None:
            return None
        left = self.ledger.remaining(self.budgets, self.api)
        parts = []
        if left.daily_micros is not None:
            parts.append(
                f"{format_usd(left.daily_micros)} of {format_usd(self.budgets.daily_micros or 0)} left today"
            )
        if left.monthly_micros is not None:
            parts.append(
                f"{format_usd(left.monthly_micros)} of {format_usd(self.budgets.monthly_micros or 0)} left this month"
            )
        return "budget: " + " · ".join(parts)

    def reserve(self, index: int, *, ahead: bool = False) -> int:
        """Check the budgets and write the `pending` row (synced) for request `index`; its id.

        `ahead`: the row is written while the request still waits for its turn (a batch's
        slot); `sending` must then be called just before it goes, and an interrupted run
        settles the row as not sent instead of unknown."""
        row_id = self.ledger.reserve(self.entry(index), self.budgets, record_refusal=True)
        self.track(row_id, ahead=ahead)
        return row_id

    def entry(self, index: int) -> NewEntry:
        """The ledger row of request `index`, as it is written before the request goes."""
        from flux_cli.ledger import NewEntry
        from flux_cli.pricing import billed_megapixels

        plan = self.plan
        width, height = plan.size
        return NewEntry(
            api=self.api,
            command=self.command,
            model=plan.model.id,
            estimate_micros=plan.estimate.total_micros // plan.count,
            route=plan.route,
            seed=plan.seeds[index],
            width=width,
            height=height,
            output_mp=billed_megapixels(width, height),
            reference_count=len(plan.reference_sizes),
            reference_mp=sum(billed_megapixels(w, h) for w, h in plan.reference_sizes),
            prompt=plan.prompt if self.store_prompts else None,
        )

    def track(self, row_id: int, *, ahead: bool = False) -> None:
        """Count a `pending` row written for this run as open (see `reserve`)."""
        with self._lock:
            self._open.add(row_id)
            if ahead:
                self._ahead.add(row_id)

    def sending(self, row_id: int) -> bool:
        """The request of a row reserved ahead is about to be sent. False once the run has been
        interrupted: it must not be sent then (its row is or will be settled as not sent)."""
        with self._lock:
            if self._closed:
                return False
            self._ahead.discard(row_id)
            return True

    def not_sent(self, row_id: int) -> None:
        """A row reserved ahead whose request was never sent (the run was interrupted first):
        `failed`, charged nothing."""
        with self._lock:
            if row_id not in self._open:
                return
            self._open.discard(row_id)
            self._ahead.discard(row_id)
        self._settle_not_sent(row_id)

    def _settle_not_sent(self, row_id: int) -> None:
        self.ledger.update(
            row_id,
            status="failed",
            charged_micros=0,
            exit_code=int(ExitCode.INTERRUPTED),
            error="interrupted before the request was sent",
        )

    def finish(self, outcome: Outcome) -> None:
        if outcome.row_id is None:
            return  # refused by a budget: nothing was sent, no row was written
        result, error = outcome.result, outcome.error
        status: Literal["ok", "failed", "unknown"]
        charged: int | None
        if result is not None:
            status, charged = "ok", result.cost_micros  # billed, even if writing failed
        elif isinstance(error, BadResponseError):
            status = "failed" if error.cost_micros is not None else "unknown"
            charged = error.cost_micros
        elif isinstance(error, OpenRouterError) and error.may_be_billed:
            status, charged = "unknown", None
        else:
            status, charged = "failed", 0
        self.ledger.update(
            outcome.row_id,
            status=status,
            charged_micros=charged,
            generation_id=result.generation_id if result else getattr(error, "generation_id", None),
            provider=result.provider if result else None,
            paths=[outcome.path] if outcome.path else [],
            sha256s=[outcome.sha256] if outcome.sha256 else [],
            exit_code=int(error.exit_code) if error else 0,
            error=error.message if error else None,
            elapsed_s=result.elapsed_s if result else None,
            synced=False,
        )
        with self._lock:
            self._open.discard(outcome.row_id)

    def interrupted(self) -> int:
        """Rows of requests cut off by Ctrl-C: the call may have gone through. Rows reserved
        ahead whose requests were never sent are settled as such, and none of them is sent now.
        How many rows are left of unknown outcome."""
        with self._lock:
            self._closed = True
            rows = list(self._open)
            ahead = set(self._ahead)
            self._open.clear()
            self._ahead.clear()
        unknown = 0
        for row_id in rows:
            if row_id in ahead:
                self._settle_not_sent(row_id)
            else:
                self.ledger.update(
                    row_id, status="unknown", error="interrupted while waiting for the answer"
                )
                unknown += 1
        return unknown


def ready_for_answers() -> None:
    """Import what checking and saving an answer needs (Pillow with the codecs it loads on first
    use, and the metadata writer: some 40 ms) while requests are out, rather than after the first
    answer has come."""
    try:
        from PIL import Image

        Image.preinit()
        import flux_cli.metadata  # noqa: F401
    except ImportError:
        pass  # it fails again where it is needed, and is reported there


def reserve_ahead(spendings: Sequence[Spending]) -> list[int | BudgetError]:
    """The rows of the first request of each run, reserved ahead (see `Spending.reserve`) in one
    transaction, so that they wait for the disk once; for each, its row id or its refusal.
    They must share a ledger, an API and budgets."""
    if not spendings:
        return []
    first = spendings[0]
    results = first.ledger.reserve_many(
        [spending.entry(0) for spending in spendings], first.budgets, record_refusal=True
    )
    for spending, result in zip(spendings, results, strict=True):
        if isinstance(result, int):
            spending.track(result, ahead=True)
    return list(results)


@contextmanager
def _waiting(app: App, plan: Plan) -> Iterator[None]:
    """A spinner on a terminal while the request is out; nothing otherwise."""
    if app.quiet or not app.stderr_is_tty():
        yield
        return
    from rich.live import Live
    from rich.spinner import Spinner

    what = f"{plan.count} images" if plan.count > 1 else "the image"
    spinner = Spinner("dots", text=f"generating {what} with {plan.model.alias}…")
    # Not console.status(): its Live captures stdout and prints it on stderr while it spins, and
    # stdout is data for whatever reads it (`flux2 generate … > paths.txt` at a terminal).
    from flux_cli.cli.live import shown

    live = Live(
        spinner,
        console=app.err,
        transient=True,
        refresh_per_second=12.5,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with shown(app, live):  # paths written meanwhile go above the spinner
        yield


def _with_metadata(
    app: App,
    plan: Plan,
    outcome: Outcome,
    data: bytes,
    fmt: str,
    level: str,
    converted_from: tuple[bytes, str] | None = None,
) -> ToWrite:
    """The bytes to write: the recipe embedded (pixels untouched), or, for an image with content
    credentials, the image untouched and the recipe as a sidecar (see metadata.for_saving)."""
    from flux_cli import metadata

    result = outcome.result
    assert result is not None
    recipe = metadata.recipe_for(
        plan,
        seed=outcome.seed,
        width=result.width,
        height=result.height,
        fmt=fmt,
        generation_id=result.generation_id,
        provider=result.provider,
        cost_micros=result.cost_micros,
        level=level,
    )
    to_write = metadata.for_saving(data, fmt, recipe, converted_from=converted_from)
    for warning in to_write.warnings:
        app.warn(warning)
    return to_write


def _save(
    app: App,
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    force: bool,
    metadata: str = "full",
) -> None:
    from flux_cli import images
    from flux_cli import output as out

    result = outcome.result
    assert result is not None
    if (result.width, result.height) != plan.size:
        app.warn(
            f"asked for {plan.size[0]}x{plan.size[1]} but the server returned "
            f"{result.width}x{result.height}; the size was not honoured (the charge shows what was billed)"
        )
    data, fmt = result.data, result.format
    converted_from = None
    if plan.target_format is not None and plan.target_format != fmt:
        try:
            data = images.convert_image(data, plan.target_format)
        except images.InvalidImage as exc:
            raise BadResponseError(
                f"converting the image to {plan.target_format} failed ({exc.reason})"
            ) from None
        converted_from = (result.data, fmt)
        outcome.converted_from, fmt = fmt, plan.target_format
    to_write = _with_metadata(app, plan, outcome, data, fmt, metadata, converted_from)
    data, outcome.credentials = to_write.data, to_write.credentials
    outcome.fmt = fmt
    outcome.sha256 = hashlib.sha256(data).hexdigest()
    outcome.size_bytes = len(data)
    outcome.data = data
    if output_plan.directory is None:
        out.write_stdout(data, app.stdout_bytes)
        outcome.path = "-"
        if to_write.sidecar is not None:
            app.info(
                "the image keeps its content credentials, so its recipe is not in it; -o - writes no sidecar"
            )
        return
    fields = NameFields(
        when=datetime.now(),
        model=plan.model.alias,
        seed=outcome.seed,
        prompt=plan.prompt,
        index=outcome.index + 1,
        n=plan.count,
        fmt=fmt,
        generation_id=result.generation_id or "",
    )
    path = out.write_atomic(output_plan.directory, output_plan.name_for(fields), data, force=force)
    outcome.path = str(path)
    if to_write.sidecar is not None:
        from flux_cli.metadata import write_sidecar

        sidecar, warning = write_sidecar(path, to_write.sidecar, force=force)
        outcome.sidecar = str(sidecar) if sidecar is not None else None
        if warning is not None:
            app.warn(warning)


def save_and_settle(
    app: App,
    plan: Plan,
    output_plan: OutputPlan,
    outcome: Outcome,
    opts: GenerateOptions,
    spending: Spending,
) -> None:
    """After a call: write its image (or keep a paid one that cannot be written, or that failed
    our checks), then settle its ledger row. `outcome.error` is the call's own failure, if any."""
    try:
        if outcome.error is not None:
            raise outcome.error
        _save(app, plan, output_plan, outcome, opts.force, opts.metadata)
    except Flux2Error as exc:
        outcome.error = exc
        _rescue_if_paid(app, outcome, exc)
    except Interrupted:
        _keep_interrupted(app, outcome, spending)
        raise
    spending.finish(outcome)


def _keep_interrupted(app: App, outcome: Outcome, spending: Spending) -> None:
    """Ctrl-C after the answer arrived (while writing): the image is paid for, so keep its
    bytes in the rescue dir and settle its row as billed, not as unknown."""
    if outcome.result is None:
        return
    outcome.error = OutputError("interrupted before the image was written")
    _rescue_if_paid(app, outcome, outcome.error)
    spending.finish(outcome)
    app.error(outcome.error.message)


def _rescue_if_paid(app: App, outcome: Outcome, exc: Flux2Error) -> None:
    """A paid image that could not be written, or that failed our checks, is kept in the state dir."""
    from flux_cli import output as out

    data, outcome.data = outcome.data, None
    if data is None and outcome.result is not None:
        data = outcome.result.data
    if data is None and isinstance(exc, BadResponseError):
        data = exc.raw
    if data is None or not isinstance(exc, (OutputError, BadResponseError)):
        return
    try:
        path = out.rescue(data, name_hint=f"seed{outcome.seed}")
    except OutputError:
        return
    exc.message = f"{exc.message}; the image bytes were kept in {path}"
    exc.args = (exc.message,)


def _usd(micros: int | None) -> float | None:
    # JSON has no decimal type: the exact micro-dollar amount, written as the shortest float.
    return None if micros is None else float(micros_to_usd(micros))


def _emit(
    app: App, plan: Plan, outcome: Outcome, json_lines: bool, extra: dict[str, Any] | None = None
) -> None:
    from flux_cli.records import money, seconds

    outcome.data = None
    estimate = plan.estimate.total_micros // plan.count
    result = outcome.result
    if json_lines:
        record: dict[str, Any] = {
            "status": "ok" if outcome.error is None else "failed",
            "index": outcome.index + 1,
            "path": outcome.path,
            "model": plan.model.id,
            "provider": result.provider if result else None,
            "route": plan.route,
            "seed": outcome.seed,
            "width": result.width if result else plan.size[0],
            "height": result.height if result else plan.size[1],
            "format": outcome.fmt,
            "bytes": outcome.size_bytes,
            "sha256": outcome.sha256,
            **money("estimate", estimate),
            **money("charged", result.cost_micros if result else _failed_charge(outcome.error)),
            "generation_id": result.generation_id
            if result
            else getattr(outcome.error, "generation_id", None),
            "elapsed_s": seconds(result.elapsed_s) if result else None,
            "prompt": plan.prompt,
            "content_credentials": outcome.credentials,
            "sidecar": outcome.sidecar,
        }
        if outcome.error is not None:
            record["error"] = outcome.error.message
            record["exit_code"] = int(outcome.error.exit_code)
        record.update(extra or {})
        from flux_cli.metadata import json_text

        app.display(json_text(record))
    elif outcome.error is None and outcome.path not in (None, "-"):
        app.display(str(outcome.path))


def _load_references(opts: GenerateOptions, model: ModelSpec) -> list[Reference]:
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


def _reference_label(reference: Reference) -> str:
    if reference.remote:
        return f"{reference.source} (sent as a URL; size unknown, counted as 1 MP)"
    assert reference.original_size is not None
    assert reference.sent_bytes is not None
    w, h = reference.original_size
    kib = max(1, round(reference.sent_bytes / 1024))
    origin = "" if reference.original_size == reference.sent_size else f"from {w}×{h}, "
    return f"{reference.source} ({origin}{kib:,} KB {reference.sent_format} sent)"


def model_options(opts: GenerateOptions) -> list[tuple[str, object]]:
    """The provider options the flags ask for, by their API names (docs/openrouter-flux2.md)."""
    given: list[tuple[str, object]] = []
    for name, value in (
        ("steps", opts.steps),
        ("guidance", opts.guidance),
        ("safety_tolerance", opts.safety_tolerance),
        ("prompt_upsampling", opts.prompt_upsampling),
    ):
        if value is not None:
            given.append((name, value))
    return given


def _resolve_model(
    app: App,
    opts: GenerateOptions,
    real: tuple[str, ApiKey] | None,
    max_cost: int | None = None,
) -> ModelSpec:
    """From the live catalog (cached for a day) for a real API; the built-in sandbox's own
    catalog for --sandbox; the cached catalog of any age (else the embedded table) for a dry
    run, which sends nothing."""
    from flux_cli.openrouter.catalog import CatalogEntry, load_catalog, resolve, sandbox_catalog
    from flux_cli.settings import configured_price

    if opts.accept_unknown_price and max_cost is None:
        raise UsageError(
            "--accept-unknown-price needs --max-cost: each call is counted at it until its "
            "charge is known"
        )
    if real is not None:
        catalog = load_catalog(real[0])
    elif opts.sandbox:
        catalog = sandbox_catalog()
    else:
        from flux_cli.config import resolve_base_url

        catalog = load_catalog(resolve_base_url(), offline=True)
    for warning in catalog.warnings:
        app.warn(warning)
    entry: CatalogEntry = resolve(catalog, opts.model)
    configured = configured_price(entry.id)
    if entry.note and "price" in entry.note and configured is None:
        app.warn(f"{entry.alias or entry.id}: {entry.note}")  # where its price came from
    unknown_at = None
    if opts.accept_unknown_price and max_cost is not None:
        unknown_at = max(1, max_cost // max(1, opts.count))
    from flux_cli.generation import ModelSpec, price_source_text

    return ModelSpec.from_entry(
        entry, price_source_text(catalog), configured=configured, unknown_at=unknown_at
    )


def _api_label(real: tuple[str, ApiKey] | None, *, sandbox: bool) -> str:
    from flux_cli.cli.api import api_label

    return api_label(real[0] if real else "", sandbox=sandbox)


def _show_estimate(app: App, plan: Plan, references: list[Reference], budget: str | None) -> None:
    if app.quiet:
        return
    app.err.print(
        estimate_table(
            app.err,
            model_id=plan.model.id,
            alias=plan.model.alias,
            route=plan.route,
            price_source=plan.model.price_source,
            estimate=plan.estimate,
            seeds=plan.seeds if plan.sends_seed else (),  # no seed: nothing to reproduce
            reference_labels=[_reference_label(r) for r in references],
            budget=budget,
        )
    )


def _show_charged(app: App, plan: Plan, outcomes: list[Outcome]) -> None:
    if app.quiet:
        return
    per_call = plan.estimate.total_micros // plan.count
    rows = []
    for outcome in outcomes:
        result = outcome.result
        label = f"output {outcome.index + 1}" if plan.count > 1 else "output"
        if outcome.converted_from:
            label += f" ({outcome.converted_from}→{outcome.fmt})"
        if outcome.credentials == "dropped":
            label += ", content credentials dropped"
        rows.append(
            Charged(
                label=label,
                path=outcome.path if outcome.error is None else None,
                estimate_micros=per_call,
                charged_micros=result.cost_micros if result else _failed_charge(outcome.error),
                generation_id=result.generation_id
                if result
                else getattr(outcome.error, "generation_id", None),
                provider=result.provider if result else None,
                elapsed_s=result.elapsed_s if result else None,
                status="not written" if outcome.error else "ok",
            )
        )
    if all(row.status != "ok" and row.charged_micros == 0 for row in rows):
        # Nothing was billed: a "Charged" table of failures would only say so less plainly.
        app.info(
            "not charged: the call failed and was not billed"
            if len(rows) == 1
            else f"not charged: all {len(rows)} calls failed and none was billed"
        )
        return
    app.err.print()
    app.err.print(charged_table(app.err, rows))


def _failed_charge(error: Flux2Error | None) -> int | None:
    if isinstance(error, BadResponseError):
        return error.cost_micros
    if isinstance(error, OpenRouterError) and not error.may_be_billed:
        return 0
    return None


def _finish(app: App, outcomes: list[Outcome]) -> None:
    failures = [o for o in outcomes if o.error is not None]
    if not failures:
        return
    if len(failures) == len(outcomes):
        first = failures[0].error
        assert first is not None
        for other in failures[1:]:
            assert other.error is not None
            app.error(f"image {other.index + 1}: {other.error.message}")
        raise point_at_reconcile(first)
    for failure in failures:
        assert failure.error is not None
        app.error(f"image {failure.index + 1} (seed {failure.seed}): {failure.error.message}")
    raise PartialFailure(
        f"{len(failures)} of {len(outcomes)} images failed; the others were written"
    )


class PartialFailure(Flux2Error):
    exit_code = ExitCode.PARTIAL


def _print_dry_run(app: App, plan: Plan, use_sandbox: bool) -> None:
    from flux_cli.openrouter import wire

    if use_sandbox:
        base_url, masked = "(the built-in sandbox)", "sk-or-v1-…"
    else:
        from flux_cli.config import DEFAULT_BASE_URL, resolve_base_url, resolve_key

        try:
            base_url = resolve_base_url()
        except UsageError:
            base_url = DEFAULT_BASE_URL
        try:
            masked = resolve_key().masked
        except Flux2Error:
            masked = "(no key found)"
    path = "images" if plan.route == "images" else "chat/completions"
    for request in plan.requests():
        body = wire.images_body(request) if plan.route == "images" else wire.chat_body(request)
        app.display(
            json.dumps(
                {
                    "method": "POST",
                    "url": f"{base_url}/{path}",
                    "headers": {
                        "Authorization": f"Bearer {masked}",
                        "Content-Type": "application/json",
                    },
                    "body": body,
                },
                ensure_ascii=False,
            )
        )
    app.info("dry run: nothing was sent")
