"""Shell completion scripts: Typer's, except fish's, which starts flux2 once per TAB.

Typer's fish script runs the program twice per TAB: once in `--condition`
(`_TYPER_COMPLETE_FISH_ACTION=is-args`, "are there candidates?", answered by the exit status so
that fish falls back to file names) and once in `--arguments` (`get-args`, the candidates). This
one asks once, with get-args, and offers file names itself (`__fish_complete_path`) when no
candidate came back. `--show-completion` and `--install-completion` write it, and so does
scripts/completions.py (completions/flux2.fish).
"""

from __future__ import annotations

# Typer fills in %(prog_name)s and %(autocomplete_var)s (a literal percent sign is %%).
FISH = """\
# One %(prog_name)s process per TAB: ask for the candidates once; file names when there are none.
function __%(prog_name)s_complete
    set -l candidates (env %(autocomplete_var)s=complete_fish \
_TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) %(prog_name)s \
| string match --invert '')
    if set -q candidates[1]
        printf '%%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete --command %(prog_name)s --no-files --arguments "(__%(prog_name)s_complete)"
"""


def install() -> None:
    """Have Typer write FISH for fish (its table of scripts, read when a script is printed)."""
    from typer import _completion_shared

    _completion_shared._completion_scripts["fish"] = FISH
