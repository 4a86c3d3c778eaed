"""flux_cli.reconcile believes only what is true: a `/generation` record settles a row only when
its id and model are the row's and its cost is finite, not negative and sane
(docs/openrouter.md#generation-lookup)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from flux_cli.credentials import ApiKey
from flux_cli.ledger import Budgets, Ledger, NewEntry
from flux_cli.openrouter import account
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.reconcile import SANE_MULTIPLE, needs_lookups, reconcile, reconcile_api
from tests.conftest import CANARY_KEY

API = "https://openrouter.test/api/v1"
PRO = "black-forest-labs/flux.2-pro"
GEN = "gen-img-1790983552-TOdyb7qrp6185EBMwzAV"
NOW = datetime.now(UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def unknown_row(ledger: Ledger, *, paths: tuple[str, ...] = ("fox.jpg",)) -> int:
    row_id = ledger.reserve(
        NewEntry(api=API, command="generate", model=PRO, estimate_micros=30_000),
        Budgets(),
    )
    ledger.update(row_id, status="unknown", generation_id=GEN, paths=paths)
    return row_id


def record(**changes: Any) -> dict[str, Any]:
    """The recorded /generation body (docs/openrouter.md#generation-lookup), with changes."""
    data = {"id": GEN, "model": PRO, "total_cost": 0.03, "usage": 0.03, "provider_name": "BFL"}
    data.update(changes)
    return {"data": data}


def lookup_answering(body: bytes) -> Any:
    """A /generation lookup through the real client and parser, against a fixed answer."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/generation")
        return httpx.Response(200, content=body, headers={"content-type": "application/json"})

    client = OpenRouterClient(
        API, ApiKey(CANARY_KEY, "test"), transport=httpx.MockTransport(handler)
    )
    return lambda generation_id: account.generation(client, generation_id)


def run(ledger: Ledger, body: bytes) -> Any:
    return reconcile(ledger, API, NOW, lookup_answering(body))


def test_a_true_record_settles_the_row(ledger: Ledger) -> None:
    row_id = unknown_row(ledger)
    outcome = run(ledger, json.dumps(record()).encode())
    (row,) = ledger.rows(API)
    assert (row.id, row.status, row.charged_micros) == (row_id, "ok", 30_000)
    assert outcome.changed == 1


def test_a_call_without_an_image_file_is_never_ok(ledger: Ledger) -> None:
    unknown_row(ledger, paths=())
    run(ledger, json.dumps(record()).encode())
    (row,) = ledger.rows(API)
    assert row.status == "failed"
    assert row.charged_micros == 30_000
    assert row.counted_micros == 30_000


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (json.dumps(record(id="gen-img-1-someone-else")).encode(), "another call"),
        (json.dumps(record(model="openai/gpt-image-2")).encode(), "model"),
        (json.dumps(record(model=None)).encode(), "model"),
        (json.dumps(record(total_cost=-5, usage=-5)).encode(), "negative"),
        (json.dumps(record(total_cost=88_329_970)).encode(), "times the estimate"),
        (
            b'{"data": {"id": "%s", "model": "%s", "total_cost": 1e15}}'
            % (GEN.encode(), PRO.encode()),
            "times the estimate",
        ),
        (
            b'{"data": {"id": "%s", "model": "%s", "total_cost": 1e400}}'
            % (GEN.encode(), PRO.encode()),
            "not a usable number",
        ),
        (json.dumps(record(total_cost="lots", usage="lots")).encode(), "not a usable number"),
        (json.dumps(record(total_cost=0.03 * (SANE_MULTIPLE + 1))).encode(), "times the estimate"),
    ],
)
def test_a_record_that_is_not_true_is_flagged_and_counts_at_the_estimate(
    ledger: Ledger, body: bytes, why: str
) -> None:
    unknown_row(ledger)
    outcome = run(ledger, body)
    (row,) = ledger.rows(API)
    assert row.status == "unknown"
    assert row.charged_micros is None
    assert row.counted_micros == 30_000
    assert row.error is not None
    assert "not believed" in row.error
    (change,) = outcome.changes
    assert change.flagged
    assert why in change.detail
    assert outcome.changed == 0
    # And the budget still counts it: a lie cannot make room.
    spent = ledger.spent(API)
    assert spent.today_micros == 30_000


def test_a_non_finite_cost_does_not_crash(ledger: Ledger) -> None:
    unknown_row(ledger)
    outcome = run(
        ledger,
        b'{"data": {"id": "%s", "model": "%s", "total_cost": NaN}}' % (GEN.encode(), PRO.encode()),
    )
    (row,) = ledger.rows(API)
    # NaN is not JSON: the answer is unusable, the row is skipped and stays as it was.
    assert row.status == "unknown"
    assert outcome.changed == 0
    ((_row, why),) = outcome.skipped
    assert "cannot be used" in why


def test_a_cost_within_the_sane_multiple_is_believed(ledger: Ledger) -> None:
    unknown_row(ledger)
    run(ledger, json.dumps(record(total_cost=0.045)).encode())  # 2 MP came back: $0.045
    (row,) = ledger.rows(API)
    assert (row.status, row.charged_micros) == ("ok", 45_000)


def test_no_record_after_the_grace_period_is_failed(ledger: Ledger) -> None:
    def lookup(generation_id: str) -> None:
        return None

    unknown_row(ledger)
    outcome = reconcile(ledger, API, NOW + timedelta(hours=2), lookup)
    (row,) = ledger.rows(API)
    assert row.status == "failed"
    assert outcome.changed == 1
    young = reconcile(ledger, API, NOW, lookup)
    assert young.nothing_to_do


# -- reconcile_api: connecting only when there is an id to look up ---------------------------------


class Connection:
    """A `Connect` for reconcile_api: the lookup answers `body`; opening and closing are counted."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.opened = self.closed = 0

    def __call__(self) -> tuple[Any, Any]:
        self.opened += 1
        return lookup_answering(self.body), self.close

    def close(self) -> None:
        self.closed += 1


def test_reconcile_api_connects_for_ids_and_closes_afterwards(ledger: Ledger) -> None:
    unknown_row(ledger)
    assert needs_lookups(ledger, API, NOW)
    connection = Connection(json.dumps(record()).encode())
    outcome = reconcile_api(ledger, API, NOW, connection)
    assert (connection.opened, connection.closed) == (1, 1)
    assert outcome.changed == 1
    assert outcome.summary() == "reconciled 1 call"
    (change,) = outcome.changes
    assert change.line().startswith(f"#{change.row.id} ")
    assert change.line().endswith(f"{GEN}: unknown → ok: charged $0.030 (estimate $0.030)")


def test_reconcile_api_closes_when_a_lookup_fails(ledger: Ledger) -> None:
    unknown_row(ledger)

    def failing(generation_id: str) -> None:
        raise RuntimeError("the connection broke")

    closed: list[bool] = []
    with pytest.raises(RuntimeError):
        reconcile_api(ledger, API, NOW, lambda: (failing, lambda: closed.append(True)))
    assert closed == [True]


def test_reconcile_api_does_not_connect_without_ids_or_for_the_sandbox(ledger: Ledger) -> None:
    row_id = ledger.reserve(
        NewEntry(api=API, command="generate", model=PRO, estimate_micros=30_000), Budgets()
    )
    ledger.update(row_id, status="unknown")  # no generation id
    assert not needs_lookups(ledger, API, NOW)
    connection = Connection(b"{}")
    outcome = reconcile_api(ledger, API, NOW, connection)
    assert connection.opened == 0
    assert outcome.nothing_to_do
    assert outcome.summary() is None
    assert "no generation id to look up" in outcome.notes[0]
    unknown_row(ledger)
    outcome = reconcile_api(ledger, API, NOW, connection, sandbox=True)
    assert connection.opened == 0
    assert "cannot be looked up" in outcome.notes[0]


def test_the_summary_says_what_is_flagged_and_what_to_wait_for(ledger: Ledger) -> None:
    unknown_row(ledger)
    flagged = run(ledger, json.dumps(record(model="openai/gpt-image-2")).encode())
    assert flagged.summary() == "reconciled 0 calls; 1 flagged (a /generation record not believed)"
    waiting = reconcile(ledger, API, NOW, lambda generation_id: None)
    assert waiting.summary() == (
        "reconciled 0 calls; 1 still unknown (OpenRouter does not know the id yet: "
        "run --reconcile again in a few minutes)"
    )
