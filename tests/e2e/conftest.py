"""End-to-end: the installed `flux2` command, in a real subprocess, against a sandbox on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY


def flux2_command() -> list[str]:
    """The console script installed next to this interpreter (what a user runs)."""
    script = Path(sys.executable).parent / "flux2"
    if script.exists():
        return [str(script)]
    found = shutil.which("flux2")
    return [found] if found else [sys.executable, "-m", "flux_cli"]


@dataclass
class Run:
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8")

    def assert_clean(self) -> None:
        """No traceback, no key, on either stream."""
        text = self.stderr + self.stdout.decode("utf-8", "replace")
        assert "Traceback" not in text, self.stderr
        assert CANARY_KEY not in text
        assert CANARY_KEY[9:] not in text


class Flux2:
    def __init__(self, cwd: Path, base_url: str | None) -> None:
        self.cwd = cwd
        self.base_url = base_url

    def __call__(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: dict[str, str] | None = None,
        key: str | None = CANARY_KEY,
        timeout: float = 60,
    ) -> Run:
        environment = dict(os.environ)
        if self.base_url:
            environment["FLUX2_BASE_URL"] = self.base_url
        if key is not None:
            environment["OPENROUTER_API_KEY"] = key
        environment.update(env or {})
        proc = subprocess.run(
            [*flux2_command(), *args],
            cwd=self.cwd,
            input=stdin if stdin is not None else b"",
            capture_output=True,
            env=environment,
            timeout=timeout,
            check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        yield sb


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    return work


@pytest.fixture
def flux2(sandbox: Sandbox, workdir: Path) -> Flux2:
    return Flux2(workdir, sandbox.base_url)
