"""Write completions/ from the app itself: `python scripts/completions.py` (a test checks for drift).

The scripts are Typer's: each calls back into `flux2` for the candidates, so model names, aspect
ratios and every option stay current without regenerating; the files change only if the command's
name or Typer's protocol does.

fish's script is flux2's own (flux_cli/cli/completion.py): Typer's starts flux2 twice per TAB.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"bash": "flux2.bash", "zsh": "_flux2", "fish": "flux2.fish"}


def script_for(shell: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flux_cli", "--show-completion", shell],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(ROOT),
            "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1",
        },
        cwd=ROOT,
    )
    script = result.stdout.rstrip("\n") + "\n"
    if script.count("_FLUX2_COMPLETE=") != 1:
        raise SystemExit(f"the {shell} script would start flux2 more than once per TAB:\n{script}")
    return script


def main() -> None:
    out = ROOT / "completions"
    out.mkdir(exist_ok=True)
    for shell, name in TARGETS.items():
        (out / name).write_text(script_for(shell), encoding="utf-8")
        print(f"wrote completions/{name}")


if __name__ == "__main__":
    main()
