"""What each line of a batch goes through: planned (and planned again just before its turn),
reserved, sent, saved and settled. `flux_cli.batching.BatchScheduler` decides when; this module
says what. Nothing here prints: warnings are kept for the caller, and a finished line is handed
to a `report` callback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from flux_cli.errors import Flux2Error, UsageError
from flux_cli.spending import Outcome, Spending, new_run_id, reserve_ahead

if TYPE_CHECKING:
    from flux_cli.generation import ModelSpec
    from flux_cli.ledger import Budgets, Ledger
    from flux_cli.openrouter.client import ImageResult
    from flux_cli.openrouter.errors import OpenRouterError
    from flux_cli.openrouter.wire import ImageRequest
    from flux_cli.options import GenerateOptions
    from flux_cli.planning import Item


def read_batch(batch: str, stdin: IO[bytes] | None) -> list[Item]:
    """The lines of the batch file `batch` (`-`: `stdin`), each read into an item; none is an
    error."""
    from flux_cli.planning import MAX_LINE_BYTES, read_items
    from flux_cli.userfiles import bounded_lines, open_regular

    if batch == "-":
        if stdin is None:
            raise UsageError("--batch - needs the batch on stdin, but stdin is closed")
        items = read_items(bounded_lines(stdin, MAX_LINE_BYTES), "stdin")
    else:
        try:
            with open_regular(Path(batch), "the batch file") as handle:
                items = read_items(bounded_lines(handle, MAX_LINE_BYTES), batch)
        except OSError as exc:
            raise UsageError(f"cannot read the batch file {batch}: {exc.strerror}") from None
    if not items:
        raise UsageError(f"the batch {batch} holds no prompts")
    return items


def batch_headline(items: Sequence[Item], runnable: Sequence[Item], concurrency: int) -> str:
    """`batch: 3 items (1 with errors), estimate $0.060 for 2 images, 2 at a time`."""
    from flux_cli.pricing import format_usd

    total = sum(item.estimate_micros for item in runnable)
    bad = len(items) - len(runnable)
    return (
        f"batch: {len(items)} {'item' if len(items) == 1 else 'items'} ({bad} with errors), "
        f"estimate {format_usd(total)} for {len(runnable)} {'image' if len(runnable) == 1 else 'images'}"
        + (f", {concurrency} at a time" if len(runnable) > 1 else "")
    )


def invalid_lines(items: Sequence[Item]) -> tuple[list[str], UsageError] | None:
    """A dry run's verdict on the lines that cannot be sent: what to say of each, and the error
    it ends with (nothing was sent). None when every line is valid."""
    bad_items = [item for item in items if item.error is not None]
    if not bad_items:
        return None
    said = [f"line {item.line}: {item.error.message}" for item in bad_items if item.error]
    lines = ", ".join(str(item.line) for item in bad_items)
    return said, UsageError(
        f"{len(bad_items)} of {len(items)} batch lines are not valid "
        f"({'line' if len(bad_items) == 1 else 'lines'} {lines}); nothing was sent"
    )


class Sender(Protocol):
    """What sends a request (`OpenRouterClient`)."""

    def generate(
        self,
        request: ImageRequest,
        route: str = ...,
        *,
        lane: int = ...,
        before_ambiguous_retry: Callable[[OpenRouterError], None] | None = ...,
    ) -> ImageResult:
        """Send one generation on connection pool `lane`; its checked answer. An attempt that
        may have been billed is sent again only after `before_ambiguous_retry` returns."""


class BatchPlanner:
    """Plans the lines of one batch: one catalog look-up per model name, and for a real run
    each line's fingerprint (`flux_cli.resume`) under the endpoint's `label`."""

    def __init__(
        self,
        opts: GenerateOptions,
        count: int,
        *,
        catalog_url: str | None,
        sandbox: bool,
        unknown_at: int | None,
        label: str | None,
    ) -> None:
        self.opts, self.count, self.label = opts, count, label
        self.catalog_url, self.sandbox, self.unknown_at = catalog_url, sandbox, unknown_at
        self.models: dict[str, ModelSpec] = {}
        self.warnings: list[str] = []  # what the catalog said, for the caller to say

    def model_named(self, name: str) -> ModelSpec:
        from flux_cli.planning import model_for

        if name not in self.models:
            self.models[name], warnings = model_for(
                name, self.catalog_url, sandbox=self.sandbox, unknown_at=self.unknown_at
            )
            self.warnings.extend(warnings)
        return self.models[name]

    def plan(self, item: Item) -> None:
        """Plan the line (its plan, or its error), and fingerprint its request."""
        from flux_cli.planning import plan_item
        from flux_cli.resume import fingerprint, request_key

        plan_item(item, self.opts, self.model_named, self.count)
        if item.plan is not None and self.label is not None:
            directory = item.output.directory if item.output is not None else None
            key = request_key(self.opts.command, item.plan, directory)
            item.fingerprint = fingerprint(self.label, key)

    def plan_all(self, items: Sequence[Item]) -> tuple[list[Item], set[Path]]:
        """Check every line before anything is sent: the lines that can run, and the
        directories their images go to. Unless it is a dry run, plans are dropped until each
        line's turn comes (`Item.lean`), so a long batch does not hold them all."""
        directories = set()
        for item in items:
            if item.error is None:
                self.plan(item)
            if item.output is not None and item.output.directory is not None:
                directories.add(item.output.directory)
            if not self.opts.dry_run:
                item.lean()
        return [item for item in items if item.error is None], directories


