"""What `flux2 balance` reports: the figures read through one client, the local budgets, and
the JSON record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx

from flux_cli.account_report import (
    balance_record,
    balance_rows,
    local_budgets,
    read_account,
    usd,
)
from flux_cli.config import Settings
from flux_cli.credentials import ApiKey
from flux_cli.ledger import Budgets, Ledger, Remaining, Spent, default_path
from flux_cli.openrouter.account import Credits, KeyBudget, KeyInfo, Unavailable
from flux_cli.openrouter.client import OpenRouterClient
from tests.cli.test_history import record
from tests.conftest import CANARY_KEY

BASE = "https://openrouter.test/api/v1"
INFO = KeyInfo(
    label="laptop",
    limit_micros=5_000_000,
    limit_remaining_micros=4_970_000,
    limit_reset="monthly",
    usage_micros=30_000,
    usage_daily_micros=30_000,
    usage_weekly_micros=None,
    usage_monthly_micros=30_000,
    is_free_tier=False,
    is_management_key=None,
    expires_at=None,
    budgets=(
        KeyBudget("key", 1_000_000, 250_000, 750_000, "daily", datetime(2026, 12, 7, tzinfo=UTC)),
    ),
)


def client_answering(status: dict[str, int]) -> OpenRouterClient:
    answers: dict[str, Any] = {
        "/api/v1/key": {"data": {"label": "laptop", "limit": 5, "usage": 0.03}},
        "/api/v1/credits": {"data": {"total_credits": 25, "total_usage": 0.03}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        code = status.get(request.url.path, 200)
        body = answers[request.url.path] if code == 200 else {"error": {"code": code}}
        return httpx.Response(code, json=body)

    return OpenRouterClient(
        BASE, ApiKey(CANARY_KEY, "test"), transport=httpx.MockTransport(handler), max_retries=0
    )


def test_read_account_gives_the_key_and_the_credits() -> None:
    with client_answering({}) as client:
        info, account_credits = read_account(client)
    assert (info.label, info.limit_micros, info.usage_micros) == ("laptop", 5_000_000, 30_000)
    assert account_credits == Credits(total_micros=25_000_000, usage_micros=30_000)


def test_credits_a_key_may_not_see_are_unavailable_with_the_reason() -> None:
    with client_answering({"/api/v1/credits": 403}) as client:
        _info, account_credits = read_account(client)
    assert isinstance(account_credits, Unavailable)
    assert "management keys" in account_credits.reason


def test_no_budget_set_is_none_and_no_ledger_reads_as_nothing_spent() -> None:
    assert local_budgets(Settings(), "openrouter") is None
    settings = Settings(daily_budget_micros=1_000_000)
    budgets, remaining = local_budgets(settings, "openrouter") or (None, None)
    assert budgets == Budgets(1_000_000, None)
    assert remaining == Remaining(1_000_000, None, Spent(0, 0, 0, 0))
    assert not default_path().exists()


def test_local_budgets_count_only_the_same_api() -> None:
    with Ledger.open() as ledger:
        record(ledger, "openrouter", charged=250_000)
        record(ledger, "sandbox", charged=600_000)
    state = local_budgets(Settings(daily_budget_micros=1_000_000), "openrouter")
    assert state is not None
    assert state[1].daily_micros == 750_000


def test_the_record_is_money_in_dollars_with_the_budgets_zone() -> None:
    budgets = (Budgets(1_000_000, None), Remaining(750_000, None, Spent(250_000, 250_000, 1, 0)))
    data = balance_record(
        "openrouter", BASE, "sk-or-v1-…0123", INFO, Credits(25_000_000, 30_000), budgets, "UTC"
    )
    assert data["key"]["label"] == "laptop"
    assert data["key"]["limit_usd"] == 5.0
    assert data["key"]["usage_weekly_usd"] is None
    assert data["key_budgets"] == [
        {
            "scope": "key",
            "limit_usd": 1.0,
            "spend_usd": 0.25,
            "remaining_usd": 0.75,
            "reset_interval": "daily",
            "resets_at": "2026-12-07T00:00:00Z",
        }
    ]
    assert data["credits"] == {"total_usd": 25.0, "usage_usd": 0.03, "remaining_usd": 24.97}
    assert data["credits_unavailable"] is None
    assert data["budgets"]["daily_remaining_usd"] == 0.75
    assert data["budgets"]["monthly_usd"] is None
    assert (data["budgets"]["pending"], data["budgets"]["timezone"]) == (1, "UTC")
    missing = balance_record("sandbox", None, "m", INFO, Unavailable("no"), None, "UTC")
    assert (missing["credits"], missing["credits_unavailable"], missing["budgets"]) == (
        None,
        "no",
        None,
    )
    assert usd(None) is None
    assert usd(1) == 0.000001


def test_the_table_lines_say_what_is_known_and_mark_what_is_not() -> None:
    budgets = (Budgets(1_000_000, None), Remaining(750_000, None, Spent(250_000, 250_000, 1, 0)))
    rows = dict(balance_rows("sk-or-v1-…0123", INFO, Credits(25_000_000, 30_000), budgets, "UTC"))
    assert rows["key"] == "sk-or-v1-…0123 (laptop)"
    assert rows["credits remaining"] == "$24.970"
    assert rows["key limit"] == "$5.000, resets monthly"
    assert rows["key usage this week"] == "—"  # the server did not say
    assert rows["free tier"] == "no"
    assert rows["key budget"] == "$0.750 left of $1.000 ($0.250 spent, resets 2026-12-07 00:00 UTC)"
    assert rows["budget day"] == "midnight to midnight, UTC"
    assert rows["budget today"] == "$0.750 left of $1.000 ($0.250 spent, local ledger)"
    assert "budget this month" not in rows  # no monthly budget set
    assert "key expires" not in rows
    unlimited = replace(INFO, limit_micros=None, label=None, budgets=())
    lines = balance_rows("m", unlimited, Unavailable("no"), None, "UTC")
    assert lines[:3] == [
        ("key", "m"),
        ("credits", "not available to this key (see below)"),
        ("key limit", "none"),
    ]
    assert not [what for what, _ in lines if what.startswith("budget")]
