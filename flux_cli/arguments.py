"""The command line before it is parsed: which command a run (or a TAB completion) names, and the
`--preview=NAME` spelling turned into the options it stands for. Plain lists of words and the
environment in, plain words out; `cli/registry.py` and `cli/main.py` use them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

__all__ = ["command_needed", "completed_command", "with_preview_values"]

VERSION_FLAGS = frozenset({"--version", "-V"})


def command_needed(
    args: Sequence[str], environ: Mapping[str, str], known: Collection[str]
) -> str | None:
    """The one command a run with `args` needs built: "" for none (`--version` alone), None for
    every command (no command, one not `known`, or a TAB completing the command's name).

    The global options take no values, so the first argument that is not an option names the
    command; while a TAB is completed (`_FLUX2_COMPLETE` set) it is the completed line's."""
    if any(key.startswith("_FLUX2_COMPLETE") for key in environ):
        name = completed_command(environ)
    else:
        name = next((arg for arg in args if not arg.startswith("-")), None)
        if name is None and any(arg in VERSION_FLAGS for arg in args):
            return ""  # the version needs no command
    return name if name in known else None


def completed_command(environ: Mapping[str, str]) -> str | None:
    """The command of the line being completed, once its name is typed in full (another word
    follows it): completing its options and values needs only that command. Bash passes the
    words and the index of the one completed; zsh and fish pass the line."""
    if "COMP_WORDS" in environ:
        words = environ["COMP_WORDS"].split()
        try:
            current = int(environ.get("COMP_CWORD", ""))
        except ValueError:
            return None
        done = words[1:current]
    else:
        line = environ.get("_TYPER_COMPLETE_ARGS", "")
        words = line.split()
        done = words[1:] if line.endswith(" ") else words[1:-1]
    return next((word for word in done if not word.startswith("-")), None)


def with_preview_values(args: Sequence[str]) -> list[str]:
    """`--preview=NAME` is `--preview-protocol NAME`; a bare `--preview` stays a flag.

    A flag whose value is optional cannot be declared in Typer without taking the next word as
    its value (`--preview "a fox"` would lose the prompt), so only the `=` spelling carries one,
    and it is spelled out here before parsing. Words after `--` are left as they are."""
    out: list[str] = []
    for index, arg in enumerate(args):
        if arg == "--":
            out.extend(args[index:])
            break
        if arg.startswith("--preview="):
            out += ["--preview-protocol", arg.removeprefix("--preview=")]
        else:
            out.append(arg)
    return out
