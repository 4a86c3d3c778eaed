"""Rewrite the generated parts of README.md and docs/reference.md: `python scripts/readme.py`.

Three regions are generated; everything else in the two files is written by hand.

- `<!-- toc:start -->` … `<!-- toc:end -->` in the README: its table of contents, one line per
  `## ` section.
- `<!-- reference:start -->` … `<!-- reference:end -->` in docs/reference.md: the `--help` of
  `flux2` and of every command and sub-command, found by walking the app's command tree, so a new
  command appears by re-running this script.
- `<!-- tour:start -->` … `<!-- tour:end -->` in the README: the tour, as at an 80-column terminal. Its prose stays as written. In each
  ```console block, the `$ flux2 …` lines are run in order in one scratch home directory (its own
  config, ledger and cache), and the lines under each command become what it printed: stderr and
  stdout through one pipe, interleaved as a terminal shows them (less its colour and spinner). Two
  runs differ only in their volatile fields (see VOLATILE); when a fresh run differs from the
  README in nothing else, the tour is left as it is, so re-running does not churn the file.

Every command is the real program (`python -m flux_cli` from this checkout) in a subprocess with an
environment built from nothing, so no key, setting or proxy of the person running it gets in.

`--check` writes nothing: it prints a diff and exits 1 when either file is stale.
tests/test_readme.py makes the same comparison.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REFERENCE = ROOT / "docs" / "reference.md"
PROGRAM = "flux2"
# Where the scratch home directory appears in output (a config path, say), the README shows this.
SHOWN_HOME = "/home/me"
TIMEOUT_S = 60

# What legitimately differs between two runs of the tour, each matched as narrowly as it can be,
# so that any other change (a column, a price, a message) still counts.
VOLATILE: tuple[tuple[re.Pattern[str], str], ...] = (
    # Default file names start with the local date and time: 2026-11-21-145755-pro-42-….jpg
    (re.compile(r"\b\d{4}-\d{2}-\d{2}-\d{6}(?=-)"), "YYYY-MM-DD-HHMMSS"),
    # Generation ids: gen-img-<unix time>-<20 random characters>, and the history table's tail.
    (re.compile(r"\bgen-(?:img-)?\d{10}-[A-Za-z0-9]{20}\b"), "gen-img-ID"),
    (re.compile(r"…[A-Za-z0-9]{13}(?=   )"), "…ID-TAIL"),
    # How long a call took: the "time" row of the Charged table and --json's elapsed_s.
    (re.compile(r"(?m)^(time {12})(?:\d+ ms|\d+\.\d s)$"), r"\1ELAPSED"),
    (re.compile(r'"elapsed_s": \d+(?:\.\d+)?(?=[,}])'), '"elapsed_s": ELAPSED'),
    # The image's hash: its embedded recipe holds the generation id and the time it was made.
    (re.compile(r'"sha256": "[0-9a-f]{64}"'), '"sha256": "SHA256"'),
    # The history table's first column: the local date and time of the call.
    (re.compile(r"(?m)^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?=   )"), "YYYY-MM-DD HH:MM"),
)


class ReadmeError(Exception):
    """The README or a tour command is not as this script expects; the message says what."""


def normalise(text: str) -> str:
    """`text` with the volatile fields of a tour run masked, and nothing else changed."""
    for pattern, replacement in VOLATILE:
        text = pattern.sub(replacement, text)
    return text


# -- regions -------------------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"


def region(text: str, name: str) -> str:
    """What lies between a region's markers."""
    start, end = _markers(name)
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ReadmeError(f"README.md must hold one {start.strip()} line, then one {end}")
    return text.split(start, 1)[1].split(end, 1)[0]


def replace_region(text: str, name: str, body: str) -> str:
    start, end = _markers(name)
    old = region(text, name)
    before, after = text.split(start + old + end, 1)
    return before + start + body + end + after


# -- running flux2 -------------------------------------------------------------------------------


def environment(home: Path) -> dict[str, str]:
    """A fixed environment, built from nothing: no key, no FLUX2_* setting, no proxy leaks in."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "COLUMNS": "80",  # what a newcomer's terminal is likely to be
        "NO_COLOR": "1",
        "TERM": "dumb",
        "PYTHONIOENCODING": "utf-8",
        "PYTHONUTF8": "1",
        "PYTHONPATH": str(ROOT),
        "FLUX2_CONFIG_DIR": str(home / ".config" / "flux2"),
        "FLUX2_DATA_DIR": str(home / ".local" / "share" / "flux2"),
        "FLUX2_STATE_DIR": str(home / ".local" / "state" / "flux2"),
        "FLUX2_CACHE_DIR": str(home / ".cache" / "flux2"),
    }


def run_flux2(args: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    """What `flux2 ARGS` prints, stderr and stdout interleaved, trailing spaces dropped."""
    result = subprocess.run(
        [sys.executable, "-m", "flux_cli", *args],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = result.stdout.decode("utf-8")
    command = shlex.join([PROGRAM, *args])
    if result.returncode != 0:
        raise ReadmeError(f"`{command}` exited {result.returncode}:\n{output}")
    lines = [line.rstrip() for line in output.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


# -- the CLI reference ---------------------------------------------------------------------------


def command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command, in the order `--help` lists them (hidden ones left out)."""
    import typer.core
    import typer.main

    from flux_cli.cli.registry import app

    paths: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        paths.append(path)
        if isinstance(command, typer.core.TyperGroup):
            for name, sub in command.commands.items():
                if not sub.hidden:
                    walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return paths


