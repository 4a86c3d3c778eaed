"""What the quick paths (--version, --help, cost, TAB) leave out: the MCP SDK, the image and wire
modules, the command modules a run does not need, and patterns compiled at import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_REPORT = """
import re, sys
compiled = []
original = re.compile
def counting(*args, **kwargs):
    if sys._getframe(1).f_globals.get("__name__", "").startswith("flux_cli"):
        compiled.append(args[0])
    return original(*args, **kwargs)
re.compile = counting
from flux_cli.cli.main import run
try:
    run(sys.argv[1:])
except SystemExit:
    pass
sys.stderr.write("\\n".join(sorted(sys.modules)) + "\\n--compiled--\\n" + repr(compiled))
"""


def _loaded(*args: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    proc = subprocess.run(
        [sys.executable, "-c", _REPORT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=60,
    )
    modules, _, compiled = proc.stderr.partition("--compiled--\n")
    return set(modules.split()), compiled


def _sdk(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in {"mcp", "mcp_types", "pydantic", "anyio"}}


@pytest.mark.parametrize("args", [("--help",), ("mcp", "--help"), ("--version",)])
def test_help_and_version_do_not_import_the_mcp_sdk(args: tuple[str, ...]) -> None:
    modules, _ = _loaded(*args)
    assert "flux_cli.cli.main" in modules
    assert _sdk(modules) == set()


def test_help_compiles_no_pattern_of_its_own() -> None:
    _, compiled = _loaded("--help")
    assert compiled == "[]"


def test_version_builds_no_command() -> None:
    modules, _ = _loaded("--version")
    assert not {m for m in modules if m.startswith("flux_cli.cli.") and m.count(".") == 2} - {
        "flux_cli.cli.main",
        "flux_cli.cli.registry",
        "flux_cli.cli.boundary",
        "flux_cli.cli.coercion",
        "flux_cli.cli.context",
        "flux_cli.cli.helpfmt",  # how help and usage errors are worded: no command
    }


def test_cost_leaves_out_images_wire_and_patterns() -> None:
    modules, compiled = _loaded("cost", "-m", "pro")
    assert "flux_cli.cli.estimate" in modules
    assert not {"flux_cli.images", "flux_cli.openrouter.wire", "PIL"} & modules
    assert compiled == "[]"


def test_completing_an_option_builds_only_its_command() -> None:
    env = {"_FLUX2_COMPLETE": "complete_bash", "COMP_WORDS": "flux2 cost -m ", "COMP_CWORD": "3"}
    modules, _ = _loaded(env=env)
    assert "flux_cli.cli.cost" in modules
    assert not {"flux_cli.cli.generate", "flux_cli.cli.history", "flux_cli.cli.mcp"} & modules
