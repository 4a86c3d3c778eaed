"""`--retry-ambiguous` against the sandbox: each attempt that may have been billed keeps a ledger
row of its own (settled `unknown`, with the answer's generation id for `history --reconcile`),
and the retry is reserved under the budgets before it is sent: a refused retry is not sent."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger, Row
from flux_cli.sandbox import Fault, Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e


def _posts(sandbox: Sandbox) -> list:  # type: ignore[type-arg]
    return [r for r in sandbox.requests if r.path.endswith("/images")]


def _paid(sandbox: Sandbox) -> int:
    return len(sandbox.ledger.generations())


def _rows(sandbox: Sandbox) -> list[Row]:
    """Oldest first."""
    with Ledger.open() as ledger:
        return sorted(ledger.rows(sandbox.base_url), key=lambda row: row.id)


def test_a_500_then_success_leaves_two_rows(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=500))
    result = flux2("generate", "a fox", "--retry-ambiguous", "--json")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    failed, succeeded = _posts(sandbox)
    assert failed.generation_id is not None  # sent on the error answer too
    assert succeeded.generation_id != failed.generation_id
    assert _paid(sandbox) == 1  # the sandbox bills no 500

    first, second = _rows(sandbox)
    assert second.id > first.id
    assert (first.status, first.generation_id, first.exit_code) == (
        "unknown",
        failed.generation_id,
        9,
    )
    assert first.charged_micros is None
    assert (second.status, second.generation_id, second.charged_micros) == (
        "ok",
        succeeded.generation_id,
        30_000,
    )
    assert json.loads(result.out)["generation_id"] == succeeded.generation_id

    # The first row counts at its estimate until reconcile settles it; /generation does not
    # know a 500's id yet (it is younger than an hour), so it stays unknown and counted.
    shown = flux2("history", "--json")
    statuses = [json.loads(line)["status"] for line in shown.out.splitlines()]
    assert statuses == ["ok", "unknown"]
    reconciled = flux2("history", "--reconcile")
    assert reconciled.returncode == 0, reconciled.stderr
    lookups = [r for r in sandbox.requests if r.path.endswith("/generation")]
    assert [r.query.get("id") for r in lookups] == [failed.generation_id]


def test_a_billed_attempt_without_an_answer_and_its_retry_are_both_counted(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    sandbox.push_fault("images", Fault(kind="slow", delay=3))
    result = flux2("generate", "a fox", "--retry-ambiguous", "--timeout", "1", "-q")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 10
    while _paid(sandbox) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _paid(sandbox) == 2  # the slow one was made and billed too
    assert len(_posts(sandbox)) == 2
    first, second = _rows(sandbox)
    assert (first.status, first.generation_id, first.exit_code) == ("unknown", None, 9)
    assert second.status == "ok"
    assert second.generation_id is not None


def test_a_budget_that_refuses_the_retry_sends_nothing_more(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=500))
    result = flux2(
        "generate",
        "a fox",
        "--retry-ambiguous",
        env={"FLUX2_BUDGET_DAILY_USD": "0.05"},  # one $0.03 call, not two
    )
    result.assert_clean()
    assert result.returncode == 9, result.stderr  # the first attempt may have been billed
    assert "not sent again: daily budget" in " ".join(result.stderr.split())
    (post,) = _posts(sandbox)
    assert _paid(sandbox) == 0
    first, refusal = _rows(sandbox)
    assert (first.status, first.generation_id, first.exit_code) == (
        "unknown",
        post.generation_id,
        9,
    )
    assert (refusal.status, refusal.charged_micros, refusal.exit_code) == ("failed", 0, 7)


def test_a_batch_line_retried_keeps_both_rows_in_its_run(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    (workdir / "batch.jsonl").write_text('{"prompt": "one"}\n{"prompt": "two"}\n')
    sandbox.push_fault("images", Fault(status=500))
    result = flux2("generate", "--batch", "batch.jsonl", "--retry-ambiguous", "-q")
    result.assert_clean()
    assert result.returncode == 0, result.stderr
    assert len(_posts(sandbox)) == 3
    assert _paid(sandbox) == 2
    rows = _rows(sandbox)
    assert sorted(r.status for r in rows) == ["ok", "ok", "unknown"]
    (retried,) = [r for r in rows if r.status == "unknown"]
    again = [r for r in rows if r.prompt == retried.prompt and r.id != retried.id]
    assert [r.status for r in again] == ["ok"]
    assert again[0].run_id == retried.run_id is not None
    assert again[0].fingerprint == retried.fingerprint is not None
    # --resume sees the line made by its newest row: nothing is bought again
    resumed = flux2("generate", "--batch", "batch.jsonl", "--resume", "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert len(_posts(sandbox)) == 3
