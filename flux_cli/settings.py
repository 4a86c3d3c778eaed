"""Settings from the config file and the environment (product.md §8): flag > env > file > default.

The file is TOML at `config_dir()/config.toml`. This module reads only what the commands need
today (budgets, prompt storage); `flux2 config` edits the same file.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flux_cli import paths
from flux_cli.errors import UsageError
from flux_cli.pricing import usd_to_micros

BUDGET_DAILY_ENV = "FLUX2_BUDGET_DAILY_USD"
BUDGET_MONTHLY_ENV = "FLUX2_BUDGET_MONTHLY_USD"


def config_path() -> Path:
    return paths.config_dir() / "config.toml"


@dataclass(frozen=True)
class Settings:
    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None
    store_prompts: bool = True
    source: dict[str, str] | None = None  # where each value came from: "env", "file", "default"


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise UsageError(f"the config file {path} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"the config file {path} is not valid TOML ({exc})") from None
    return data


def _money(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise UsageError(f"{where} must be an amount in USD, got {value!r}")
    try:
        amount = Decimal(str(value).strip().lstrip("$"))
    except InvalidOperation:
        raise UsageError(f"{where} must be an amount in USD such as 5.00, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise UsageError(f"{where} must be a positive amount in USD, got {value!r}")
    return usd_to_micros(amount)


def load_settings() -> Settings:
    path = config_path()
    data = _load_toml(path)
    budget = data.get("budget", {})
    history = data.get("history", {})
    if not isinstance(budget, dict) or not isinstance(history, dict):
        raise UsageError(f"{path}: [budget] and [history] must be tables")
    source: dict[str, str] = {}

    def amount(env: str, key: str) -> int | None:
        raw_env = os.environ.get(env, "").strip()
        if raw_env:
            source[f"budget.{key}"] = f"env {env}"
            return _money(raw_env, env)
        if key in budget:
            source[f"budget.{key}"] = f"file {path}"
            return _money(budget[key], f"budget.{key} in {path}")
        source[f"budget.{key}"] = "default"
        return None

    daily = amount(BUDGET_DAILY_ENV, "daily_usd")
    monthly = amount(BUDGET_MONTHLY_ENV, "monthly_usd")
    store = history.get("store_prompts", True)
    if not isinstance(store, bool):
        raise UsageError(f"history.store_prompts in {path} must be true or false")
    source["history.store_prompts"] = f"file {path}" if "store_prompts" in history else "default"
    return Settings(daily, monthly, store, source)
