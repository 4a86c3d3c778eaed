"""`--batch FILE`: many prompts in one run, for pipelines and cron (product.md §2).

Every line is planned before anything is sent, so a bad line fails on its own without costing
anything; the good ones then run K at a time over one shared HTTP client, each with its own budget
check and ledger row. Progress is a bar on a terminal, one plain line per finished item otherwise,
nothing with --quiet; --json prints one line per item as it finishes; one summary table ends the run.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import wait as wait_for
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from flux_cli.cli.context import App
from flux_cli.cli.run import (
    GenerateOptions,
    Outcome,
    Spending,
    _api_label,
    _check_max_cost,
    _emit,
    _endpoint,
    _keep_interrupted,
    _real_endpoint,
    _resolve_model,
    _target_format,
    make_client,
    model_options,
    parse_money,
    point_at_reconcile,
    preflight,
    ready_for_answers,
    reserve_ahead,
    save_and_settle,
    say_reconcile,
)
from flux_cli.errors import Flux2Error, Interrupted, UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import ModelSpec, Plan, check_prompt, plan_generation
from flux_cli.output import OutputPlan
from flux_cli.pricing import format_usd
from flux_cli.sizes import SizeError, parse_size
from flux_cli.userfiles import bounded_lines, open_regular

MAX_ITEMS = 10_000
QUIET_S = 0.005
TURNS = 2  # answers worked on at once while requests remain to be sent
LAST_TURNS = 4  # and once every request has been sent
HOLD_S = 0.1
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
        "generation_id", "elapsed_s", "error", "exit_code",
    }
)  # fmt: skip


@dataclass
class Item:
    line: int
    prompt: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    plan: Plan | None = None
    output: OutputPlan | None = None
    error: Flux2Error | None = None
    outcome: Outcome | None = None


class BatchFailure(Flux2Error):
    exit_code = ExitCode.PARTIAL


def read_items(stream: IO[bytes], source: str) -> list[Item]:
    """Plain lines are prompts; lines starting with `{` are JSON objects with per-item overrides.
    Blank lines and lines starting with `#` are skipped. A bad line becomes a failed item."""
    items: list[Item] = []
    for number, raw in enumerate(stream, start=1):
        if len(items) >= MAX_ITEMS:
            raise UsageError(f"{source} has more than {MAX_ITEMS:,} items; split it")
        if len(raw) > MAX_LINE_BYTES:
            items.append(
                Item(
                    number,
                    error=UsageError(f"the line is longer than {MAX_LINE_BYTES // 1024} KiB"),
                )
            )
            continue
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            items.append(Item(number, error=UsageError("the line is not valid UTF-8")))
            continue
        if not text or text.startswith("#"):
            continue
        if not text.startswith("{"):
            items.append(Item(number, prompt=text))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            items.append(Item(number, error=UsageError(f"not valid JSON ({exc.msg})")))
            continue
        except (ValueError, RecursionError):
            items.append(Item(number, error=UsageError("not valid JSON")))
            continue
        if not isinstance(data, dict):
            items.append(Item(number, error=UsageError("not a JSON object")))
            continue
        # A null is no value (a result line's `format` of a failed call): the default applies.
        data = {k: v for k, v in data.items() if k not in RESULT_KEYS and v is not None}
        unknown = sorted(set(data) - ITEM_KEYS)
        if unknown:
            items.append(
                Item(
                    number,
                    error=UsageError(
                        f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(ITEM_KEYS))})"
                    ),
                )
            )
            continue
        prompt = data.get("prompt")
        items.append(
            Item(number, prompt=prompt if isinstance(prompt, str) else None, overrides=data)
        )
    return items


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


def plan_item(
    item: Item, opts: GenerateOptions, model_for: Callable[[str], ModelSpec], count: int
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
        model = model_for(model_name or opts.model)
        size_text = _typed(item, "size", str, opts.size)
        try:
            size = parse_size(size_text) if size_text else None
        except SizeError as exc:
            raise UsageError(str(exc)) from None
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
        item_opts = replace(opts, image_format=fmt, output=output_spec)
        item.plan = plan_generation(
            model=model,
            prompt=prompt,
            route=opts.api,
            aspect_ratio=aspect_ratio,
            size=size,
            seed=_typed(item, "seed", int, opts.seed),
            count=1,
            target_format=_target_format(item_opts, output_plan),
            references=[r.url for r in references],
            reference_sizes=[r.billed_size for r in references],
            resolution=_typed(item, "resolution", str, opts.resolution),
            options=model_options(_item_options(item, opts)),
        )
        item.output = output_plan
    except Flux2Error as exc:
        item.error = exc


@dataclass
class Progress:
    """What people see while a batch runs: a bar on a terminal, plain lines otherwise."""

    app: App
    total: int
    done: int = 0
    spent_micros: int = 0
    _bar: Any = None
    _task: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Progress:
        if not self.app.quiet and self.app.stderr_is_tty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import (
                Progress as Bar,
            )

            self._bar = Bar(
                TextColumn("batch"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("· spent {task.fields[spent]}"),
                TimeElapsedColumn(),
                console=self.app.err,
                transient=True,
                # Rich would otherwise capture stdout and print it on stderr above the bar:
                # stdout is data for the next program and must stay where it is.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._bar.__enter__()
            self.app.live = self._bar.live  # paths written meanwhile go above the bar
            self._task = self._bar.add_task("batch", total=self.total, spent=format_usd(0))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self.app.live = None
            self._bar.__exit__(None, None, None)

    def finished(self, item: Item) -> None:
        outcome = item.outcome
        with self._lock:
            self.done += 1
            if outcome is not None and outcome.result is not None and outcome.result.cost_micros:
                self.spent_micros += outcome.result.cost_micros
            if self._bar is not None:
                self._bar.update(
                    self._task, completed=self.done, spent=format_usd(self.spent_micros)
                )
                return
            if self.app.quiet:
                return
            from flux_cli.cli.live import stamp

            self.app.err.print(
                _plain_line(item, self.done, self.total, stamp(self.app)),
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _plain_line(item: Item, done: int, total: int, time: str = "") -> str:
    from flux_cli.redact import redact
    from flux_cli.textsafe import strip_control

    prefix = f"flux2: {time}[{done}/{total}] line {item.line}:"
    outcome = item.outcome
    error = item.error or (outcome.error if outcome else None)
    if error is not None:
        return strip_control(
            redact(f"{prefix} failed (exit {int(error.exit_code)}): {error.message}")
        )
    assert outcome is not None
    assert outcome.result is not None
    cost = outcome.result.cost_micros
    return strip_control(
        f"{prefix} ok {format_usd(cost) if cost is not None else '?'} {outcome.path}"
    )


def run_batch(app: App, opts: GenerateOptions, batch: str, concurrency: int) -> None:
    from flux_cli.ledger import Budgets, Ledger
    from flux_cli.settings import load_settings

    app.quiet = opts.quiet
    if not 1 <= concurrency <= 32:
        raise UsageError(f"--concurrency must be between 1 and 32, got {concurrency}")
    if opts.prompt is not None or opts.prompt_file is not None:
        raise UsageError("--batch takes its prompts from the batch file; give no prompt argument")
    if opts.count != 1:
        raise UsageError("-n does not combine with --batch; repeat the line instead")
    if opts.output == "-":
        raise UsageError("a batch cannot write images to stdout (-o -)")
    if opts.preview:
        app.warn("--preview is ignored with --batch; flux2 inspect FILE --preview draws one image")
    settings = load_settings()
    if batch == "-":
        if sys.stdin is None:
            raise UsageError("--batch - needs the batch on stdin, but stdin is closed")
        items = read_items(bounded_lines(sys.stdin.buffer, MAX_LINE_BYTES), "stdin")
    else:
        try:
            with open_regular(Path(batch), "the batch file") as handle:
                items = read_items(bounded_lines(handle, MAX_LINE_BYTES), batch)
        except OSError as exc:
            raise UsageError(f"cannot read the batch file {batch}: {exc.strerror}") from None
    if not items:
        raise UsageError(f"the batch {batch} holds no prompts")

    real = None if opts.sandbox or opts.dry_run else _real_endpoint()
    models: dict[str, ModelSpec] = {}
    max_cost = parse_money(opts.max_cost, "--max-cost") if opts.max_cost is not None else None

    def model_for(name: str) -> ModelSpec:
        if name not in models:
            # An unknown price counts each item at its share of --max-cost (count = the items).
            share = replace(opts, model=name, count=len(items))
            models[name] = _resolve_model(app, share, real, max_cost)
        return models[name]

    for item in items:
        if item.error is None:
            plan_item(item, opts, model_for, len(items))
    runnable = [item for item in items if item.plan is not None]
    for directory in {
        item.output.directory for item in runnable if item.output and item.output.directory
    }:
        preflight(directory)
    total = sum(item.plan.estimate.total_micros for item in runnable if item.plan)
    if not opts.quiet:
        bad = len(items) - len(runnable)
        app.info(
            f"batch: {len(items)} {'item' if len(items) == 1 else 'items'} ({bad} with errors), "
            f"estimate {format_usd(total)} for {len(runnable)} {'image' if len(runnable) == 1 else 'images'}"
            + (f", {concurrency} at a time" if len(runnable) > 1 else "")
        )
    _check_max_cost(total, max_cost)
    if opts.dry_run:
        from flux_cli.cli.run import _print_dry_run

        for item in runnable:
            assert item.plan is not None
            _print_dry_run(app, item.plan, opts.sandbox)
        bad_items = [item for item in items if item.error is not None]
        for item in bad_items:
            assert item.error is not None
            app.error(f"line {item.line}: {item.error.message}")
        if bad_items:
            lines = ", ".join(str(item.line) for item in bad_items)
            raise UsageError(
                f"{len(bad_items)} of {len(items)} batch lines are not valid "
                f"({'line' if len(bad_items) == 1 else 'lines'} {lines}); nothing was sent"
            )
        return

    api = _api_label(real, sandbox=opts.sandbox)
    budgets = Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    lock = threading.Lock()
    spendings: list[Spending] = []
    with (
        Ledger.open() as ledger,
        _endpoint(opts.sandbox, real) as (base_url, key),
        Progress(app, len(items)) as progress,
    ):
        for item in items:
            if item.error is not None:
                _report(app, item, opts, lock, progress)
        client = make_client(
            app,
            opts,
            base_url,
            key,
            announce_retries=lambda: progress._bar is None,
            lanes=concurrency,
        )

        # `concurrency` requests are out at once. A worker gives its slot back as soon as the
        # answer's bytes are in, and checks, saves and records the image while the next request
        # of the batch is already on its way; twice as many workers as slots keep every slot busy.
        slots = threading.BoundedSemaphore(concurrency)
        # Each slot has its own connection pool (a lane of the client): threads that share
        # one pool queue on its lock, and with the interpreter lock changing hands in between,
        # a burst of answers and requests would crawl.
        lanes: queue.SimpleQueue[int] = queue.SimpleQueue()
        for lane in range(concurrency):
            lanes.put(lane)
        stop = threading.Event()
        # A thread that sends waits for the interpreter lock behind the threads that check and
        # save answers: every ledger write and socket call gives the lock up and must win it
        # back. So answers are worked on two at a time (one per core; more only queue for the
        # lock), and the lock is handed round every 1 ms instead of 5: a freed slot sends its
        # next request within milliseconds instead of waiting behind a round of answers.
        turns = threading.Semaphore(TURNS)
        # And an answer is checked only once a burst of answers has passed and the requests
        # the freed slots owe have been sent (see `answer_in`): checking during a burst would
        # hold up the burst of requests that follows it.
        owed = threading.Condition()
        # Answers are worked on once what that needs has been imported, while the first
        # round of requests was out.
        warmed = threading.Event()
        # [requests owed by slots that are free or about to be taken, items not started yet]
        owing = [min(concurrency, len(runnable)), len(runnable)]

        last_answer = [0.0]

        def answer_in(slot: _Slot, turn: _Slot) -> None:
            with owed:
                if owing[1] > 0:
                    owing[0] += 1
                last_answer[0] = time.monotonic()
            slot.release()
            warmed.wait()  # (never importing while the main thread imports)
            turn.acquire()
            # Holding a turn, wait for a burst of answers to pass: until the requests that freed
            # slots owe have gone and no answer has come for QUIET_S (HOLD_S at most).
            deadline = time.monotonic() + HOLD_S
            with owed:
                while owing[1] > 0 and (now := time.monotonic()) < deadline:
                    quiet_in = last_answer[0] + QUIET_S - now
                    if owing[0] == 0 and quiet_in <= 0:
                        break
                    owed.wait(min(quiet_in if quiet_in > 0 else HOLD_S, deadline - now))

        # Waiters only care about "nothing owed": waking them all on every change would have
        # every waiting thread take the interpreter lock in turn, in the middle of a burst.
        def request_going() -> None:
            with owed:
                owing[0] = max(0, owing[0] - 1)
                if owing[0] == 0:
                    owed.notify_all()

        def started(*, sends: bool) -> None:
            with owed:
                owing[1] -= 1
                if owing[1] == 0:
                    # Nothing is left to send: answers need not make way for requests any
                    # more, and more of them at once overlap their waits for the disk.
                    turns.release(LAST_TURNS - TURNS)
                    owed.notify_all()
                # No more requests are owed than there are items left to send.
                owing[0] = min(owing[0], owing[1] + sends)
                if owing[0] == 0:
                    owed.notify_all()

        def prepare(item: Item) -> tuple[Spending, Outcome]:
            plan = item.plan
            assert plan is not None
            spending = Spending(ledger, api, budgets, plan, opts.command, settings.store_prompts)
            with lock:
                spendings.append(spending)
            return spending, Outcome(index=item.line - 1, seed=plan.seeds[0])

        def one(item: Item, prepared: tuple[Spending, Outcome] | None = None) -> None:
            plan, output_plan = item.plan, item.output
            assert plan is not None
            assert output_plan is not None
            spending, outcome = prepared or prepare(item)
            slot, turn = _Slot(slots, held=False, lanes=lanes), _Slot(turns, held=False)
            with slot, turn:
                # (An item of the first round comes with its row, or with a budget's refusal.)
                if outcome.error is None and not slot.acquire(blocking=False):
                    if outcome.row_id is None:
                        # Every slot is busy: check the budgets and write this item's ledger
                        # row while it waits (once the requests that are due have gone), so
                        # that a freed slot has nothing left to do but send.
                        with owed:
                            owed.wait_for(lambda: owing[0] == 0, timeout=0.1)
                        if not stop.is_set():
                            try:
                                outcome.row_id = spending.reserve(0, ahead=True)
                            except Flux2Error as exc:  # refused by a budget: it needs no slot
                                outcome.error = exc
                    if outcome.error is None:
                        slot.acquire()
                if stop.is_set():  # interrupted while this item waited for a slot: never sent
                    if outcome.row_id is not None:
                        spending.not_sent(outcome.row_id)
                    return
                started(sends=outcome.error is None)
                item.outcome = outcome
                if outcome.error is None:
                    try:
                        try:
                            if outcome.row_id is None:
                                outcome.row_id = spending.reserve(0)
                            elif not spending.sending(outcome.row_id):
                                return  # the run was interrupted; the row says not sent
                        finally:
                            request_going()  # or refused by a budget: this slot is free again
                        outcome.result = client.generate(
                            plan.request(0),
                            plan.route,
                            on_answer=lambda: answer_in(slot, turn),
                            lane=slot.lane,
                        )
                    except Flux2Error as exc:
                        outcome.error = exc
                    except Interrupted:
                        _keep_interrupted(app, outcome, spending)
                        raise
                save_and_settle(app, plan, output_plan, outcome, opts, spending)
            _report(app, item, opts, lock, progress)

        with (
            _switch_interval(0.001),
            client,
            ThreadPoolExecutor(
                max_workers=2 * concurrency, thread_name_prefix="flux2-batch"
            ) as pool,
        ):
            futures: list[Future[None]] = []  # in the order of `runnable`
            try:
                # The first round: its rows are written in one transaction (one wait for the
                # disk instead of one each), and the rest start once its requests have gone, so
                # that starting their threads does not hold these up.
                first = [(item, prepare(item)) for item in runnable[:concurrency]]
                reserved = reserve_ahead([spending for _, (spending, _) in first])
                for (_, (_, outcome)), result in zip(first, reserved, strict=True):
                    if isinstance(result, int):
                        outcome.row_id = result
                    else:
                        outcome.error = result
                futures += [pool.submit(one, item, prepared) for item, prepared in first]
                with owed:
                    owed.wait_for(lambda: owing[0] == 0, timeout=0.1)
                futures += [pool.submit(one, item) for item in runnable[concurrency:]]
                try:
                    ready_for_answers()
                finally:
                    warmed.set()
                for future in as_completed(futures):
                    future.result()
            except Interrupted:
                warmed.set()
                stop.set()
                pool.shutdown(wait=False, cancel_futures=True)
                # Only what a worker is running: futures cancelled in the queue are never
                # "notified", and concurrent.futures.wait() would wait for them forever. A
                # worker waiting for a slot stops once it gets one (`stop`), and settles the row
                # it wrote ahead as not sent.
                in_flight = [f for f in futures if f.running()]
                busy = sum(
                    1
                    for item, future in zip(runnable, futures, strict=False)
                    if item.outcome is not None and not future.done()
                )
                app.warn(
                    f"interrupted: no new items start; waiting for the {busy} in flight "
                    "(Ctrl-C again to stop waiting)"
                )
                try:
                    wait_for(in_flight)
                finally:
                    say_reconcile(app, sum(spending.interrupted() for spending in spendings))
                raise
    _summary(app, items)
    _finish(items)


@contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """The interpreter hands its lock round every `seconds` inside the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