def reference() -> str:
    """The reference region: one heading and one ```text block per command's `--help`."""
    from concurrent.futures import ThreadPoolExecutor

    paths = command_paths()
    with tempfile.TemporaryDirectory(prefix="flux2-readme-") as scratch:
        home = Path(scratch)
        env = environment(home)
        with ThreadPoolExecutor(max_workers=2) as pool:
            helps = list(pool.map(lambda p: run_flux2([*p, "--help"], home, env), paths))
    parts = [
        "<!-- Generated by scripts/readme.py from each command's --help: edit the help text in"
        " flux_cli/cli/, then run python scripts/readme.py. -->\n"
    ]
    for path, text in zip(paths, helps, strict=True):
        parts.append(f"\n### `{shlex.join([PROGRAM, *path, '--help'])}`\n\n```text\n{text}\n```\n")
    return "".join(parts) + "\n"


# -- the tour ------------------------------------------------------------------------------------

CONSOLE_BLOCK = re.compile(r"^```console\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def tour(template: str) -> str:
    """The tour region with every `$ flux2 …` line of its console blocks run afresh, in order."""
    with tempfile.TemporaryDirectory(prefix="flux2-tour-") as scratch:
        home = Path(scratch) / "home"
        home.mkdir()
        env = environment(home)

        def rerun(block: re.Match[str]) -> str:
            lines = [line for line in block.group(1).splitlines() if line.startswith("$ ")]
            if not lines:
                return block.group(0)
            shown: list[str] = []
            for line in lines:
                words = shlex.split(line[2:])
                if not words or words[0] != PROGRAM:
                    raise ReadmeError(f"the tour runs only {PROGRAM} commands, not: {line}")
                output = run_flux2(words[1:], home, env)
                for path in {str(home), str(home.resolve())}:
                    output = output.replace(path, SHOWN_HOME)
                shown.append(line)
                if output:
                    shown.append(output)
            return "```console\n" + "\n".join(shown) + "\n```"

        return CONSOLE_BLOCK.sub(rerun, template)


# -- the table of contents ---------------------------------------------------------------------


def toc(readme: str) -> str:
    """One link per `## ` section (outside code blocks), as GitHub makes their anchors."""
    lines: list[str] = []
    fenced = False
    for line in readme.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## ") and line != "## Contents":
            title = line[3:].strip()
            anchor = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
            lines.append(f"- [{title}](#{anchor})")
    return "\n".join(lines) + "\n"


# -- the README ----------------------------------------------------------------------------------


def render_reference(text: str) -> str:
    """docs/reference.md with its region regenerated."""
    return replace_region(text, "reference", reference())


def render(readme: str) -> str:
    """The README with its regions regenerated; a tour that changed only in its volatile fields
    is kept as it was, so re-running the script does not churn the file."""
    text = replace_region(readme, "toc", toc(readme))
    written = region(text, "tour")
    fresh = tour(written)
    if normalise(fresh) != normalise(written):
        text = replace_region(text, "tour", fresh)
    return text


def diff(before: str, after: str, name: str = "README.md") -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (as written)",
        tofile=f"{name} (generated)",
    )
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 with a diff when stale"
    )
    args = parser.parse_args(argv)
    stale = 0
    for path, make in ((README, render), (REFERENCE, render_reference)):
        name = str(path.relative_to(ROOT))
        current = path.read_text(encoding="utf-8")
        try:
            updated = make(current)
        except ReadmeError as exc:
            print(f"readme.py: {name}: {exc}", file=sys.stderr)
            return 2
        if updated == current:
            print(f"{name} is up to date", file=sys.stderr)
        elif args.check:
            sys.stdout.write(diff(current, updated, name))
            print(f"{name} is stale: run python scripts/readme.py", file=sys.stderr)
            stale = 1
        else:
            path.write_text(updated, encoding="utf-8")
            print(f"wrote {name}", file=sys.stderr)
    return stale


if __name__ == "__main__":
    sys.exit(main())
