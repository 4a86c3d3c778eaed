"""Which API a command talks to: one label per API, a name for people, and the endpoint."""

from __future__ import annotations

import pytest

from flux_cli.endpoints import (
    OPENROUTER,
    SANDBOX,
    Endpoint,
    api_label,
    built_in_sandbox,
    describe,
    real_endpoint,
)
from flux_cli.errors import ConfigError
from flux_cli.sandbox import SANDBOX_KEY


def test_labels_and_names() -> None:
    assert api_label("https://openrouter.ai/api/v1") == OPENROUTER
    assert api_label("https://eu.openrouter.ai/api/v1/") == OPENROUTER
    assert api_label("http://127.0.0.1:8788/api/v1") == "http://127.0.0.1:8788/api/v1"
    assert api_label("https://openrouter.ai/api/v1", sandbox=True) == SANDBOX
    assert describe(OPENROUTER) == "OpenRouter"
    assert describe(SANDBOX) == "the --sandbox runs"
    assert describe("http://127.0.0.1:1/api/v1") == "http://127.0.0.1:1/api/v1"


def test_the_real_endpoint_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError):
        real_endpoint()
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-" + "0" * 64)
    endpoint = real_endpoint()
    assert (endpoint.label, endpoint.built_in_sandbox) == (OPENROUTER, False)
    assert endpoint.key is not None


def test_the_built_in_sandbox_runs_only_inside_the_block() -> None:
    assert Endpoint(SANDBOX, "", None).built_in_sandbox
    with built_in_sandbox() as endpoint:
        assert endpoint.label == SANDBOX
        assert endpoint.base_url.startswith("http://127.0.0.1:")
        assert endpoint.key is not None
        assert endpoint.key.value == SANDBOX_KEY
