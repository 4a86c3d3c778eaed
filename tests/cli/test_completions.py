"""completions/ is generated from the app; a change to it without regenerating fails here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[2]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "completions_script", ROOT / "scripts/completions.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_match_the_app(shell: str) -> None:
    generator = _generator()
    committed = (ROOT / "completions" / generator.TARGETS[shell]).read_text(encoding="utf-8")
    assert committed == generator.script_for(shell), "run: python scripts/completions.py"


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_FLUX2_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "flux_cli"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return result.stdout.split()


def test_tab_completes_commands_models_and_ratios() -> None:
    assert {"generate", "sandbox"} <= set(_complete("flux2 "))
    assert set(_complete("flux2 generate -m ")) >= {"pro", "max", "flex", "klein"}
    assert _complete("flux2 generate -m kl") == ["klein"]
    assert "16:9" in _complete("flux2 generate -a 1")
    assert set(_complete("flux2 generate --api ")) == {"images", "chat"}
