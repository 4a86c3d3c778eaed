"""API keys as the sandbox sees them: what is well-formed, what is accepted, how it is shown."""

from __future__ import annotations

import re

from flux_cli.redact import mask_key
from flux_cli.sandbox.wire import ApiError, Request

KEY_PREFIX = "sk-or-v1-"
_WELL_FORMED = re.compile(r"sk-or-v1-[A-Za-z0-9]{16,128}")

# The key `--sandbox` runs use: well-formed, obviously not a real one.
SANDBOX_KEY = KEY_PREFIX + "sandbox" + "0" * 57

# docs/openrouter.md#status-codes: both 401 bodies are recorded verbatim.
NO_CREDENTIALS = "No cookie auth credentials found"
USER_NOT_FOUND = "User not found."


def is_well_formed(key: str) -> bool:
    return _WELL_FORMED.fullmatch(key) is not None


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, or None when there is no such header."""
    header = (request.header("authorization") or "").strip()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request, accepted: str | None) -> str:
    """The caller's key, or a 401 exactly as OpenRouter words it."""
    token = bearer_token(request)
    if token is None:
        raise ApiError(401, NO_CREDENTIALS)
    if not is_well_formed(token) or (accepted is not None and token != accepted):
        raise ApiError(401, USER_NOT_FOUND)
    return token


def key_label(key: str) -> str:
    """`sk-or-v1-abc...xyz`, the form `/key` reports as `label` (docs/openrouter.md#key)."""
    return f"{key[: len(KEY_PREFIX) + 3]}...{key[-3:]}"


def masked(key: str) -> str:
    """`sk-or-v1-…abcd`, how flux2 shows a key everywhere else (README, "The API key")."""
    return mask_key(key)


def mask_authorization(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    if not token:
        return mask_key(value)
    return f"{scheme} {mask_key(token)}"
