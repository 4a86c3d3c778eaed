"""The batch scheduler, driven by a fake sender: slots, Ctrl-C, budget refusals, failures."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

import pytest

from flux_cli.batching import BatchScheduler
from flux_cli.errors import Interrupted, OutputError

WAIT_S = 10.0  # a generous bound for events; a correct scheduler never comes near it


class FakeWork:
    """Records what the scheduler asks for; `send` runs `on_send` (which may block)."""

    def __init__(
        self,
        *,
        refuse: Callable[[int], bool] = lambda item: False,
        on_send: Callable[[int], object] = lambda item: None,
        on_finish: Callable[[int], object] = lambda item: None,
    ) -> None:
        self.refuse, self.on_send, self.on_finish = refuse, on_send, on_finish
        self.lock = threading.Lock()
        self.reserved: list[int] = []
        self.rounds: list[list[int]] = []
        self.sent: list[int] = []
        self.finished: list[int] = []
        self.unsent: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.held = 0  # sent or refused, not finished yet
        self.most_held = 0
        self.busy_lanes: set[int] = set()
        self.lanes_used: set[int] = set()
        self.lane_clash = False

    def reserve(self, items: Sequence[int]) -> None:
        with self.lock:
            self.rounds.append(list(items))
            self.reserved += items

    def may_send(self, item: int) -> bool:
        return not self.refuse(item)

    def send(self, item: int, lane: int) -> None:
        with self.lock:
            self.lane_clash |= lane in self.busy_lanes
            self.busy_lanes.add(lane)
            self.lanes_used.add(lane)
            self.sent.append(item)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.held += 1
            self.most_held = max(self.most_held, self.held)
        try:
            self.on_send(item)
        finally:
            with self.lock:
                self.in_flight -= 1
                self.busy_lanes.discard(lane)

    def finish(self, item: int) -> None:
        self.on_finish(item)
        with self.lock:
            self.finished.append(item)
            if item in self.sent:
                self.held -= 1

    def not_sent(self, item: int) -> None:
        with self.lock:
            self.unsent.append(item)


def test_exactly_k_requests_are_in_flight_and_every_item_finishes_once() -> None:
    k, rounds = 4, 5
    barrier = threading.Barrier(k, timeout=WAIT_S)  # a send waits until k are out together
    work = FakeWork(on_send=lambda item: barrier.wait())
    scheduler = BatchScheduler(work, k)
    scheduler.run(list(range(k * rounds)))
    assert sorted(work.finished) == list(range(k * rounds))
    assert sorted(work.sent) == list(range(k * rounds))
    assert work.most_in_flight == k == scheduler.most_in_flight
    assert not barrier.broken
    assert work.unsent == []
    assert sorted(work.reserved) == list(range(k * rounds))
    assert all(len(batch) <= k for batch in work.rounds)
    assert work.rounds[0] == list(range(k))  # the first round is reserved in one go


def test_slots_are_reused_with_their_lanes_and_never_shared() -> None:
    work = FakeWork()
    BatchScheduler(work, 3).run(list(range(60)))
    assert sorted(work.finished) == list(range(60))
    assert work.lanes_used <= {0, 1, 2}
    assert not work.lane_clash
    assert work.most_in_flight <= 3


def test_fewer_items_than_slots_and_no_items() -> None:
    work = FakeWork()
    BatchScheduler(work, 8).run([1, 2])
    assert sorted(work.finished) == [1, 2]
    assert work.lanes_used <= {0, 1}
    empty = FakeWork()
    BatchScheduler(empty, 8).run([])
    assert empty.finished == empty.reserved == []


def test_items_refused_by_a_budget_are_finished_without_a_request() -> None:
    work = FakeWork(refuse=lambda item: item % 3 == 0)
    BatchScheduler(work, 2).run(list(range(12)))
    assert sorted(work.finished) == list(range(12))
    assert sorted(work.sent) == [i for i in range(12) if i % 3]


def test_ctrl_c_sends_nothing_new_finishes_what_is_in_flight_and_raises_again() -> None:
    k = 3
    all_out = threading.Barrier(k + 1, timeout=WAIT_S)  # the first round, and the main thread
    release = threading.Event()
    work = FakeWork(on_send=lambda item: (all_out.wait(), release.wait(WAIT_S)))
    seen: list[int] = []

    def interrupt() -> None:
        all_out.wait()  # every slot has a request out
        raise Interrupted(2)

    def on_interrupt(in_flight: int) -> None:
        seen.append(in_flight)
        release.set()

    with pytest.raises(Interrupted):
        BatchScheduler(work, k).run(
            list(range(20)), while_first_round_is_out=interrupt, on_interrupt=on_interrupt
        )
    assert seen == [k]
    assert sorted(work.sent) == [0, 1, 2]  # nothing was sent after Ctrl-C
    assert sorted(work.finished) == [0, 1, 2]  # the requests in flight were finished
    # Rows reserved ahead for items that never went are settled as not sent; the rest of the
    # batch was never reserved.
    assert sorted(work.unsent) == sorted(set(work.reserved) - {0, 1, 2})
    assert len(work.reserved) <= 2 * k


def test_a_failure_while_saving_stops_new_requests_and_is_raised() -> None:
    def finish(item: int) -> None:
        if item == 2:
            raise OutputError("cannot write to stdout: broken pipe")

    work = FakeWork(on_finish=finish)
    with pytest.raises(OutputError):
        BatchScheduler(work, 2).run(list(range(200)))
    assert len(work.sent) < 200
    assert set(work.unsent) == set(work.reserved) - set(work.sent)


def test_answers_waiting_to_be_saved_are_bounded_by_the_concurrency() -> None:
    k = 4
    gate = threading.Event()
    work = FakeWork(on_finish=lambda item: gate.wait(WAIT_S))
    scheduler = BatchScheduler(work, k, answerers=1)
    done = threading.Thread(target=scheduler.run, args=(list(range(100)),))
    done.start()
    # Saving is stuck: the senders fill the queue of answers and then wait, sending no more.
    deadline = threading.Event()
    for _ in range(200):
        with work.lock:
            if len(work.sent) >= 2 * k + 1:
                break
        deadline.wait(0.01)
    deadline.wait(0.2)
    with work.lock:
        stuck_at = len(work.sent)
    assert stuck_at <= 2 * k + 1  # k in the queue, k waiting to put theirs, 1 being saved
    gate.set()
    done.join(WAIT_S)
    assert not done.is_alive()
    assert sorted(work.finished) == list(range(100))
