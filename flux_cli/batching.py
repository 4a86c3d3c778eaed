"""The batch scheduler: many items, at most K requests out at once, answers worked on as they come.

Three kinds of thread share the work, each with one job:

    reserver    keeps up to K items reserved ahead (budgets checked, ledger rows written), a
                round at a time in one transaction, so a free slot has nothing left to do but send
    senders     K of them, one per slot (and per connection pool, its `lane`): take a reserved
                item, send it, hand the answer on, take the next
    answerers   check, save and record answers as soon as they are handed on

Answers wait for an answerer in a queue of at most K, so the image bytes held at any time are
bounded by the concurrency (about 2 × K + answerers images), never by the length of the batch.

Ctrl-C (`Interrupted`, raised in the main thread) stops new requests: items not sent yet stay
unsent (`BatchWork.not_sent` settles the rows reserved for them), the requests in flight finish
and their answers are saved, then `run` raises `Interrupted` again. A second Ctrl-C stops the
wait.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar

from flux_cli.errors import Interrupted

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)

ANSWER_WORKERS = 4  # answers saved at once: more only queue for the interpreter lock
SWITCH_INTERVAL_S = 0.001  # a sender waiting for the interpreter lock gets it sooner


class BatchWork(Protocol[T_contra]):
    """What the scheduler does with an item; every method may run on any of its threads."""

    def reserve(self, items: Sequence[T_contra]) -> None:
        """Check the budgets for these items and write their ledger rows, in one go."""

    def may_send(self, item: T_contra) -> bool:
        """Whether a reserved item is to be sent (False: refused by a budget)."""

    def send(self, item: T_contra, lane: int) -> None:
        """Send the item's request on connection pool `lane` and keep its answer (or failure)."""

    def finish(self, item: T_contra) -> None:
        """Check and save the answer, settle the row, report the item."""

    def not_sent(self, item: T_contra) -> None:
        """The run stopped before this item was sent: settle a row reserved for it."""


class BatchScheduler(Generic[T]):
    def __init__(self, work: BatchWork[T], concurrency: int, *, answerers: int = 0) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.work = work
        self.concurrency = concurrency
        self.answerers = answerers or min(concurrency, ANSWER_WORKERS)
        self._lock = threading.Condition()
        self._pending: deque[T] = deque()  # not reserved yet
        self._reserved: deque[T] = deque()  # reserved, waiting for a slot
        self._reserving = True  # the reserver may still add to `_reserved`
        self._answers: queue.Queue[T | None] = queue.Queue(maxsize=concurrency)
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self.in_flight = 0  # requests out now
        self.most_in_flight = 0
        self.sent = 0

    # -- the main thread ---------------------------------------------------------------------

    def run(
        self,
        items: Sequence[T],
        *,
        while_first_round_is_out: Callable[[], None] = lambda: None,
        on_interrupt: Callable[[int], None] = lambda in_flight: None,
    ) -> None:
        """Every item through reserve, send and finish; returns when all are finished."""
        self._pending = deque(items)
        slots = min(self.concurrency, len(items))
        if slots == 0:
            return
        senders = [
            threading.Thread(target=self._sender, args=(lane,), name=f"flux2-send-{lane}")
            for lane in range(slots)
        ]
        reserver = threading.Thread(target=self._reserver, name="flux2-reserve")
        answerers = [
            threading.Thread(target=self._answerer, name=f"flux2-answer-{n}")
            for n in range(self.answerers)
        ]
        with _switch_interval(SWITCH_INTERVAL_S):
            try:
                self._reserve_round()  # the first round, before any thread starts
                for thread in (*senders, reserver):
                    thread.start()
                try:
                    while_first_round_is_out()
                finally:
                    for thread in answerers:
                        thread.start()
                self._wait_for(senders, reserver, answerers)
            except Interrupted:
                self._stopping.set()
                with self._lock:
                    self._lock.notify_all()
                    in_flight = self.in_flight
                on_interrupt(in_flight)
                try:
                    self._wait_for(senders, reserver, answerers)
                finally:
                    self._settle_unsent()
                raise
        if self._failure is not None:
            self._settle_unsent()
            raise self._failure

    def _wait_for(
        self,
        senders: list[threading.Thread],
        reserver: threading.Thread,
        answerers: list[threading.Thread],
    ) -> None:
        for thread in (*senders, reserver):
            if thread.ident is not None:
                thread.join()
        for thread in answerers:  # one stop sign each (any answerer may take any sign)
            if thread.ident is not None:
                self._answers.put(None)
        for thread in answerers:
            if thread.ident is not None:
                thread.join()

    def _settle_unsent(self) -> None:
        with self._lock:
            unsent = list(self._reserved)
            self._reserved.clear()
            self._pending.clear()
        for item in unsent:
            self.work.not_sent(item)

    def _fail(self, exc: BaseException) -> None:
        with self._lock:
            if self._failure is None:
                self._failure = exc
            self._stopping.set()
            self._lock.notify_all()

    # -- the reserver ------------------------------------------------------------------------

    def _reserve_round(self) -> bool:
        """Reserve as many pending items as there are free places; False once none are left."""
        with self._lock:
            room = self.concurrency - len(self._reserved)
            while room <= 0 and not self._stopping.is_set():
                self._lock.wait()
                room = self.concurrency - len(self._reserved)
            if self._stopping.is_set() or not self._pending:
                return False
            batch = [self._pending.popleft() for _ in range(min(room, len(self._pending)))]
        self.work.reserve(batch)
        with self._lock:
            self._reserved.extend(batch)
            self._lock.notify_all()
        return True

    def _reserver(self) -> None:
        try:
            while self._reserve_round():
                pass
        except BaseException as exc:
            self._fail(exc)
        finally:
            with self._lock:
                self._reserving = False
                self._lock.notify_all()

    # -- the senders -------------------------------------------------------------------------

    def _take(self) -> T | None:
        with self._lock:
            while not self._reserved and self._reserving and not self._stopping.is_set():
                self._lock.wait()
            if self._stopping.is_set() or not self._reserved:
                return None
            item = self._reserved.popleft()
            self._lock.notify_all()  # a place to reserve into
            return item

    def _sender(self, lane: int) -> None:
        try:
            while (item := self._take()) is not None:
                if self.work.may_send(item):
                    with self._lock:
                        self.in_flight += 1
                        self.sent += 1
                        self.most_in_flight = max(self.most_in_flight, self.in_flight)
                    try:
                        self.work.send(item, lane)
                    finally:
                        with self._lock:
                            self.in_flight -= 1
                self._answers.put(item)
        except BaseException as exc:
            self._fail(exc)

    # -- the answerers -----------------------------------------------------------------------

    def _answerer(self) -> None:
        while (item := self._answers.get()) is not None:
            try:
                self.work.finish(item)
            except BaseException as exc:
                self._fail(exc)


@contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    """The interpreter hands its lock round every `seconds` inside the block."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(before)
