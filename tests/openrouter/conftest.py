"""Fixtures of the OpenRouter client tests."""

from __future__ import annotations

import pytest

from tests.openrouter.catalog_server import FakeApi


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()
