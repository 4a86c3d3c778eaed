"""Write completions/ from the app itself: `python scripts/completions.py` (a test checks for drift).

The scripts are Typer's: each calls back into `flux2` for the candidates, so model names, aspect
ratios and every option stay current without regenerating; the files change only if the command's
name or Typer's protocol does.

One change is made to Typer's fish script: it runs `flux2` twice per TAB, once in `--condition`
(`_TYPER_COMPLETE_FISH_ACTION=is-args`: "are there candidates?", answered by the exit status, so
fish offers file names when there are none) and once in `--arguments` (`get-args`: the
candidates). Every TAB then pays flux2's start-up twice. The script written here asks once, with
get-args, and offers file names itself (`__fish_complete_path`) when no candidate came back.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"bash": "flux2.bash", "zsh": "_flux2", "fish": "flux2.fish"}

_TYPER_FISH = re.compile(
    r"complete --command (?P<prog>[\w-]+) --no-files "
    r'--arguments "\((?P<get_args>env [^"()]*get-args[^"]*?)\)" '
    r'--condition "env [^"]*is-args[^"]*"\s*'
)
_ONE_PROCESS_FISH = """\
# One {prog} process per TAB: ask for the candidates once, and offer file names when there are none.
function __{prog}_complete
    set -l candidates ({get_args} | string match --invert '')
    if set -q candidates[1]
        printf '%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete --command {prog} --no-files --arguments "(__{prog}_complete)"
"""


def one_process_fish(typer_script: str) -> str:
    """Typer's fish script rewritten to start flux2 once per TAB (see the module docstring)."""
    found = _TYPER_FISH.fullmatch(typer_script)
    if found is None:
        raise SystemExit(
            "Typer's fish completion script changed shape; update one_process_fish in "
            f"scripts/completions.py for it:\n{typer_script}"
        )
    return _ONE_PROCESS_FISH.format(prog=found["prog"], get_args=found["get_args"])


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
    return one_process_fish(script) if shell == "fish" else script


def main() -> None:
    out = ROOT / "completions"
    out.mkdir(exist_ok=True)
    for shell, name in TARGETS.items():
        (out / name).write_text(script_for(shell), encoding="utf-8")
        print(f"wrote completions/{name}")


if __name__ == "__main__":
    main()