class _Slot:
    """A place in a bounded pool (the batch's request slots, or its turns at working on
    answers), given back at most once: on `release` or when the `with` block ends. With
    `lanes`, a place comes with a lane of the client, given back with it."""

    def __init__(
        self,
        pool: threading.Semaphore,
        *,
        held: bool = True,
        lanes: queue.SimpleQueue[int] | None = None,
    ) -> None:
        self._pool = pool
        self._take = held
        self._held = False
        self._lanes = lanes
        self.lane = 0

    def __enter__(self) -> _Slot:
        if self._take:
            self.acquire()
        return self

    def acquire(self, *, blocking: bool = True) -> bool:
        self._held = self._pool.acquire(blocking)
        if self._held and self._lanes is not None:
            # There are never fewer free lanes than free places: a lane is put back first.
            self.lane = self._lanes.get_nowait()
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            if self._lanes is not None:
                self._lanes.put(self.lane)
            self._pool.release()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _report(
    app: App, item: Item, opts: GenerateOptions, lock: threading.Lock, progress: Progress
) -> None:
    with lock:
        if opts.json_lines:
            if item.plan is not None and item.outcome is not None:
                _emit(app, item.plan, item.outcome, True, {"line": item.line, "index": item.line})
            else:
                error = item.error
                assert error is not None
                app.display(
                    json.dumps(
                        {
                            "status": "failed",
                            "line": item.line,
                            "index": item.line,
                            # the line as given, so that the failures are a batch again
                            **{k: v for k, v in item.overrides.items() if k in ITEM_KEYS},
                            "prompt": item.prompt,
                            "error": error.message,
                            "exit_code": int(error.exit_code),
                        },
                        ensure_ascii=False,
                    )
                )
        elif item.outcome is not None and item.outcome.error is None and item.outcome.path:
            app.display(item.outcome.path)
    progress.finished(item)


