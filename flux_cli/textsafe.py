"""Neutralise untrusted text before it reaches a terminal (reliability.md §5.17)."""

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
