"""`flux2 help` with words that name nothing: the nearest name to a typo, and the lists."""

from __future__ import annotations

from flux_cli.help_lookup import unknown_help

COMMANDS = ["generate", "edit", "cost", "help"]


def test_a_typo_of_a_topic_alias_suggests_the_topic() -> None:
    error = unknown_help(["exitcode"], COMMANDS)
    assert error.message == "no help topic or command 'exitcode'"
    assert error.hint is not None
    assert error.hint.startswith("did you mean 'exit-codes'? topics: exit-codes, templates")
    assert error.hint.endswith("; commands: generate, edit, cost")


def test_a_typo_of_a_command_suggests_it_and_nothing_far_is_guessed() -> None:
    assert "did you mean 'generate'?" in str(unknown_help(["generat"], COMMANDS).hint)
    assert "did you mean" not in str(unknown_help(["zzzzzz"], COMMANDS).hint)


def test_several_words_name_a_command_path_and_get_no_guess() -> None:
    error = unknown_help(["config", "sett"], COMMANDS)
    assert error.message == "no command 'config sett'"
    assert error.hint is not None
    assert error.hint.startswith("topics: ")
