"""Every module imports on its own, in a fresh interpreter, and no two modules import each other
(directly or round a longer loop), even from inside a function."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import flux_cli


def _modules() -> list[str]:
    names = ["flux_cli"]
    for info in pkgutil.walk_packages(flux_cli.__path__, "flux_cli."):
        if not info.name.endswith(".__main__"):  # runs the command when imported
            names.append(info.name)
    return sorted(names)


def test_every_module_imports_alone_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert "flux_cli.cli.run" in modules
    assert "flux_cli.batching" in modules
    # One interpreter per module (a module imported earlier would hide a circle in the next),
    # started together so that the check stays quick.
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in modules
    }
    failures = {}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            failures[name] = err.strip().splitlines()[-1:]
    assert failures == {}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The flux_cli modules `path` imports anywhere in it, except under `if TYPE_CHECKING:`."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module is None:
                return
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules
            found.update(submodules)
            if len(submodules) < len(node.names):
                found.add(node.module)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found & modules


def test_no_module_imports_one_that_imports_it_back() -> None:
    root = Path(flux_cli.__file__).parent
    paths = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        paths[name] = path
    graph = {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            name = todo.pop()
            if name == goal:
                return True
            if name not in seen:
                seen.add(name)
                todo.extend(graph[name])
        return False

    circles = sorted(
        (name, other) for name in graph for other in graph[name] if reaches(other, name)
    )
    assert circles == []


@pytest.mark.parametrize("core", ["batching", "options", "planning", "saving", "spending"])
def test_core_modules_import_neither_typer_nor_rich(core: str) -> None:
    code = (
        f"import sys, flux_cli.{core}; "
        "print(sorted(m for m in ('typer', 'rich', 'click') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_the_mcp_server_is_a_front_end_over_the_core_not_over_the_command_line() -> None:
    root = Path(flux_cli.__file__).parent
    modules = {
        ".".join(p.relative_to(root.parent).with_suffix("").parts) for p in root.rglob("*.py")
    }
    reached = {
        path.name: sorted(m for m in _imports(path, modules) if m.startswith("flux_cli.cli"))
        for path in (root / "mcp").glob("*.py")
    }
    assert "server.py" in reached
    assert {name: found for name, found in reached.items() if found} == {}
