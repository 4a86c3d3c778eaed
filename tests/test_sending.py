"""The images of one run (-n): each sent once with its own row, shown in index order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flux_cli.generation import plan_generation, resolve_model
from flux_cli.ledger import Budgets, Ledger
from flux_cli.openrouter.client import ImageResult
from flux_cli.openrouter.errors import OpenRouterError
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sending import send_images
from flux_cli.spending import Outcome, Spending
from tests.test_batch_work import LABEL, FakeSender


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


class SlowFirst(FakeSender):
    """The first image answers last."""

    def __init__(self) -> None:
        super().__init__()
        self.others_done = threading.Event()
        self.answered = 0

    def generate(
        self,
        request: ImageRequest,
        route: str = "images",
        *,
        lane: int = 0,
        before_ambiguous_retry: Callable[[OpenRouterError], None] | None = None,
    ) -> ImageResult:
        if request.seed == 7:
            self.others_done.wait(10)
        result = super().generate(request, route, lane=lane)
        with self.lock:
            self.answered += 1
            if self.answered == 3:
                self.others_done.set()
        return result


def test_images_are_shown_in_index_order_whatever_order_they_answer_in(ledger: Ledger) -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a fox", seed=7, count=4)
    spending = Spending(ledger, LABEL, Budgets(), plan, "generate", True)
    saved: list[int] = []
    shown: list[tuple[int, bool]] = []

    def save(outcome: Outcome) -> None:
        saved.append(outcome.index)
        assert outcome.row_id is not None
        spending.finish(outcome)

    outcomes = send_images(
        plan,
        spending,
        SlowFirst(),
        save=save,
        show=lambda outcome, in_order: shown.append((outcome.index, in_order)),
        say_error=pytest.fail,
    )
    assert saved[-1] == 0  # the first image answered last
    assert shown == [(0, True), (1, True), (2, True), (3, True)]
    assert [o.index for o in outcomes] == [0, 1, 2, 3]
    assert [o.seed for o in outcomes] == [7, 8, 9, 10]
    assert len({o.row_id for o in outcomes}) == 4


def test_a_failed_image_is_shown_too_and_the_others_are_not_held_back(ledger: Ledger) -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a fox", seed=1, count=2)
    spending = Spending(ledger, LABEL, Budgets(), plan, "generate", True)
    sender = FakeSender(fail=frozenset({"a fox"}))
    shown: list[int] = []
    outcomes = send_images(
        plan,
        spending,
        sender,
        save=spending.finish,
        show=lambda outcome, in_order: shown.append(outcome.index),
        say_error=pytest.fail,
    )
    assert sorted(shown) == [0, 1]
    assert all(o.error is not None and "refused" in o.error.message for o in outcomes)
    assert sorted(row.status for row in ledger.rows(LABEL)) == ["failed", "failed"]
