"""`--retry-ambiguous`: each attempt that may have been billed keeps a ledger row of its own.

The client (httpx.MockTransport) calls a hook before it sends an ambiguous attempt again;
`Spending` settles the attempt's row `unknown` with its generation id and reserves the retry's
row under the budgets, on a real ledger file. A refused retry is not sent at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from flux_cli.credentials import ApiKey
from flux_cli.exit_codes import ExitCode
from flux_cli.generation import plan_generation, resolve_model
from flux_cli.ledger import Budgets, Ledger, Row
from flux_cli.openrouter import errors as E
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.spending import Outcome, Spending
from tests.conftest import CANARY_KEY
from tests.openrouter.test_client import REQUEST, _err, _ok

BASE = "https://openrouter.test/api/v1"
FIRST_ID = "gen-img-first-500"


def _server_error() -> httpx.Response:
    return _err(500, "Internal Server Error", headers={"x-generation-id": FIRST_ID})


class Server:
    """Answers in turn (the last one again and again), counting the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = answers
        self.requests = 0

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.answers[min(self.requests, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, retry_ambiguous: int = 1) -> OpenRouterClient:
        return OpenRouterClient(
            BASE,
            ApiKey(CANARY_KEY, "test"),
            transport=httpx.MockTransport(self.handler),
            retry_ambiguous=retry_ambiguous,
            sleep=lambda _: None,
            rand=lambda: 0.0,
        )


# -- the client's hook ---------------------------------------------------------------------------


def test_the_hook_runs_once_before_the_ambiguous_attempt_is_sent_again() -> None:
    server = Server(_server_error(), _ok())
    seen: list[tuple[int, str | None]] = []

    def hook(error: E.OpenRouterError) -> None:
        seen.append((server.requests, error.generation_id))

    with server.client() as client:
        result = client.generate(REQUEST, before_ambiguous_retry=hook)
    assert result.attempts == 2
    assert seen == [(1, FIRST_ID)]  # after the first request, before the second


def test_the_hook_is_not_called_for_retries_that_cannot_have_been_billed() -> None:
    server = Server(_err(429, "slow down"), _err(503, "busy"), _ok())
    seen: list[E.OpenRouterError] = []
    with server.client() as client:
        client.generate(REQUEST, before_ambiguous_retry=seen.append)
    assert server.requests == 3
    assert seen == []


def test_what_the_hook_raises_ends_the_call_without_sending_again() -> None:
    server = Server(_server_error(), _ok())

    def refuse(error: E.OpenRouterError) -> None:
        raise error

    with server.client() as client, pytest.raises(E.ServerOutcomeUnknownError) as info:
        client.generate(REQUEST, before_ambiguous_retry=refuse)
    assert server.requests == 1
    assert info.value.generation_id == FIRST_ID


def test_without_retry_ambiguous_the_hook_is_never_called() -> None:
    server = Server(_server_error(), _ok())
    seen: list[E.OpenRouterError] = []
    with server.client(retry_ambiguous=0) as client, pytest.raises(E.ServerOutcomeUnknownError):
        client.generate(REQUEST, before_ambiguous_retry=seen.append)
    assert (server.requests, seen) == (1, [])


# -- the rows ------------------------------------------------------------------------------------


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _call(
    ledger: Ledger, server: Server, budgets: Budgets | None = None
) -> tuple[Outcome, Spending]:
    """One call as `generate` makes it: reserve, send (with the hook), settle."""
    plan = plan_generation(model=resolve_model("pro"), prompt="a red fox", seed=7)
    spending = Spending(ledger, "sandbox", budgets or Budgets(), plan, "generate", True)
    outcome = Outcome(index=0, seed=7)
    outcome.row_id = spending.reserve(0)
    with server.client() as client:
        try:
            outcome.result = client.generate(
                plan.request(0),
                before_ambiguous_retry=spending.before_ambiguous_retry(outcome, 0),
            )
        except E.OpenRouterError as exc:
            outcome.error = exc
    spending.finish(outcome)
    return outcome, spending


def _oldest_first(ledger: Ledger) -> list[Row]:
    return sorted(ledger.rows("sandbox"), key=lambda row: row.id)


def test_each_attempt_that_may_have_been_billed_keeps_its_own_row(ledger: Ledger) -> None:
    outcome, spending = _call(ledger, Server(_server_error(), _ok()))
    first, second = _oldest_first(ledger)
    assert outcome.row_id == second.id
    assert (first.status, first.generation_id, first.exit_code) == ("unknown", FIRST_ID, 9)
    assert first.charged_micros is None
    assert first.error is not None
    assert f"sent again as call {second.id}" in first.error
    assert (second.status, second.generation_id, second.charged_micros) == (
        "ok",
        "gen-img-1-abc",
        30_000,
    )
    assert (first.seed, first.prompt) == (second.seed, second.prompt)
    # The first counts at its estimate until `history --reconcile` settles it.
    assert ledger.spent("sandbox").today_micros == first.estimate_micros + 30_000
    assert ledger.spent("sandbox").unknown_count == 1
    assert spending.settled


def test_an_answer_that_never_came_keeps_its_row_without_an_id(ledger: Ledger) -> None:
    _call(ledger, Server(httpx.ReadTimeout("timed out"), _ok()))
    first, second = _oldest_first(ledger)
    assert (first.status, first.generation_id) == ("unknown", None)
    assert second.status == "ok"


def test_when_both_attempts_fail_both_rows_are_unknown(ledger: Ledger) -> None:
    second_error = _err(504, "Gateway Timeout", headers={"x-generation-id": "gen-img-second"})
    outcome, spending = _call(ledger, Server(_server_error(), second_error))
    assert outcome.error is not None
    assert outcome.error.exit_code == ExitCode.OUTCOME_UNKNOWN
    rows = _oldest_first(ledger)
    assert [(r.status, r.generation_id) for r in rows] == [
        ("unknown", FIRST_ID),
        ("unknown", "gen-img-second"),
    ]
    assert spending.settled


def test_a_budget_that_refuses_the_retry_stops_it(ledger: Ledger) -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a red fox", seed=7)
    one_call = plan.estimate.total_micros
    server = Server(_server_error(), _ok())
    outcome, spending = _call(ledger, server, Budgets(daily_micros=one_call + one_call // 2))
    assert server.requests == 1  # not sent again
    assert outcome.error is not None
    assert outcome.error.exit_code == ExitCode.OUTCOME_UNKNOWN  # the first may have been billed
    assert "not sent again: daily budget" in outcome.error.message
    first, refusal = _oldest_first(ledger)
    assert (first.status, first.generation_id, first.exit_code) == ("unknown", FIRST_ID, 9)
    assert first.error is not None
    assert "not sent again" in first.error
    assert (refusal.status, refusal.charged_micros, refusal.exit_code) == ("failed", 0, 7)
    assert ledger.spent("sandbox").today_micros == one_call
    assert spending.settled


def test_an_interrupted_run_does_not_send_again(ledger: Ledger) -> None:
    plan = plan_generation(model=resolve_model("pro"), prompt="a red fox", seed=7)
    spending = Spending(ledger, "sandbox", Budgets(), plan, "generate", True)
    outcome = Outcome(index=0, seed=7)
    outcome.row_id = spending.reserve(0)
    hook: Callable[[E.OpenRouterError], None] = spending.before_ambiguous_retry(outcome, 0)
    spending.interrupted()
    error = E.OutcomeUnknownError("no answer", hint=None)
    with pytest.raises(E.OutcomeUnknownError, match="not sent again: the run was interrupted"):
        hook(error)
    (row,) = ledger.rows("sandbox")
    assert row.status == "unknown"
