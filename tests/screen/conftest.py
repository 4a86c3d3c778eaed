"""Screen tests: the installed `flux2` under a pseudo-terminal, against a sandbox on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.screen.harness import Screen, run_on_screen

pytestmark = pytest.mark.screen

RunScreen = Callable[..., Screen]


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    # Slow enough that the spinner and the bar are drawn while requests are out.
    with Sandbox(SandboxConfig(port=0, latency=0.4)) as sb:
        yield sb


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def on_screen(sandbox: Sandbox, workdir: Path) -> RunScreen:
    def run(*args: str, columns: int = 80, rows: int = 24, **options: Any) -> Screen:
        options.setdefault("key", CANARY_KEY)
        return run_on_screen(
            args, cwd=workdir, columns=columns, rows=rows, base_url=sandbox.base_url, **options
        )

    return run
