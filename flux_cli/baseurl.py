"""One name per API: the canonical spelling of a base URL, and which account it reaches.

Spellings that differ only in case, a default port, a trailing `/` or `.` segments are the same
API (RFC 3986 §6.2.2–§6.2.3); `eu.openrouter.ai` and `us.openrouter.ai` reach the same account
as `openrouter.ai` (docs/openrouter.md#base-url-spellings-and-regions), so budgets and history
file them under one label. Requests still go to the URL as given.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
#: Regional hosts of one OpenRouter account (they only pin where requests are processed).
_SAME_ACCOUNT = {"eu.openrouter.ai": "openrouter.ai", "us.openrouter.ai": "openrouter.ai"}


def _path(path: str) -> str:
    """`.` segments dropped, `..` resolved, empty segments (`//`, a trailing `/`) dropped."""
    kept: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
            continue
        kept.append(segment)
    return "/" + "/".join(kept) if kept else ""


def canonical(url: str) -> str:
    """`HTTPS://OpenRouter.AI:443/api/./v1/` → `https://openrouter.ai/api/v1`. A URL that does not
    parse comes back stripped, unchanged otherwise."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text.rstrip("/")
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return text.rstrip("/")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, _path(parts.path), parts.query, ""))


def account(url: str) -> str:
    """The canonical URL of the account `url` reaches: a regional OpenRouter host is the main one."""
    name = canonical(url)
    parts = urlsplit(name)
    host = parts.hostname or ""
    main = _SAME_ACCOUNT.get(host)
    if main is None:
        return name
    netloc = parts.netloc.replace(host, main, 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))
