"""Shared helpers: environment for flux2 subprocesses, statistics, result rows."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FAKE_KEY = "sk-or-v1-" + "b" * 32


def venv_bin(name: str) -> str:
    """An executable next to the running interpreter (the venv's `flux2`)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """os.environ with flux2's data/cache/config/state dirs inside `root` and no real key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLUX2_", "OPENROUTER_"))}
    for name in ("DATA", "CACHE", "CONFIG", "STATE"):
        path = root / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[f"FLUX2_{name}_DIR"] = str(path)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def temp_root(prefix: str) -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix=f"flux2-bench-{prefix}-")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Row:
    """One line of the table: a figure, what it is compared with, and whether it passes."""

    section: str
    name: str
    value: str
    target: str = ""
    passed: bool | None = None  # None: informational
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "PASS" if self.passed else "FAIL"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["verdict"] = self.verdict
        return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mib(n: float) -> str:
    return f"{n / (1024 * 1024):.2f} MiB"
