"""`budget.timezone`: where budget days and months begin, one rule for every process whatever its
TZ; UTC unless configured; a zone that does not exist is a usage error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from flux_cli.config import config_path, configured_budget_zone, effective
from flux_cli.errors import UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import Budgets, Ledger, NewEntry

API = "openrouter"
ZONE = "Asia/Kathmandu"  # UTC+5:45: its midnight is no UTC midnight


def _write_config(text: str) -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_the_default_is_utc() -> None:
    assert configured_budget_zone() == "UTC"


def test_the_config_file_and_the_environment_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _write_config(f'[budget]\ntimezone = "{ZONE}"\n')
    assert configured_budget_zone() == ZONE
    monkeypatch.setenv("FLUX2_BUDGET_TIMEZONE", "utc")
    assert configured_budget_zone() == "UTC"
    assert effective("budget.timezone")[1] == "env FLUX2_BUDGET_TIMEZONE"


@pytest.mark.parametrize(
    "bad", ["Mars/Olympus", "local", "../../etc/passwd", "/etc/localtime", "+05:00"]
)
def test_a_zone_that_does_not_exist_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_TIMEZONE", bad)
    with pytest.raises(UsageError, match=r"budget\.timezone") as raised:
        configured_budget_zone()
    assert raised.value.exit_code == ExitCode.USAGE
    with pytest.raises(UsageError):
        Ledger.open()  # nothing is sent: the ledger does not open


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    _write_config(f'[budget]\ntimezone = "{ZONE}"\n')
    with Ledger.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def _spend_at(ledger: Ledger, moment: datetime, micros: int = 30_000) -> None:
    entry = NewEntry(api=API, command="generate", model="m", estimate_micros=micros)
    row_id = ledger.reserve(entry, Budgets(), now=moment)
    ledger.update(row_id, status="ok", charged_micros=micros)


@pytest.mark.parametrize("tz", ["UTC0", "EST5EDT,M3.2.0,M11.1.0", "JST-9"])
def test_the_configured_day_is_the_day_of_every_process(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, tz: str
) -> None:
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        with Ledger.open(ledger.path) as other:  # another process's view
            assert other.zone == ZONE
            now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)  # 17:45 in Kathmandu
            midnight = datetime(2026, 12, 6, tzinfo=ZoneInfo(ZONE)).astimezone(UTC)
            _spend_at(other, midnight - timedelta(seconds=1), 1_000)  # yesterday there
            _spend_at(other, midnight + timedelta(seconds=1), 20_000)  # today there
            spent = other.spent(API, now=now)
            assert spent.today_micros == 20_000
            assert spent.month_micros == 21_000
    finally:
        monkeypatch.undo()
        time.tzset()


def test_an_explicit_zone_still_wins(ledger: Ledger) -> None:
    with Ledger.open(ledger.path, zone="UTC") as utc:
        assert utc.zone == "UTC"
    assert ledger.zone == ZONE
