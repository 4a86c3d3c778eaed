"""A batch's lines through planning, reserving, sending, saving and settling (`BatchRun`), with a
fake sender in place of the HTTP client and a real ledger."""

from __future__ import annotations

import io
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from flux_cli.batch_work import (
    BatchPlanner,
    BatchRun,
    batch_headline,
    invalid_lines,
    prepare_batch,
    read_batch,
)
from flux_cli.errors import BudgetError, Interrupted, UsageError
from flux_cli.ledger import Budgets, Ledger
from flux_cli.openrouter.client import ImageResult
from flux_cli.openrouter.errors import OpenRouterError
from flux_cli.openrouter.wire import ImageRequest, Usage
from flux_cli.options import GenerateOptions
from flux_cli.planning import Item, read_items
from flux_cli.spending import Outcome

LABEL = "openrouter"


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


class FakeSender:
    """Answers every request with a small PNG charged 0.03 USD; `fail` lists prompts to fail."""

    def __init__(self, *, fail: frozenset[str] = frozenset(), gate: threading.Event | None = None):
        self.fail, self.gate = fail, gate
        self.prompts: list[str] = []
        self.lock = threading.Lock()

    def generate(
        self,
        request: ImageRequest,
        route: str = "images",
        *,
        lane: int = 0,
        before_ambiguous_retry: Callable[[OpenRouterError], None] | None = None,
    ) -> ImageResult:
        with self.lock:
            self.prompts.append(request.prompt)
        if self.gate is not None:
            self.gate.wait(10)
        if request.prompt in self.fail:
            raise OpenRouterError("the provider refused")
        return ImageResult(
            data=PNG, format="png", width=16, height=16, media_type="image/png",
            usage=Usage(cost_micros=30_000), generation_id=f"gen-{request.seed}",
            provider="Black Forest Labs", route=route, elapsed_s=0.1, attempts=1,
        )  # fmt: skip


def _opts(output: Path, **changes: Any) -> GenerateOptions:
    values: dict[str, Any] = {
        "prompt": None, "prompt_file": None, "model": "pro", "aspect_ratio": None,
        "size": None, "seed": None, "image_format": None, "count": 1,
        "output": f"{output}/", "force": False, "max_cost": None, "dry_run": False,
        "json_lines": True, "quiet": True, "route": "images", "timeout": 30.0, "retries": 0,
        "retry_ambiguous": False, "sandbox": True,
    }  # fmt: skip
    return GenerateOptions(**{**values, **changes})


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _items(*lines: str) -> list[Item]:
    return read_items(io.BytesIO("".join(f"{line}\n" for line in lines).encode()), "test")


def _planner(opts: GenerateOptions, items: list[Item]) -> BatchPlanner:
    return BatchPlanner(
        opts, len(items), catalog_url=None, sandbox=True, unknown_at=None, label=LABEL
    )


def _run(
    ledger: Ledger,
    opts: GenerateOptions,
    items: list[Item],
    sender: FakeSender,
    budgets: Budgets | None = None,
    concurrency: int = 2,
) -> tuple[BatchRun, list[Item], list[Outcome]]:
    planner = _planner(opts, items)
    runnable, _ = planner.plan_all(items)
    reported: list[Item] = []
    said: list[Outcome] = []
    work = BatchRun(
        sender, ledger, LABEL, budgets or Budgets(), opts, store_prompts=True,
        plan=planner.plan, report=reported.append, say=said.append,
    )  # fmt: skip
    work.run(runnable, concurrency)
    return work, reported, said


def test_planning_checks_every_line_and_keeps_no_plan_until_its_turn(tmp_path: Path) -> None:
    items = _items("a red fox", '{"prompt": "a blue owl", "size": "10x10"}', "a green frog")
    planner = _planner(_opts(tmp_path), items)
    runnable, directories = planner.plan_all(items)
    assert [item.line for item in runnable] == [1, 3]
    assert items[1].error is not None
    assert directories == {tmp_path}
    assert all(item.plan is None and item.estimate_micros > 0 for item in runnable)
    assert all(item.fingerprint is not None for item in runnable)
    assert runnable[0].fingerprint != runnable[1].fingerprint


