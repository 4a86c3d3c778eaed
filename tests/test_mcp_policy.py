"""The policy `flux2 mcp` serves under, decided before the MCP SDK is needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from flux_cli.errors import BudgetError, ConfigError, UsageError
from flux_cli.mcp.policy import Policy, serving_policy


def _policy(tmp_path: Path, **changes: object) -> Policy:
    options: dict[str, object] = {
        "sandbox": True,
        "output_dir": tmp_path / "out",
        "allow_read": [],
        "max_cost_per_call": None,
        "no_budget": False,
        **changes,
    }
    return serving_policy(**options)  # type: ignore[arg-type]


def test_no_budget_is_refused_unless_told(tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="without a daily or monthly budget"):
        _policy(tmp_path)
    policy = _policy(tmp_path, no_budget=True)
    assert policy.no_budget
    assert (tmp_path / "out").is_dir()


def test_the_ceiling_comes_from_the_flag_else_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_MONTHLY_USD", "5")
    assert _policy(tmp_path).max_cost_per_call_micros == 500_000
    flagged = _policy(tmp_path, max_cost_per_call="$0.10")
    assert flagged.max_cost_per_call_micros == 100_000
    with pytest.raises(UsageError, match="--max-cost-per-call"):
        _policy(tmp_path, max_cost_per_call="lots")


def test_the_real_api_needs_its_key_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_DAILY_USD", "1")
    with pytest.raises(ConfigError):
        _policy(tmp_path, sandbox=False)
    assert _policy(tmp_path, sandbox=True).sandbox


def test_without_the_sdk_loading_the_server_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from flux_cli.mcp import load_server

    # As if the extra were not installed, whatever an earlier test imported.
    for name in [*(n for n in sys.modules if n.split(".")[0] == "mcp"), "mcp"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "flux_cli.mcp.server", raising=False)
    with pytest.raises(UsageError) as missing:
        load_server()
    assert missing.value.message == "flux2 mcp needs the MCP SDK, which is not installed"
    assert missing.value.hint == "pip install 'flux2-cli[mcp]'"


def test_budget_resets_are_the_next_midnight_and_first_in_the_budget_zone() -> None:
    from datetime import UTC, datetime

    from flux_cli.mcp.policy import next_resets

    now = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 1 January in Kathmandu
    day, month = next_resets(now, "UTC")
    assert (day.isoformat(), month.isoformat()) == (
        "2027-01-01T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    )
    day, month = next_resets(now, "Asia/Kathmandu")
    assert (day.isoformat(), month.isoformat()) == (
        "2027-01-02T00:00:00+05:45",
        "2027-02-01T00:00:00+05:45",
    )


def test_budget_resets_follow_the_configured_zone_not_the_process_tz(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time
    from datetime import UTC, datetime

    from flux_cli.mcp.policy import next_resets

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14
    time.tzset()
    try:
        monkeypatch.delenv("FLUX2_BUDGET_TIMEZONE", raising=False)
        day, _month = next_resets(datetime(2026, 12, 6, 20, 0, tzinfo=UTC))
        assert day.isoformat() == "2026-12-07T00:00:00+00:00"
        monkeypatch.setenv("FLUX2_BUDGET_TIMEZONE", "Europe/Berlin")
        day, _month = next_resets(datetime(2026, 12, 6, 20, 0, tzinfo=UTC))
        assert day.isoformat() == "2026-12-07T00:00:00+01:00"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_spending_by_model_counts_the_budget_days_not_the_process_tz(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`by_model_today` is today as `spent_today_usd` counts it: the budget zone's day (UTC
    here), whatever the process's TZ. The process is put twelve hours from UTC, the way that
    makes a row from just before UTC midnight "today" in local time."""
    import time
    from datetime import UTC, datetime, timedelta

    from flux_cli.ledger import Budgets, Ledger, NewEntry, default_path
    from flux_cli.mcp.reports import Reports

    now = datetime.now(UTC)
    if (now.hour in (11, 23) and now.minute >= 58) or (now.hour in (0, 12) and now.minute < 2):
        pytest.skip("too close to a day boundary to tell the two days apart")
    utc_midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    # Before noon UTC, UTC+12 is already on the same date, its day begun at 12:00 UTC yesterday;
    # after noon, UTC-12's day begins at 12:00 UTC today.
    zone, made = (
        ("Etc/GMT-12", utc_midnight - timedelta(minutes=1))  # local today, UTC yesterday
        if now.hour < 12
        else ("Etc/GMT+12", utc_midnight + timedelta(minutes=1))  # UTC today, local yesterday
    )
    entry = NewEntry(api="sandbox", command="generate", model="m", estimate_micros=30_000)
    with Ledger.open(default_path()) as ledger:
        row = ledger.reserve(entry, Budgets(), now=made)
        ledger.update(row, status="ok", charged_micros=30_000)
    monkeypatch.delenv("FLUX2_BUDGET_TIMEZONE", raising=False)
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        status = Reports(_policy(tmp_path, no_budget=True)).spending()
    finally:
        monkeypatch.undo()
        time.tzset()
    today = status["spent_today_usd"]
    assert today == (0.03 if made >= utc_midnight else 0)
    assert [m["counted_usd"] for m in status["by_model_today"]] == ([today] if today else [])