@dataclass
class PreparedBatch:
    """A batch read and checked line by line, before anything is sent."""

    items: list[Item]
    runnable: list[Item]  # the lines that can be sent
    planner: BatchPlanner
    max_cost: int | None  # --max-cost, in micro-dollars

    @property
    def total_micros(self) -> int:
        return sum(item.estimate_micros for item in self.runnable)


def prepare_batch(
    opts: GenerateOptions,
    batch: str,
    stdin: IO[bytes] | None,
    *,
    endpoint: Callable[[], tuple[str, str]],
    sandbox: bool,
    warn: Callable[[str], None],
) -> PreparedBatch:
    """Read the batch and plan every line; `endpoint()` gives the base URL and label of the API
    (asked only for a real run); what the catalog says goes to `warn`."""
    from flux_cli.options import max_cost_micros
    from flux_cli.planning import preflight, unknown_price_at

    items = read_batch(batch, stdin)
    max_cost = max_cost_micros(opts)
    base_url, label = (None, None) if opts.dry_run else endpoint()
    planner = BatchPlanner(
        opts,
        len(items),
        catalog_url=None if sandbox else base_url,
        sandbox=sandbox,
        # An unknown price counts each item at its share of --max-cost.
        unknown_at=unknown_price_at(opts, max_cost, len(items)),
        label=label,
    )
    runnable, directories = planner.plan_all(items)
    for warning in planner.warnings:
        warn(warning)
    for directory in directories:
        preflight(directory)
    return PreparedBatch(items, runnable, planner, max_cost)


class BatchRun:
    """A batch's lines through the scheduler (`flux_cli.batching.BatchWork`): reserve a round
    of ledger rows at once, send, save and settle; on Ctrl-C, the rows left to settle."""

    def __init__(
        self,
        client: Sender,
        ledger: Ledger,
        endpoint: str,
        budgets: Budgets,
        opts: GenerateOptions,
        *,
        store_prompts: bool,
        plan: Callable[[Item], None],
        report: Callable[[Item], None],
        say: Callable[[Outcome], None],
    ) -> None:
        self.client, self.ledger, self.endpoint, self.budgets = client, ledger, endpoint, budgets
        self.opts, self.store_prompts = opts, store_prompts
        self.plan = plan  # again, just before the item's turn
        self.report = report  # a line is finished (sent or not): show it
        self.say = say  # the warnings and notes of saving an answer
        self.run_id = new_run_id()  # on every row of this run: `flux2 history --run ID`
        self.open: dict[int, Spending] = {}  # by line: items whose rows are not settled yet
        self.open_lock = threading.Lock()
        self.cut_off = 0  # after a failed run: the calls cut off that may have been billed

    def run(
        self,
        items: list[Item],
        concurrency: int,
        on_interrupt: Callable[[int], None] = lambda in_flight: None,
    ) -> None:
        from flux_cli.batching import BatchScheduler
        from flux_cli.saving import ready_for_answers

        scheduler: BatchScheduler[Item] = BatchScheduler(self, concurrency)
        try:
            scheduler.run(
                items, while_first_round_is_out=ready_for_answers, on_interrupt=on_interrupt
            )
        except BaseException:
            with self.open_lock:
                still_open = list(self.open.values())
            self.cut_off = sum(spending.interrupted() for spending in still_open)
            raise

    # -- BatchWork ---------------------------------------------------------------------------

    def reserve(self, items: Sequence[Item]) -> None:
        from flux_cli.resume import verify_made

        spendings, planned = [], []
        for item in items:
            if item.resumed == "verify" and verify_made(item):
                continue  # made earlier: reported when the scheduler hands it on, never sent
            self.plan(item)
            if item.plan is None:  # a reference image went away since the line was checked
                continue
            planned.append(item)
            spending = Spending(
                self.ledger,
                self.endpoint,
                self.budgets,
                item.plan,
                self.opts.command,
                self.store_prompts,
                self.run_id,
                item.fingerprint,
            )
            item.outcome = Outcome(index=item.line - 1, seed=item.plan.seeds[0])
            spendings.append(spending)
            with self.open_lock:
                self.open[item.line] = spending
        for item, result in zip(planned, reserve_ahead(spendings), strict=True):
            assert item.outcome is not None
            if isinstance(result, int):
                item.outcome.row_id = result
            else:
                item.outcome.error = result  # refused by a budget: it is never sent

    def may_send(self, item: Item) -> bool:
        outcome = item.outcome
        if outcome is None or outcome.error is not None or outcome.row_id is None:
            return False
        return self.open[item.line].sending(outcome.row_id)

    def send(self, item: Item, lane: int) -> None:
        assert item.plan is not None
        assert item.outcome is not None
        try:
            item.outcome.result = self.client.generate(
                item.plan.request(0),
                item.plan.route,
                lane=lane,
                before_ambiguous_retry=self.open[item.line].before_ambiguous_retry(item.outcome, 0),
            )
        except Flux2Error as exc:
            item.outcome.error = exc

    def finish(self, item: Item) -> None:
        from flux_cli.saving import save_for_run

        plan, output_plan, outcome = item.plan, item.output, item.outcome
        if plan is None:  # failed when planned again: never sent
            self.report(item)
            item.done()
            return
        assert output_plan is not None
        assert outcome is not None
        with self.open_lock:
            spending = self.open.pop(item.line)
        save_for_run(self.opts, plan, output_plan, outcome, spending, say=self.say)
        self.report(item)
        item.done()

    def not_sent(self, item: Item) -> None:
        with self.open_lock:
            spending = self.open.pop(item.line, None)
        if spending is not None and item.outcome is not None and item.outcome.row_id is not None:
            spending.not_sent(item.outcome.row_id)