def test_every_line_is_sent_once_written_and_its_row_settled_with_the_charge(
    tmp_path: Path, ledger: Ledger
) -> None:
    items = _items("a red fox", "a blue owl", "a green frog")
    sender = FakeSender()
    work, reported, said = _run(ledger, _opts(tmp_path), items, sender)
    assert sorted(sender.prompts) == ["a blue owl", "a green frog", "a red fox"]
    assert sorted(item.line for item in reported) == [1, 2, 3]
    assert all(item.failure is None and item.charged_micros == 30_000 for item in items)
    assert len(said) == 3  # the size the fake answers with is not the one asked for: said
    rows = ledger.rows(LABEL)
    assert sorted(row.status for row in rows) == ["ok", "ok", "ok"]
    assert {row.run_id for row in rows} == {work.run_id}
    assert all(Path(row.paths[0]).read_bytes()[:8] == PNG[:8] for row in rows)
    assert work.open == {}


def test_a_line_a_budget_refuses_is_never_sent(tmp_path: Path, ledger: Ledger) -> None:
    items = _items("a red fox", "a blue owl")
    sender = FakeSender()
    _run(ledger, _opts(tmp_path), items, sender, budgets=Budgets(daily_micros=1))
    assert sender.prompts == []
    assert all(isinstance(item.failure, BudgetError) for item in items)
    assert all(item.started for item in items)  # refused: counted in the summary as started


def test_a_failed_request_fails_its_line_only(tmp_path: Path, ledger: Ledger) -> None:
    items = _items("a red fox", "a blue owl")
    _run(ledger, _opts(tmp_path), items, FakeSender(fail=frozenset({"a blue owl"})))
    assert items[0].failure is None
    assert items[1].failure is not None
    assert "refused" in items[1].failure.message
    assert sorted(row.status for row in ledger.rows(LABEL)) == ["failed", "ok"]


