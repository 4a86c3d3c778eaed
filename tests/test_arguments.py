"""The command line before it is parsed: the command a TAB completes, `--preview=NAME`."""

from __future__ import annotations

import pytest

from flux_cli.arguments import command_needed, completed_command, with_preview_values


@pytest.mark.parametrize(
    ("environ", "command"),
    [
        ({"COMP_WORDS": "flux2 generate --mo", "COMP_CWORD": "2"}, "generate"),
        ({"COMP_WORDS": "flux2 gen", "COMP_CWORD": "1"}, None),  # the name is still being typed
        ({"COMP_WORDS": "flux2 --debug cost -m", "COMP_CWORD": "3"}, "cost"),
        ({"COMP_WORDS": "flux2 generate", "COMP_CWORD": "x"}, None),
        ({"_TYPER_COMPLETE_ARGS": "flux2 history --b"}, "history"),
        ({"_TYPER_COMPLETE_ARGS": "flux2 his"}, None),
        ({"_TYPER_COMPLETE_ARGS": "flux2 config "}, "config"),
        ({}, None),
    ],
)
def test_the_completed_command_is_a_name_typed_in_full(
    environ: dict[str, str], command: str | None
) -> None:
    assert completed_command(environ) == command


def test_preview_with_a_value_names_the_protocol_and_words_after_the_dashes_stay() -> None:
    assert with_preview_values(["generate", "--preview=kitty", "a fox"]) == [
        "generate",
        "--preview-protocol",
        "kitty",
        "a fox",
    ]
    assert with_preview_values(["generate", "--preview", "a fox"]) == [
        "generate",
        "--preview",
        "a fox",
    ]
    assert with_preview_values(["generate", "--", "--preview=x"]) == [
        "generate",
        "--",
        "--preview=x",
    ]


KNOWN = frozenset({"generate", "cost", "config"})


@pytest.mark.parametrize(
    ("args", "environ", "needed"),
    [
        (["cost", "-m", "pro"], {}, "cost"),
        (["--debug", "generate", "a fox"], {}, "generate"),
        (["--version"], {}, ""),  # no command to build
        (["-V", "cost"], {}, "cost"),
        ([], {}, None),  # every command: the help lists them
        (["gnerate"], {}, None),  # every command: "did you mean" looks among them
        (["help"], {}, None),
        (
            [],
            {"_FLUX2_COMPLETE": "bash_complete", "_TYPER_COMPLETE_ARGS": "flux2 config "},
            "config",
        ),
        ([], {"_FLUX2_COMPLETE": "zsh_complete", "_TYPER_COMPLETE_ARGS": "flux2 co"}, None),
    ],
)
def test_the_command_a_run_needs_built(
    args: list[str], environ: dict[str, str], needed: str | None
) -> None:
    assert command_needed(args, environ, KNOWN) == needed
