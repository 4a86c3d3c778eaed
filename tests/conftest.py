"""Every test runs hermetically: its own dirs, no real keys, no proxies, no colour."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.postgres import postgres_cluster, postgres_url  # noqa: F401 - fixtures

# Property tests: no per-example deadline (a loaded 2-core CI machine is slow), and the failing
# example is printed so it can be replayed. HYPOTHESIS_PROFILE=ci is set by .ci/run.
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# A key that must never appear in any output, log, file or snapshot. Tests grep for it.
CANARY_KEY = "sk-or-v1-CANARY0123456789abcdef0123456789abcdef0123456789abcdef0123"

_CLEARED = (
    "OPENROUTER_API_KEY",
    "OPENROUTER_API_KEY_FILE",
    "FLUX2_BASE_URL",
    "FLUX2_DEBUG",
    "FLUX2_BUDGET_DAILY_USD",
    "FLUX2_BUDGET_MONTHLY_USD",
    "FLUX2_LEDGER_URL",
    "PGPASSFILE",
    "PGPASSWORD",
    "FLUX2_CONFIG_DIR",
    "FLUX2_DATA_DIR",
    "FLUX2_CACHE_DIR",
    "FLUX2_STATE_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "FORCE_COLOR",
    "CLICOLOR_FORCE",
)


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in _CLEARED:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_STATE_HOME", "xdg-state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var, sub in (
        ("FLUX2_CONFIG_DIR", "config"),
        ("FLUX2_DATA_DIR", "data"),
        ("FLUX2_CACHE_DIR", "cache"),
        ("FLUX2_STATE_DIR", "state"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setenv("TERM", "dumb")
    return tmp_path


@pytest.fixture
def canary_key() -> str:
    return CANARY_KEY
