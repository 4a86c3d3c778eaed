"""Keep API keys out of everything people or logs can see (README.md#configuration-and-environment).

Any key flux2 loads is registered here; `redact()` replaces registered values and anything shaped
like an OpenRouter key or a bearer token with the masked form `sk-or-v1-…abcd`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, TextIO

# Patterns, not compiled ones: `re` compiles them on first use (and keeps them), so a run that
# never writes to stderr does not pay for them at start-up.
_KEY_PATTERN = r"sk-or-(?:v\d+-)?[A-Za-z0-9_\-]{8,}"
_BEARER_PATTERN = r"(?i)(bearer\s+)[^\s'\",]+"
_lock = threading.Lock()
_secrets: set[str] = set()
_public: set[str] = set()


def mask_key(key: str) -> str:
    """`sk-or-v1-…abcd`: the prefix and the last four characters only."""
    key = key.strip()
    tail = key[-4:] if len(key) >= 12 else ""
    prefix = "sk-or-v1-" if key.startswith("sk-or-v1-") else ""
    return f"{prefix}…{tail}"


def register_secret(secret: str) -> None:
    secret = secret.strip()
    if len(secret) >= 8:
        with _lock:
            _secrets.add(secret)


def declare_public(value: str) -> None:
    """A key-shaped value that is meant to be shown (the sandbox's rehearsal key)."""
    with _lock:
        _public.add(value.strip())


def redact(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets - _public, key=len, reverse=True)
        public = set(_public)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask_key(secret))
    text = re.sub(
        _KEY_PATTERN,
        lambda m: m.group(0) if m.group(0) in public else mask_key(m.group(0)),
        text,
    )
    return re.sub(_BEARER_PATTERN, lambda m: f"{m.group(1)}[redacted]", text)


class RedactingStream:
    """A text stream that masks keys in everything written to it.

    Installed over stderr by the entry point, so that even text flux2 does not compose itself
    (a usage error echoing a key pasted as a stray argument) never shows a key.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
