"""README.md's generated parts match the program: the CLI reference and the tour's real output.

Both are produced by scripts/readme.py, which runs the real `flux2` in subprocesses with an
environment of its own (no key, no config of the person running the tests), so these tests do too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
FIX = "README.md is out of date: run python scripts/readme.py (and review the diff)"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_script", ROOT / "scripts/readme.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _generator()


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_the_cli_reference_is_every_commands_help(generator: ModuleType, reference: str) -> None:
    written = generator.region(reference, "reference")
    fresh = generator.reference()
    assert written == fresh, f"{FIX}\n{generator.diff(written, fresh, 'CLI reference')}"


def test_the_reference_covers_the_whole_command_tree(
    generator: ModuleType, readme: str, reference: str
) -> None:
    assert "docs/reference.md" in readme  # the README points at it
    written = generator.region(reference, "reference")
    paths = generator.command_paths()
    assert ("config", "set") in paths
    assert ("auth", "login") in paths
    for path in paths:
        assert f"### `{' '.join(['flux2', *path, '--help'])}`" in written, (path, FIX)


def test_the_tour_is_what_the_commands_print(generator: ModuleType, readme: str) -> None:
    written = generator.region(readme, "tour")
    fresh = generator.tour(written)
    before, after = generator.normalise(written), generator.normalise(fresh)
    assert before == after, (
        f"{FIX}\n{generator.diff(before, after, 'tour (volatile fields masked)')}"
    )


def test_the_table_of_contents_lists_every_section(generator: ModuleType, readme: str) -> None:
    written = generator.region(readme, "toc")
    assert written == generator.toc(readme), FIX
    assert "- [A first look](#a-first-look)" in written
    assert "- [Recipes](#recipes)" in written


def test_the_readme_starts_with_the_two_set_up_commands(readme: str) -> None:
    """.ci/run runs the second ```sh block: the test command."""
    blocks = readme.split("```sh\n")
    assert blocks[1].startswith("python3 -m venv .venv && . .venv/bin/activate && pip install . ")
    assert blocks[2].startswith(
        "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[test]' && pytest\n```"
    )
    assert readme.index("```sh") < readme.index("## Contents")


def test_the_tour_fits_80_columns(generator: ModuleType, readme: str) -> None:
    tour = generator.region(readme, "tour")
    for block in generator.CONSOLE_BLOCK.findall(tour):
        for line in block.splitlines():
            # What a command printed, at an 80-column terminal; a JSON line is one record whole.
            if not line.startswith(("$ ", "{")):
                assert len(line) <= 80, line


def test_the_tour_runs_every_step(generator: ModuleType, readme: str) -> None:
    tour = generator.region(readme, "tour")
    for command in (
        "$ flux2 generate ",
        "$ flux2 edit ",
        "$ flux2 cost ",
        "$ flux2 history --sandbox",
        "$ flux2 balance --sandbox",
    ):
        assert command in tour, command


def test_only_volatile_fields_are_masked(generator: ModuleType) -> None:
    charged = (
        "generation id   gen-img-1795273075-UInzkEjTkHSpikOuZ2r2\n"
        "time            68 ms\n"
        "file            2026-11-21-145755-pro-42-a-red-fox-in-the-snow.jpg\n"
    )
    assert generator.normalise(charged) == (
        "generation id   gen-img-ID\n"
        "time            ELAPSED\n"
        "file            YYYY-MM-DD-HHMMSS-pro-42-a-red-fox-in-the-snow.jpg\n"
    )
    row = "2026-11-21 16:54   pro     1024×1024   ok   $0.030   $0.030   …mxoM1t6VXLxnC   fox.jpg"
    assert generator.normalise(row) == (
        "YYYY-MM-DD HH:MM   pro     1024×1024   ok   $0.030   $0.030   …ID-TAIL   fox.jpg"
    )
    line = '{"bytes": 66046, "sha256": "' + "ab" * 32 + '", "elapsed_s": 0.068, "seed": 42}'
    assert generator.normalise(line) == (
        '{"bytes": 66046, "sha256": "SHA256", "elapsed_s": ELAPSED, "seed": 42}'
    )
    # What is not volatile stays, so a changed price, size, seed or message still fails the tour.
    for fixed in (
        "output (seed 42)   1024×1024   1.00           1   $0.030",
        "budget today           $1.925 left of $2.000 ($0.075 spent, local ledger)",
        "time            68 ms and more",
        "fox-2026-11-21.jpg",
        '"seed": 42, "width": 1536',
    ):
        assert generator.normalise(fixed) == fixed, fixed
