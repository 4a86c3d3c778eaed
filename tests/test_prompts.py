"""Where a prompt comes from: the argument, a file, or stdin, and never a wait at a terminal."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from flux_cli.errors import UsageError
from flux_cli.generation import MAX_PROMPT_CHARS
from flux_cli.prompts import read_prompt


class _Stdin:
    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def _never_a_tty() -> bool:
    return False


def test_the_argument_wins_and_a_file_is_read_as_utf8(tmp_path: Path) -> None:
    assert read_prompt("a fox", None, stdin_is_tty=_never_a_tty) == "a fox"
    path = tmp_path / "prompt.txt"
    path.write_text("un renard ü", encoding="utf-8")
    assert read_prompt(None, path, stdin_is_tty=_never_a_tty) == "un renard ü"
    with pytest.raises(UsageError, match="not both"):
        read_prompt("a fox", path, stdin_is_tty=_never_a_tty)


def test_a_bad_prompt_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "prompt.txt"
    path.write_bytes(b"\xff\xfe not text")
    with pytest.raises(UsageError, match="not valid UTF-8"):
        read_prompt(None, path, stdin_is_tty=_never_a_tty)
    path.write_bytes(b"x" * (MAX_PROMPT_CHARS * 4 + 1))
    with pytest.raises(UsageError, match="too long"):
        read_prompt(None, path, stdin_is_tty=_never_a_tty)
    with pytest.raises(UsageError, match="cannot read the prompt file"):
        read_prompt(None, tmp_path / "missing.txt", stdin_is_tty=_never_a_tty)


def test_stdin_is_read_when_piped_and_never_waited_for_at_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(b"a fox from a pipe"))
    assert read_prompt(None, None, stdin_is_tty=_never_a_tty) == "a fox from a pipe"
    monkeypatch.setattr(sys, "stdin", _Stdin(b"a fox from a pipe"))
    assert read_prompt("-", None, stdin_is_tty=lambda: True) == "a fox from a pipe"  # asked for
    with pytest.raises(UsageError, match="no prompt given"):
        read_prompt(None, None, stdin_is_tty=lambda: True)
    monkeypatch.setattr(sys, "stdin", None)
    with pytest.raises(UsageError, match="no prompt given"):
        read_prompt("-", None, stdin_is_tty=_never_a_tty)
