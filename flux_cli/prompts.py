"""Where a prompt comes from: the argument, `--prompt-file`, or stdin (`-`, or nothing with
piped input); read with a bound, as UTF-8 text."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from flux_cli.errors import UsageError
from flux_cli.generation import MAX_PROMPT_CHARS
from flux_cli.userfiles import read_regular

MAX_PROMPT_BYTES = MAX_PROMPT_CHARS * 4  # UTF-8 takes at most four bytes a character


def decode_prompt(data: bytes, where: str) -> str:
    if len(data) > MAX_PROMPT_BYTES:
        raise UsageError(
            f"the prompt from {where} is too long (over {MAX_PROMPT_CHARS:,} characters)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"the prompt from {where} is not valid UTF-8 text") from None


def read_prompt(
    prompt: str | None, prompt_file: Path | None, *, stdin_is_tty: Callable[[], bool]
) -> str:
    """The prompt text. Nothing waits at a terminal: with no prompt given and stdin a terminal
    (`stdin_is_tty`), it is a usage error."""
    if prompt_file is not None:
        if prompt is not None:
            raise UsageError("give the prompt as an argument or with --prompt-file, not both")
        try:
            data = read_regular(prompt_file, "the prompt file", MAX_PROMPT_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read the prompt file {prompt_file}: {exc.strerror}") from None
        return decode_prompt(data, str(prompt_file))
    if prompt is not None and prompt != "-":
        return prompt
    stdin = sys.stdin
    if stdin is None or (prompt is None and stdin_is_tty()):
        raise UsageError(
            "no prompt given",
            hint='flux2 generate "a red fox in the snow", or pipe one in: echo "…" | flux2 generate',
        )
    try:
        data = stdin.buffer.read(MAX_PROMPT_BYTES + 1)
    except (OSError, ValueError, AttributeError):
        raise UsageError("cannot read the prompt from stdin") from None
    return decode_prompt(data, "stdin")
