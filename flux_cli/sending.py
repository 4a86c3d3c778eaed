"""The images of one run (`-n N`): one request each, in parallel, each with its ledger row,
saved as its answer comes and handed on in index order (out/1, out/2, …).

Ctrl-C (`Interrupted`) stops what has not started; the requests in flight finish when the pool
closes. A paid answer cut off while it was being written is kept (`saving.keep_interrupted`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from flux_cli.errors import Flux2Error, Interrupted
from flux_cli.spending import Outcome

if TYPE_CHECKING:
    from flux_cli.batch_work import Sender
    from flux_cli.generation import Plan
    from flux_cli.spending import Spending

MAX_THREADS = 8  # requests at once for -n (at most 16 images)


def send_images(
    plan: Plan,
    spending: Spending,
    client: Sender,
    *,
    save: Callable[[Outcome], None],
    show: Callable[[Outcome, bool], None],
    say_error: Callable[[str], None],
) -> list[Outcome]:
    """Every image of `plan`; their outcomes in index order.

    `save(outcome)` writes the answer and settles its row (`saving.save_and_settle`).
    `show(outcome, in_order)` hands an image on, one at a time: in index order (`in_order`),
    or at once when its row could not be settled (the run then stops with that error).
    `say_error` is told what became of a paid answer cut off by Ctrl-C."""
    lock = threading.Lock()
    outcomes: list[Outcome] = []
    waiting: dict[int, Outcome] = {}  # finished, not yet shown: an image before it is not

    def one(index: int) -> Outcome:
        from flux_cli.saving import keep_interrupted

        outcome = Outcome(index=index, seed=plan.seeds[index])
        try:
            outcome.row_id = spending.reserve(index)
            outcome.result = client.generate(
                plan.request(index),
                plan.route,
                before_ambiguous_retry=spending.before_ambiguous_retry(outcome, index),
            )
        except Flux2Error as exc:
            outcome.error = exc
        except Interrupted:
            message = keep_interrupted(outcome, spending)
            if message is not None:
                say_error(message)
            raise
        try:
            save(outcome)
        except Flux2Error:  # settling the row failed (the ledger stayed locked)
            with lock:  # the image is written, only its row could not be: still name it
                show(outcome, False)
            raise
        with lock:
            outcomes.append(outcome)
            waiting[index] = outcome
            while (next_out := len(outcomes) - len(waiting)) in waiting:
                show(waiting.pop(next_out), True)
        return outcome

    if plan.count == 1:
        one(0)
    else:
        with ThreadPoolExecutor(
            max_workers=min(plan.count, MAX_THREADS), thread_name_prefix="flux2"
        ) as pool:
            try:
                for future in as_completed([pool.submit(one, i) for i in range(plan.count)]):
                    future.result()
            except Interrupted:
                # Images not started yet are not sent; those in flight finish when the pool
                # closes.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    outcomes.sort(key=lambda o: o.index)
    return outcomes