def _item_error(item: Item) -> Flux2Error | None:
    return item.error or (item.outcome.error if item.outcome else None)


def _summary(app: App, items: list[Item]) -> None:
    if app.quiet:
        return
    from flux_cli.cli.render import _table

    ok = [i for i in items if _item_error(i) is None and i.outcome is not None]
    failed = [i for i in items if _item_error(i) is not None]
    blocked = [i for i in failed if int(_item_error(i).exit_code) == ExitCode.BUDGET]  # type: ignore[union-attr]
    estimate = sum(
        i.plan.estimate.total_micros for i in items if i.plan is not None and i.outcome is not None
    )
    charged = sum(
        i.outcome.result.cost_micros or 0
        for i in items
        if i.outcome is not None and i.outcome.result is not None
    )
    table = _table(app.err, "Batch summary")
    table.show_header = False
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("items", str(len(items)))
    table.add_row("written", str(len(ok)))
    table.add_row(
        "failed", f"{len(failed)}" + (f" ({len(blocked)} blocked by a budget)" if blocked else "")
    )
    table.add_row("estimate", format_usd(estimate))
    table.add_row("charged", format_usd(charged))
    app.err.print()
    app.err.print(table)
    for item in failed[:20]:
        error = _item_error(item)
        assert error is not None
        app.error(f"line {item.line}: {error.message}")
    if len(failed) > 20:
        app.error(f"… and {len(failed) - 20} more failed lines (see --json)")


def _finish(items: list[Item]) -> None:
    failed = [i for i in items if _item_error(i) is not None]
    if not failed:
        return
    lines = ("line " if len(failed) == 1 else "lines ") + ", ".join(
        str(i.line) for i in failed[:10]
    )
    lines += " …" if len(failed) > 10 else ""
    if len(failed) == len(items):
        # Nothing was written: the exit code of the first failure says why (7 when a budget
        # stopped every item, 4 for a bad key, …).
        first = _item_error(failed[0])
        assert first is not None
        raise _AllFailed(point_at_reconcile(first), lines)
    raise BatchFailure(
        f"{len(failed)} of {len(items)} items failed ({lines}); the others were written"
    )


class _AllFailed(Flux2Error):
    def __init__(self, first: Flux2Error, lines: str) -> None:
        super().__init__(
            f"every item of the batch failed ({lines}); the first: {first.message}",
            hint=first.hint,
        )
        self.exit_code = first.exit_code
