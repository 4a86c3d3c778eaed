"""Fixtures for the sandbox tests: a started sandbox on an ephemeral port and httpx clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=sandbox.base_url,
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
        timeout=30,
    ) as c:
        yield c


@pytest.fixture
def anon(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base_url, timeout=30) as c:
        yield c
