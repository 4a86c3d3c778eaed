"""What `flux2 help WORDS` says when WORDS name no topic and no command: the nearest topic or
command to a typo, and the lists to choose from."""

from __future__ import annotations

from collections.abc import Sequence

from flux_cli.errors import UsageError


def unknown_help(words: Sequence[str], commands: Sequence[str]) -> UsageError:
    """The error for `flux2 help WORDS`; `commands` are the app's visible commands."""
    from flux_cli.help_topics import TOPICS, closest

    topics = [topic.name for topic in TOPICS]
    listed = [name for name in commands if name != "help"]
    wanted = " ".join(words)
    if len(words) == 1:
        names = {name: name for name in listed}
        names.update({alias: t.name for t in TOPICS for alias in (t.name, *t.aliases)})
        guess = closest(words[0], list(names))
        message = f"no help topic or command {wanted!r}"
        suggestion = f"did you mean {names[guess]!r}? " if guess else ""
    else:
        message = f"no command {wanted!r}"
        suggestion = ""
    return UsageError(
        message,
        hint=f"{suggestion}topics: {', '.join(topics)}; commands: {', '.join(listed)}",
    )
