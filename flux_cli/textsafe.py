"""Neutralise untrusted text before it reaches a terminal (docs/reliability.md#security)."""

from __future__ import annotations

import re

# CSI, OSC (terminated by BEL or ST) and other ESC sequences, then remaining C0/C1 controls
# except tab and newline, and the bidi overrides that can disguise text.
# Compiled by `re` on first use, not at import (start-up).
_ANSI = r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


def strip_control(text: str, limit: int | None = None) -> str:
    text = re.sub(_CONTROL, "", re.sub(_ANSI, "", text))
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection"), tab and CR included.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> object:
    """A value for a CSV cell that a spreadsheet shows as text: escape codes and other controls
    removed, and a leading `'` before text that a spreadsheet would run as a formula
    (`=HYPERLINK(…)`, `+…`, `-…`, `@…`). None is an empty cell; numbers pass as they are."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = re.sub(_ANSI, "", value)
    if text.startswith(_FORMULA_START):
        text = "'" + text
    return re.sub(_CONTROL, "", text)
