"""history --reconcile, balance and auth make their HTTP client through `App.client_factory`: a
test that replaces it answers for OpenRouter, and the configured API is never reached."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from flux_cli.cli.context import App
from flux_cli.cli.registry import app
from flux_cli.credentials import ApiKey, resolve_key
from flux_cli.ledger import Ledger
from flux_cli.openrouter.client import OpenRouterClient
from tests.cli.test_history import PRO, record
from tests.conftest import CANARY_KEY

# Nothing listens on port 9 (discard): a client the factory did not make fails to connect.
UNREACHABLE = "http://127.0.0.1:9/api/v1"
GEN = "gen-img-1790983552-FactoryMadeThis"

ANSWERS: dict[str, dict[str, Any]] = {
    "/api/v1/key": {
        "data": {"label": "made by the factory", "limit": None, "usage": 0.5, "usage_daily": 0.25}
    },
    "/api/v1/credits": {"data": {"total_credits": 12.5, "total_usage": 2.5}},
    "/api/v1/generation": {
        "data": {"id": GEN, "model": PRO, "total_cost": 0.02, "provider_name": "Factory"}
    },
}


class Factory:
    """Makes real clients whose transport answers from ANSWERS, and records each one made."""

    def __init__(self) -> None:
        self.made: list[tuple[str, str, dict[str, Any]]] = []
        self.paths: list[str] = []

    def __call__(self, base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
        self.made.append((base_url, key.value, options))
        return OpenRouterClient(
            base_url, key, transport=httpx.MockTransport(self.answer), **options
        )

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return httpx.Response(200, json=ANSWERS[request.url.path])


@pytest.fixture
def factory(monkeypatch: pytest.MonkeyPatch) -> Factory:
    monkeypatch.setenv("FLUX2_BASE_URL", UNREACHABLE)
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
    return Factory()


def invoke(factory: Callable[..., OpenRouterClient], *args: str, stdin: str = "") -> Result:
    return CliRunner().invoke(app, list(args), obj=App(client_factory=factory), input=stdin)


def test_history_reconcile_looks_ids_up_through_the_factory(factory: Factory) -> None:
    with Ledger.open() as ledger:
        row_id = record(
            ledger, UNREACHABLE, status="unknown", generation_id=GEN, paths=("fox.jpg",)
        )
    result = invoke(factory, "history", "--reconcile", "--json")
    assert result.exit_code == 0, result.stderr
    assert [(url, key) for url, key, _ in factory.made] == [(UNREACHABLE, CANARY_KEY)]
    assert factory.paths == ["/api/v1/generation"]
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["id"], row["status"], row["charged_micros"]) == (row_id, "ok", 20_000)
    assert row["provider"] == "Factory"


def test_history_without_ids_to_look_up_makes_no_client(factory: Factory) -> None:
    with Ledger.open() as ledger:
        record(ledger, UNREACHABLE, status="unknown")
    result = invoke(factory, "history", "--reconcile")
    assert result.exit_code == 0, result.stderr
    assert factory.made == []


def test_balance_reads_key_and_credits_through_the_factory(factory: Factory) -> None:
    result = invoke(factory, "balance", "--json")
    assert result.exit_code == 0, result.stderr
    assert [(url, key) for url, key, _ in factory.made] == [(UNREACHABLE, CANARY_KEY)]
    assert factory.paths == ["/api/v1/key", "/api/v1/credits"]
    data = json.loads(result.stdout)
    assert data["key"]["label"] == "made by the factory"
    assert data["credits"] == {"total_usd": 12.5, "usage_usd": 2.5, "remaining_usd": 10.0}


def test_auth_status_checks_the_key_through_the_factory(factory: Factory) -> None:
    result = invoke(factory, "auth", "status", "--json")
    assert result.exit_code == 0, result.stderr
    assert [(url, key) for url, key, _ in factory.made] == [(UNREACHABLE, CANARY_KEY)]
    assert factory.made[0][2]["max_retries"] == 1
    data = json.loads(result.stdout)
    assert data["checked"] is True
    assert data["key"]["label"] == "made by the factory"


def test_auth_login_checks_the_key_through_the_factory(
    factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY")
    result = invoke(factory, "auth", "login", stdin=CANARY_KEY + "\n")
    assert result.exit_code == 0, result.stderr
    assert [(url, key) for url, key, _ in factory.made] == [(UNREACHABLE, CANARY_KEY)]
    assert factory.paths == ["/api/v1/key"]
    assert "OpenRouter accepts it: label 'made by the factory'" in result.stderr
    assert resolve_key().value == CANARY_KEY


def test_without_the_factory_the_unreachable_api_is_what_they_reach(factory: Factory) -> None:
    """The counter-test: the real factory connects to FLUX2_BASE_URL, where nothing answers."""
    result = CliRunner().invoke(app, ["balance", "--json"], obj=App())
    assert result.exit_code != 0
    assert result.stdout == ""
    assert factory.made == []
