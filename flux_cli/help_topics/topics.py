"""The topics of `flux2 help`, the index page, and finding a topic by name, alias or typo."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flux_cli.help_topics.exit_codes_topic import exit_codes_page
from flux_cli.help_topics.layout import DEFAULT_WIDTH, cmd, definitions, page, paragraph
from flux_cli.help_topics.pricing_topic import pricing_page
from flux_cli.help_topics.templates_topic import templates_page

# -- the index -----------------------------------------------------------------------------------


def index_page(commands: Sequence[tuple[str, str]], width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help`: the topics, the commands (name, one-line summary) and how to get more."""
    topics = [(t.name, t.summary) for t in TOPICS]
    column = max(len(name) for name, _ in (*topics, *commands))
    return page(
        [
            ["Topics:", *definitions(topics, width, column=column)],
            ["Commands:", *definitions(commands, width, column=column)],
            paragraph(
                f"{cmd('flux2 help TOPIC')} shows a topic. {cmd('flux2 help COMMAND')}, or "
                f"{cmd('flux2 COMMAND --help')}, shows a command's options "
                f"({cmd('flux2 help config set')} for a sub-command). {cmd('flux2 --help')} "
                "shows the global options.",
                width,
            ),
        ]
    )


def summary_width(commands: Sequence[str], width: int = DEFAULT_WIDTH) -> int:
    """How long a command's one-line summary may be in the index `width` columns wide."""
    column = max(len(name) for name in (*commands, *(topic.name for topic in TOPICS)))
    return max(20, width - column - 4)  # the index's two-space indent and two-space gap


# -- topics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    summary: str
    aliases: tuple[str, ...]
    render: Callable[[int], str]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "exit-codes",
        "What each exit code means, and which ones a script should retry.",
        ("exit", "codes", "exit-code", "exitcodes"),
        exit_codes_page,
    ),
    Topic(
        "templates",
        "-o forms, name template fields, the default name, collisions.",
        ("template", "output", "names", "filenames"),
        templates_page,
    ),
    Topic(
        "pricing",
        "How a call is priced by the megapixel; each model's prices.",
        ("price", "prices"),
        pricing_page,
    ),
)


def _normal(word: str) -> str:
    return word.strip().lower().replace("_", "-")


def find_topic(word: str) -> Topic | None:
    """A topic by its name or an alias, ignoring case (`exit_codes` works too)."""
    wanted = _normal(word)
    return next((t for t in TOPICS if wanted == t.name or wanted in t.aliases), None)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate a typo most likely meant, or None when none is close."""
    import difflib

    matches = difflib.get_close_matches(_normal(word), list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
