"""`flux2 balance`: /key and /credits, degrading when /credits is for management keys only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from flux_cli.credentials import ApiKey
from flux_cli.embedded_catalog import ALIASES
from flux_cli.endpoints import SANDBOX, api_label
from flux_cli.ledger import Ledger, default_path
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sandbox import Fault, Sandbox, SandboxConfig
from tests.cli.test_history import assert_no_key, flux2, record
from tests.conftest import CANARY_KEY


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0, balance_usd="25.00")) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
        yield sb


def spend(sb: Sandbox) -> None:
    with OpenRouterClient(sb.base_url, ApiKey(CANARY_KEY, "test")) as client:
        client.generate(ImageRequest(model=ALIASES["pro"], prompt="a fox", seed=1))


def test_no_key_is_an_auth_error_with_nothing_on_stdout() -> None:
    result = flux2("balance")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "no OpenRouter API key found" in result.stderr


def test_table_shows_credits_and_the_keys_usage(sandbox: Sandbox) -> None:
    spend(sandbox)
    result = flux2("balance")
    assert result.exit_code == 0, result.stderr
    assert_no_key(result)
    out = result.stdout
    assert f"Balance · {sandbox.base_url}" in out
    assert "sk-or-v1-…0123" in out  # masked, as everywhere
    for line in ("credits remaining", "$24.970", "credits bought", "$25.000", "credits used"):
        assert line in out
    assert "key limit" in out
    assert "none" in out
    assert "key usage today" in out
    assert "$0.030" in out
    assert result.stderr == ""


def test_json_is_one_object_with_numbers(sandbox: Sandbox) -> None:
    spend(sandbox)
    result = flux2("balance", "--json")
    assert result.exit_code == 0, result.stderr
    assert_no_key(result)
    data = json.loads(result.stdout)
    assert data["api"] == api_label(sandbox.base_url)
    assert data["credits"] == {"total_usd": 25.0, "usage_usd": 0.03, "remaining_usd": 24.97}
    assert data["credits_unavailable"] is None
    assert data["key"]["limit_usd"] is None
    assert data["key"]["usage_daily_usd"] == 0.03
    assert data["key"]["is_free_tier"] is False
    assert data["budgets"] is None


def test_a_403_from_credits_shows_the_keys_figures_and_says_why(sandbox: Sandbox) -> None:
    sandbox.push_fault("credits", Fault(status=403, variant="management"))
    result = flux2("balance")
    assert result.exit_code == 0, result.stderr
    assert "key usage this month" in result.stdout
    assert "not available to this key" in result.stdout
    assert result.stderr.count("flux2:") == 1  # one message (the console wraps it at 100)
    assert "management keys" in result.stderr
    sandbox.push_fault("credits", Fault(status=403, variant="management"))
    data = json.loads(flux2("balance", "--json").stdout)
    assert data["credits"] is None
    assert "management keys" in data["credits_unavailable"]


def test_a_rejected_key_is_exit_4(sandbox: Sandbox) -> None:
    sandbox.push_fault("key", Fault(status=401))
    result = flux2("balance")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert_no_key(result)


def test_local_budgets_are_shown_for_the_same_api(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_DAILY_USD", "1.00")
    with Ledger.open() as ledger:
        record(ledger, api_label(sandbox.base_url), charged=250_000)
        record(ledger, SANDBOX, charged=600_000)  # another API: not counted here
    result = flux2("balance")
    assert result.exit_code == 0, result.stderr
    assert "budget today" in result.stdout
    assert "$0.750 left of $1.000" in result.stdout
    data = json.loads(flux2("balance", "--json").stdout)
    assert data["budgets"]["daily_remaining_usd"] == 0.75
    assert data["budgets"]["monthly_usd"] is None


def test_budgets_without_a_ledger_read_as_nothing_spent_and_create_none(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLUX2_BUDGET_MONTHLY_USD", "20")
    data = json.loads(flux2("balance", "--json").stdout)
    assert data["budgets"]["monthly_remaining_usd"] == 20.0
    assert not default_path().exists()


def test_sandbox_needs_no_key() -> None:
    result = flux2("balance", "--sandbox", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["api"] == SANDBOX
    assert data["credits"]["remaining_usd"] == 10.0


@pytest.mark.e2e
def test_balance_in_a_real_process_against_a_sandbox(sandbox: Sandbox) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "flux_cli", "balance"],
        capture_output=True,
        text=True,
        env={**os.environ},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "credits remaining" in proc.stdout
    assert CANARY_KEY not in proc.stdout + proc.stderr
    assert CANARY_KEY[9:] not in proc.stdout + proc.stderr


def test_the_keys_default_label_is_not_shown(sandbox: Sandbox) -> None:
    """OpenRouter names a key after a fragment of itself (`sk-or-v1-abc...xyz`) until the user
    names it: that shows more of the key than the masked form, so it is left out, as in auth."""
    out = flux2("balance").stdout
    assert "(sk-or-" not in out
    data = json.loads(flux2("balance", "--json").stdout)
    assert data["key"]["label"] is None
    assert data["key"]["masked"].startswith("sk-or-v1-…")
