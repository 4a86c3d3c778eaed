"""What `flux2 auth` knows about the API key: where the key in use comes from and what it hides,
how to fix a refused one, what OpenRouter says about it (`GET /key`), and the key `login` reads
from stdin. No typer, no rich: the command renders these.

Which key wins is `credentials.resolve_key`'s rule: OPENROUTER_API_KEY > OPENROUTER_API_KEY_FILE
> the stored key file.

    info = check_key(app.client_factory, key, base_url)   # base_url None: an in-process sandbox
    notes = shadowing(key.source)                           # the keys `key` hides from use
    status = read_status(app.client_factory, label, base_url, check=True)  # `auth status`
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from flux_cli.credentials import KEY_ENV, KEY_FILE_ENV, KEYS_URL, stored_key_path
from flux_cli.errors import ConfigError

if TYPE_CHECKING:
    from flux_cli.credentials import ApiKey
    from flux_cli.openrouter.account import KeyInfo
    from flux_cli.openrouter.client import OpenRouterClient
    from flux_cli.openrouter.errors import AuthenticationError

__all__ = [
    "MAX_KEY_CHARS",
    "KeyStatus",
    "check_key",
    "environment_keys",
    "fix_hint",
    "key_from_stdin",
    "key_summary",
    "not_stored",
    "read_key",
    "read_status",
    "shadowing",
    "source_path",
    "source_text",
    "status_record",
]

# A real key is about 73 characters; anything much longer on stdin is not a key.
MAX_KEY_CHARS = 1024
STDIN_HINT = "pipe the key in (flux2 auth login < key.txt) or run flux2 auth login in a terminal"

ClientFactory = Callable[..., "OpenRouterClient"]


# -- the key login reads ------------------------------------------------------------------------


def key_from_stdin(stream: TextIO | None) -> str:
    """The first line of `stream`, the key as given; ConfigError when it is empty, unreadable or
    too long to be a key. Nothing waits: an empty stdin is an error at once."""
    try:
        line = stream.readline(MAX_KEY_CHARS + 1) if stream is not None else ""
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise ConfigError(f"cannot read the key from stdin: {exc}", hint=STDIN_HINT) from None
    if not line.strip():
        raise ConfigError("no key on stdin", hint=STDIN_HINT)
    if len(line.strip()) > MAX_KEY_CHARS:
        raise ConfigError("the first line of stdin is too long to be an API key", hint=STDIN_HINT)
    return line


def read_key(stdin: TextIO | None, *, terminal: bool) -> tuple[str, str]:
    """The raw key and where it came from. Without a terminal there is no prompt: the key is the
    first line of stdin (`key_from_stdin`); on one it is asked for without echo, on stderr."""
    if not terminal:
        return key_from_stdin(stdin), "stdin"
    import getpass
    import sys

    try:
        # getpass reads the terminal without echo, and Ctrl-C stays an interrupt (exit 130),
        # where a Typer prompt would turn it into "Aborted!" and exit 1.
        raw = getpass.getpass("OpenRouter API key (input is hidden): ", stream=sys.stderr)
    except EOFError:
        raise ConfigError("no key was entered", hint=f"get a key at {KEYS_URL}") from None
    return raw, "the prompt"


def not_stored(exc: AuthenticationError, *, sandbox: bool) -> ConfigError:
    """The error for a key the server refused at login: it is not stored."""
    said = exc.message.replace("OpenRouter", "the sandbox") if sandbox else exc.message
    return ConfigError(
        f"the key was not stored: {said}",
        hint=f"copy the key again from {KEYS_URL} (--no-check stores it without asking)",
    )


# -- asking OpenRouter --------------------------------------------------------------------------


def check_key(make_client: ClientFactory, key: ApiKey, base_url: str | None) -> KeyInfo:
    """GET /key at `base_url` with a client from `make_client` (`App.client_factory`'s
    signature), or at an in-process sandbox when `base_url` is None."""
    from flux_cli.openrouter import account
    from flux_cli.openrouter.client import Timeouts

    if base_url is None:
        from flux_cli.sandbox import Sandbox, SandboxConfig

        with Sandbox(SandboxConfig(port=0)) as sb:
            return check_key(make_client, key, sb.base_url)
    timeouts = Timeouts(connect=5.0, read=20.0, attempt=30.0)
    with make_client(base_url, key, timeouts=timeouts, max_retries=1) as client:
        return account.key_info(client)


def key_summary(info: KeyInfo) -> str:
    """`label 'laptop', limit $5.000 monthly, $4.970 left, usage today $0.030`."""
    from flux_cli.pricing import format_usd

    parts = []
    if (name := info.user_label) is not None:
        parts.append(f"label {name!r}")
    if info.limit_micros is None:
        parts.append("no limit")
    else:
        reset = f" {info.limit_reset}" if info.limit_reset else ""
        parts.append(f"limit {format_usd(info.limit_micros)}{reset}")
        if info.limit_remaining_micros is not None:
            parts.append(f"{format_usd(info.limit_remaining_micros)} left")
    if info.usage_daily_micros is not None:
        parts.append(f"usage today {format_usd(info.usage_daily_micros)}")
    return ", ".join(parts)


# -- where the key comes from -------------------------------------------------------------------


def source_path(key: ApiKey) -> Path | None:
    """The file the key was read from; None for the environment variable."""
    if key.source == KEY_FILE_ENV:
        return Path(os.environ.get(KEY_FILE_ENV, "").strip()).expanduser()
    if key.source == "key file":
        return stored_key_path()
    return None


def source_text(key: ApiKey) -> str:
    if key.source == KEY_ENV:
        return f"the environment variable {KEY_ENV}"
    if key.source == KEY_FILE_ENV:
        return f"{KEY_FILE_ENV} ({source_path(key)})"
    return f"the stored key file {source_path(key)}"


def fix_hint(key: ApiKey) -> str:
    """How to replace a refused key, where it comes from."""
    if key.source == KEY_ENV:
        return f"set {KEY_ENV} to a working key from {KEYS_URL}, or unset it"
    if key.source == KEY_FILE_ENV:
        return f"put a working key from {KEYS_URL} in {source_path(key)}"
    return f"store a working key from {KEYS_URL} with: flux2 auth login"


def environment_keys() -> list[str]:
    """The key variables set (non-empty) in the environment, in order of precedence."""
    return [name for name in (KEY_ENV, KEY_FILE_ENV) if os.environ.get(name, "").strip()]


def shadowing(winner: str) -> list[str]:
    """Notes on the keys that `winner` (an ApiKey.source) hides from use."""
    from flux_cli.credentials import read_stored_key

    if winner == "key file":  # the last in line: it hides nothing
        return []
    notes = [
        f"{name} is set too, but {winner} wins" for name in environment_keys() if name != winner
    ]
    path = stored_key_path()
    try:
        read_stored_key(path)
    except FileNotFoundError:
        return notes
    except ConfigError as exc:  # unsafe: say so now, before it is ever needed
        fix = f" (fix: {exc.hint})" if exc.hint else ""
        notes.append(f"the stored key file is not used while {winner} is set; {exc.message}{fix}")
        return notes
    notes.append(f"the stored key file {path} is not used while {winner} is set")
    return notes


# -- `auth status` ------------------------------------------------------------------------------


@dataclass
class KeyStatus:
    """What `flux2 auth status` found: the key in use (None when there is none), what the server
    said about it (None unchecked or refused), the keys it hides, and the error the command ends
    with (None when the key is usable)."""

    label: str
    base_url: str | None  # None: an in-process sandbox
    checked: bool
    key: ApiKey | None = None
    info: KeyInfo | None = None
    notes: list[str] = field(default_factory=list)
    error: Exception | None = None

    def record(self) -> dict[str, Any]:
        return status_record(
            self.label, self.base_url, self.key, self.info, notes=self.notes, error=self.error
        )

    def lines(self) -> list[tuple[str, str]]:
        """(what, value) lines for a person: the key masked, its source, the API, the check."""
        from flux_cli.endpoints import live_name

        assert self.key is not None
        where, url = live_name(self.label), self.base_url
        lines = [("key", self.key.masked), ("source", source_text(self.key))]
        lines.append(("api", where if url is None or where == url else f"{where} ({url})"))
        if self.info is not None:
            lines.append(("check", f"accepted: {key_summary(self.info)}"))
        elif self.error is not None:
            lines.append(("check", "failed (see below)"))
        elif not self.checked:
            lines.append(("check", "not checked (--no-check)"))
        return lines


def read_status(
    make_client: ClientFactory, label: str, base_url: str | None, *, check: bool
) -> KeyStatus:
    """The key in use and, with `check`, what the server at `base_url` says about it."""
    from flux_cli.credentials import resolve_key
    from flux_cli.errors import Flux2Error
    from flux_cli.openrouter.errors import AuthenticationError

    status = KeyStatus(label, base_url, check)
    try:
        status.key = key = resolve_key()
    except ConfigError as exc:
        status.error = exc
        return status
    if check:
        try:
            status.info = check_key(make_client, key, base_url)
        except AuthenticationError as exc:
            status.error = ConfigError(
                f"the key from {source_text(key)} is refused: {exc.message}",
                hint=fix_hint(key),
            )
        except Flux2Error as exc:
            status.error = exc
    status.notes = shadowing(winner=key.source)
    return status


def status_record(
    label: str,
    base_url: str | None,
    key: ApiKey | None,
    info: KeyInfo | None,
    *,
    notes: list[str],
    error: Exception | None,
) -> dict[str, Any]:
    """The key in use (masked), where it comes from, what the server said, and any error (with
    whatever looks like a secret redacted)."""
    from flux_cli.redact import redact

    return {
        "ok": error is None,
        "source": key.source if key else None,
        "path": str(path) if key and (path := source_path(key)) else None,
        "masked": key.masked if key else None,
        "api": label,
        "base_url": base_url,
        "checked": info is not None,
        "key": _info_record(info) if info is not None else None,
        "notes": notes,
        "error": redact(str(error)) if error is not None else None,
    }


def _info_record(info: KeyInfo) -> dict[str, Any]:
    from flux_cli.records import usd

    return {
        "label": info.user_label,
        "limit_usd": usd(info.limit_micros),
        "limit_remaining_usd": usd(info.limit_remaining_micros),
        "limit_reset": info.limit_reset,
        "usage_daily_usd": usd(info.usage_daily_micros),
        "usage_usd": usd(info.usage_micros),
        "is_free_tier": info.is_free_tier,
    }
