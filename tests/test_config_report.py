"""`flux2 config`'s view and changes of the config file, without the command line."""

from __future__ import annotations

import pytest

from flux_cli.config import config_path, load_values
from flux_cli.config_edit import set_setting, unset_setting
from flux_cli.config_report import overriding_variable, settings_record, settings_rows
from flux_cli.errors import UsageError


def test_set_writes_the_checked_value_and_unset_removes_it() -> None:
    path = config_path()
    change = set_setting("budget.daily_usd", "2.5")
    assert (change.key, change.path, change.done, change.shown) == (
        "budget.daily_usd",
        path,
        True,
        "2.5",
    )
    assert "daily_usd" in path.read_text(encoding="utf-8")
    removed = unset_setting("budget.daily_usd")
    assert (removed.done, removed.shown, removed.source) == (True, "unset", "default")
    again = unset_setting("budget.daily_usd")
    assert again.done is False


def test_a_bad_value_is_refused_before_anything_is_written() -> None:
    with pytest.raises(UsageError):
        set_setting("concurrency", "many")
    assert not config_path().exists()


def test_the_environment_winning_over_the_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    assert overriding_variable("model") is None
    monkeypatch.setenv("FLUX2_MODEL", "max")
    assert overriding_variable("model") == "FLUX2_MODEL"
    monkeypatch.setenv("FLUX2_MODEL", "  ")
    assert overriding_variable("model") is None


def test_rows_and_record_say_each_value_and_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_DAILY_USD", "1.25")
    values = load_values()
    rows = {key: (value, source) for key, value, source in settings_rows(values)}
    assert rows["budget.daily_usd"] == ("1.25", "env FLUX2_BUDGET_DAILY_USD")
    assert rows["budget.monthly_usd"] == ("-", "default")
    record = settings_record(config_path(), values)
    assert record["path"] == str(config_path())
    daily = record["settings"]["budget.daily_usd"]
    assert daily["value"] == 1.25
    assert isinstance(daily["value"], float)
    assert daily["env"] == "FLUX2_BUDGET_DAILY_USD"
