"""The pages of `flux2 help TOPIC`, built from the tables the code itself uses.

Exit codes come from `exit_codes`, template fields and names from `output`, prices and the worked
example from `models` and `pricing`: a page cannot say something the code does not do. Plain text
only (no typer, no rich); the CLI layer decides where it goes. The modules a page needs are imported
when the page is built, so importing this one stays cheap (shell completion of topic names).
"""

from __future__ import annotations

from flux_cli.help_topics.exit_codes_topic import exit_code_advice, exit_codes_page
from flux_cli.help_topics.layout import DEFAULT_WIDTH, page_width
from flux_cli.help_topics.pricing_topic import pricing_page
from flux_cli.help_topics.templates_topic import TEMPLATE_FIELD_HELP, templates_page
from flux_cli.help_topics.topics import (
    TOPICS,
    Topic,
    closest,
    find_topic,
    index_page,
    summary_width,
)

__all__ = [
    "DEFAULT_WIDTH",
    "TEMPLATE_FIELD_HELP",
    "TOPICS",
    "Topic",
    "closest",
    "exit_code_advice",
    "exit_codes_page",
    "find_topic",
    "index_page",
    "page_width",
    "pricing_page",
    "summary_width",
    "templates_page",
]
