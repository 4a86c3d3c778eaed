"""Where the ledger lives: the local SQLite file (default), or `ledger.url` (a PostgreSQL URL).

The URL may hold a password; it is shown only masked (`postgresql://flux@db:5432/flux2`, the
password as `…`), and the password is registered with `flux_cli.redact` so stderr never shows it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from flux_cli import paths
from flux_cli.errors import UsageError

LEDGER_FILENAME = "ledger.sqlite3"
URL_ENV = "FLUX2_LEDGER_URL"
SCHEMES = ("postgresql", "postgres")
MASK = "…"


def default_path() -> Path:
    return paths.data_dir() / LEDGER_FILENAME


class LedgerUrl(str):
    """A PostgreSQL URL that prints masked: `str()`, `repr()` and f-strings give the masked form;
    `.secret` is the URL as written, for libpq only."""

    masked: str

    def __new__(cls, url: str) -> LedgerUrl:
        made = super().__new__(cls, url)
        made.masked = _mask(url)
        return made

    @property
    def secret(self) -> str:
        return str.__str__(self)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"LedgerUrl({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def scrub(self, text: str) -> str:
        """`text` with this URL and its password masked (for database error messages)."""
        text = text.replace(self.secret, self.masked)
        for secret in _passwords(self.secret):
            text = text.replace(secret, MASK)
        return text


def _passwords(url: str) -> list[str]:
    parts = urlsplit(url)
    found = [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k == "password" and v]
    return found


def _mask(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None and "@" in netloc:
        user_info, host = netloc.rsplit("@", 1)
        user = user_info.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}"
    query = "&".join(f"{k}={MASK if k == 'password' else v}" for k, v in parse_qsl(parts.query))
    masked = f"{parts.scheme}://{netloc}{parts.path}"
    return f"{masked}?{query}" if query else masked


def parse_ledger_url(text: str) -> LedgerUrl:
    """The `ledger.url` setting: a `postgresql://` URL; anything else is a UsageError that never
    echoes a password."""
    from flux_cli.redact import register_secret

    value = text.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(
            "ledger.url is not a URL flux2 can read",
            hint="use postgresql://USER@HOST:PORT/DATABASE (the password in ~/.pgpass)",
        ) from None
    url = LedgerUrl(value)
    for secret in _passwords(value):
        register_secret(secret)
    if parts.scheme.lower() not in SCHEMES:
        raise UsageError(
            f"ledger.url must be a postgresql:// URL, got {url.masked!r}",
            hint="unset it (flux2 config unset ledger.url) to use the local SQLite ledger",
        )
    return url
