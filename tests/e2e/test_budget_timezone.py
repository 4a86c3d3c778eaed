"""`budget.timezone` through the installed flux2: processes with different TZ share the
configured zone's day, balance shows the rule, and a zone that does not exist sends nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import Budgets, Ledger, NewEntry
from flux_cli.sandbox import Sandbox
from tests.e2e.conftest import Flux2

pytestmark = pytest.mark.e2e

ZONE = "Asia/Kathmandu"  # UTC+5:45: its midnight is never a UTC midnight
KLEIN = "black-forest-labs/flux.2-klein-4b"


def _spent_at(api: str, moment: datetime, micros: int) -> None:
    with Ledger.open() as ledger:
        entry = NewEntry(api=api, command="generate", model=KLEIN, estimate_micros=micros)
        row_id = ledger.reserve(entry, Budgets(), now=moment)
        ledger.update(row_id, status="ok", charged_micros=micros)


def test_processes_in_different_time_zones_share_the_configured_day(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    setting = flux2("config", "set", "budget.timezone", ZONE)
    assert setting.returncode == 0, setting.stderr
    midnight = datetime.now(ZoneInfo(ZONE)).replace(hour=0, minute=0, second=0, microsecond=0)
    # Just before the zone's midnight: yesterday there, whatever day it is in UTC or in TZ.
    _spent_at(sandbox.base_url, midnight - timedelta(seconds=1), 500_000)
    _spent_at(sandbox.base_url, midnight + timedelta(seconds=1), 14_000)  # today there
    budget = {"FLUX2_BUDGET_DAILY_USD": "0.028"}  # room for one more klein call today
    first = flux2(
        "generate", "a fox", "-m", "klein", "-q", env={**budget, "TZ": "Pacific/Kiritimati"}
    )
    assert first.returncode == 0, first.stderr
    second = flux2("generate", "a fox", "-m", "klein", "-q", env={**budget, "TZ": "Etc/GMT+12"})
    assert second.returncode == ExitCode.BUDGET, second.stderr
    assert len(sandbox.ledger.generations()) == 1

    for tz in ("Pacific/Kiritimati", "Etc/GMT+12", "UTC"):
        balance = flux2("balance", "--json", env={**budget, "TZ": tz})
        assert balance.returncode == 0, balance.stderr
        budgets = json.loads(balance.out)["budgets"]
        assert budgets["timezone"] == ZONE
        assert budgets["spent_today_usd"] == 0.028
    table = flux2("balance", env=budget)
    assert f"midnight to midnight, {ZONE}" in table.out


@pytest.mark.parametrize("how", ["env", "config"])
def test_a_zone_that_does_not_exist_is_a_usage_error_and_sends_nothing(
    flux2: Flux2, sandbox: Sandbox, how: str
) -> None:
    env = {"FLUX2_BUDGET_DAILY_USD": "1"}
    if how == "env":
        env["FLUX2_BUDGET_TIMEZONE"] = "Mars/Olympus"
    else:
        refused = flux2("config", "set", "budget.timezone", "Mars/Olympus")
        assert refused.returncode == ExitCode.USAGE, refused.stderr
        assert "IANA time zone" in refused.stderr
        # Written by hand, it is refused when used.
        path = Path(flux2("config", "path").out.strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('[budget]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    run = flux2("generate", "a fox", "-m", "klein", env=env)
    assert run.returncode == ExitCode.USAGE, run.stderr
    assert "budget.timezone" in run.stderr
    run.assert_clean()
    assert not [r for r in sandbox.requests if r.route in ("images", "chat")]
    assert len(sandbox.ledger.generations()) == 0
    balance = flux2("balance", env=env)
    assert balance.returncode == ExitCode.USAGE, balance.stderr