def test_ctrl_c_settles_unsent_rows_and_counts_the_calls_cut_off(
    tmp_path: Path, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = _items(*(f"fox {n}" for n in range(6)))
    gate = threading.Event()
    sender = FakeSender(gate=gate)
    opts = _opts(tmp_path)
    planner = _planner(opts, items)
    runnable, _ = planner.plan_all(items)
    work = BatchRun(
        sender, ledger, LABEL, Budgets(), opts, store_prompts=True,
        plan=planner.plan, report=lambda item: None, say=lambda outcome: None,
    )  # fmt: skip

    def interrupt() -> None:
        raise Interrupted(signal.SIGINT)

    told: list[int] = []

    def on_interrupt(in_flight: int) -> None:
        told.append(in_flight)
        gate.set()  # the requests in flight answer; nothing new starts

    monkeypatch.setattr("flux_cli.saving.ready_for_answers", interrupt)  # Ctrl-C, first round out
    with pytest.raises(Interrupted):
        work.run(runnable, 2, on_interrupt)
    assert len(told) == 1
    assert told[0] <= 2
    assert len(sender.prompts) <= 2
    rows = ledger.rows(LABEL)
    assert sum(row.status == "ok" for row in rows) == len(sender.prompts)
    unsent = [row for row in rows if row.status != "ok"]
    assert len(rows) <= 4  # K in flight and K reserved ahead, nothing reserved after Ctrl-C
    assert all(row.status == "failed" and row.charged_micros == 0 for row in unsent)
    assert all(row.error == "interrupted before the request was sent" for row in unsent)
    assert work.cut_off == 0  # every call in flight got its answer


def _resumed(
    ledger: Ledger, opts: GenerateOptions, lines: tuple[str, ...], *, resend_unknown: bool = False
) -> tuple[list[Item], list[Item], list[str]]:
    from flux_cli.resume import resume_lines

    items = _items(*lines)
    planner = _planner(opts, items)
    runnable, _ = planner.plan_all(items)
    reconciled: list[str] = []
    to_send = resume_lines(
        ledger,
        runnable,
        resend_unknown=resend_unknown,
        plan=planner.plan,
        reconcile=lambda: reconciled.append("reconciled"),
    )
    return items, to_send, reconciled


def test_resume_sends_again_only_the_lines_whose_images_are_gone(
    tmp_path: Path, ledger: Ledger
) -> None:
    lines = ("a red fox", "a blue owl", "a green frog")
    opts = _opts(tmp_path)
    _run(ledger, opts, _items(*lines), FakeSender())
    owl = next(row for row in ledger.rows(LABEL) if row.prompt == "a blue owl")
    Path(owl.paths[0]).unlink()

    items, to_send, reconciled = _resumed(ledger, opts, lines)
    assert reconciled == []  # nothing of unknown outcome: nothing to look up
    assert [item.resumed for item in items] == ["verify", "verify", "verify"]
    assert len(to_send) == 3  # checked (read and hashed) at their turn, not before
    sender = FakeSender()
    planner = _planner(opts, items)
    work = BatchRun(
        sender, ledger, LABEL, Budgets(), opts, store_prompts=True,
        plan=planner.plan, report=lambda item: None, say=lambda outcome: None,
    )  # fmt: skip
    work.run(to_send, 2)
    assert sender.prompts == ["a blue owl"]
    assert [item.resumed for item in items] == ["skipped", "remade", "skipped"]
    assert items[1].resume_reason == f"{owl.paths[0]} was deleted"


def test_resume_looks_up_unknown_outcomes_first_and_holds_their_lines_back(
    tmp_path: Path, ledger: Ledger
) -> None:
    from flux_cli.resume import HeldBack

    opts = _opts(tmp_path)
    _run(ledger, opts, _items("a red fox"), FakeSender())
    (row,) = ledger.rows(LABEL)
    ledger.update(row.id, status="unknown", paths=[], sha256s=[], charged_micros=None)

    items, to_send, reconciled = _resumed(ledger, opts, ("a red fox",))
    assert reconciled == ["reconciled"]
    assert to_send == []
    assert items[0].resumed == "held"
    assert isinstance(items[0].error, HeldBack)

    items, to_send, _ = _resumed(ledger, opts, ("a red fox",), resend_unknown=True)
    assert to_send == items
    assert items[0].resumed == "remade"


def test_a_batch_is_read_from_its_file_or_stdin(tmp_path: Path) -> None:
    batch = tmp_path / "prompts.txt"
    batch.write_text("a fox\n# a comment\n\na hen\n")
    assert [item.prompt for item in read_batch(str(batch), None)] == ["a fox", "a hen"]
    piped = read_batch("-", io.BytesIO(b'{"prompt": "a cat"}\n'))
    assert [item.prompt for item in piped] == ["a cat"]
    with pytest.raises(UsageError, match="stdin is closed"):
        read_batch("-", None)
    with pytest.raises(UsageError, match="cannot read the batch file"):
        read_batch(str(tmp_path / "missing.txt"), None)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(UsageError, match="holds no prompts"):
        read_batch(str(tmp_path / "empty.txt"), None)


def test_the_headline_counts_items_errors_and_the_estimate() -> None:
    good = [Item(line=1, estimate_micros=30_000), Item(line=2, estimate_micros=15_000)]
    bad = Item(line=3, error=UsageError("no prompt"))
    assert batch_headline([*good, bad], good, 4) == (
        "batch: 3 items (1 with errors), estimate $0.045 for 2 images, 4 at a time"
    )
    assert batch_headline(good[:1], good[:1], 4) == (
        "batch: 1 item (0 with errors), estimate $0.030 for 1 image"
    )


def test_a_dry_run_names_every_invalid_line() -> None:
    good = Item(line=1)
    assert invalid_lines([good]) is None
    bad = [Item(line=2, error=UsageError("no prompt")), Item(line=5, error=UsageError("size"))]
    verdict = invalid_lines([good, *bad])
    assert verdict is not None
    said, error = verdict
    assert said == ["line 2: no prompt", "line 5: size"]
    assert error.message == "2 of 3 batch lines are not valid (lines 2, 5); nothing was sent"
    one = invalid_lines([good, bad[0]])
    assert one is not None
    assert "(line 2)" in one[1].message


def test_a_batch_is_prepared_asking_the_endpoint_only_for_a_real_run(tmp_path: Path) -> None:
    batch = tmp_path / "prompts.txt"
    batch.write_text('a red fox\n{"prompt": "a blue owl", "size": "10x10"}\n')
    asked: list[str] = []

    def endpoint() -> tuple[str, str]:
        asked.append("endpoint")
        return "http://127.0.0.1:9/api/v1", LABEL

    opts = _opts(tmp_path / "out", max_cost="0.50")
    prepared = prepare_batch(opts, str(batch), None, endpoint=endpoint, sandbox=True, warn=print)
    assert [item.line for item in prepared.runnable] == [1]
    assert len(prepared.items) == 2
    assert prepared.max_cost == 500_000
    assert prepared.total_micros == prepared.runnable[0].estimate_micros > 0
    assert prepared.runnable[0].fingerprint is not None  # under the endpoint's label
    assert (tmp_path / "out").is_dir()  # proved writable before anything is sent
    assert asked == ["endpoint"]
    dry = prepare_batch(
        _opts(tmp_path / "out", dry_run=True), str(batch), None,
        endpoint=endpoint, sandbox=True, warn=print,
    )  # fmt: skip
    assert asked == ["endpoint"]
    assert dry.runnable[0].fingerprint is None
