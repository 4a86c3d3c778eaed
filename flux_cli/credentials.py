"""Key and endpoint resolution (README.md#configuration-and-environment). No typer, no rich.

Key precedence: OPENROUTER_API_KEY > OPENROUTER_API_KEY_FILE > the stored key file. A key is
stripped of surrounding whitespace (a trailing newline from `echo > file` would otherwise put the
whole key into httpx's error text) and must be printable ASCII with no inner whitespace.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flux_cli import paths
from flux_cli.errors import ConfigError, UsageError
from flux_cli.redact import mask_key, register_secret

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
KEY_ENV = "OPENROUTER_API_KEY"
KEY_FILE_ENV = "OPENROUTER_API_KEY_FILE"
BASE_URL_ENV = "FLUX2_BASE_URL"
KEYS_URL = "https://openrouter.ai/settings/keys"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str

    @property
    def masked(self) -> str:
        return mask_key(self.value)

    def __repr__(self) -> str:  # never show the key, even in a debugger or a traceback
        return f"ApiKey({self.masked!r}, source={self.source!r})"


def normalise_key(raw: str, source: str) -> str:
    key = raw.strip()
    if not key:
        raise ConfigError(f"the API key from {source} is empty", hint=f"get a key at {KEYS_URL}")
    if not all(33 <= ord(ch) <= 126 for ch in key):
        raise ConfigError(
            f"the API key from {source} contains spaces or characters that are not printable ASCII",
            hint="copy the key again from " + KEYS_URL,
        )
    register_secret(key)
    return key


def stored_key_path() -> Path:
    return paths.config_dir() / "api-key"


#: An OpenRouter key is some 70 characters; a key file is never more than a few lines.
MAX_KEY_FILE_BYTES = 4096


def _read_key_file(path: Path, what: str, *, follow_symlinks: bool) -> str:
    """The text of a key file: a regular file (a FIFO or a device is refused without blocking or
    reading), private to this user when this user owns it, and at most `MAX_KEY_FILE_BYTES`."""
    from flux_cli.userfiles import open_regular

    with open_regular(path, what, error=ConfigError, follow_symlinks=follow_symlinks) as handle:
        info = os.fstat(handle.fileno())
        mine = not hasattr(os, "getuid") or info.st_uid == os.getuid()
        if mine and info.st_mode & 0o077:
            raise ConfigError(
                f"{what} {path} can be read by other users (mode {stat.S_IMODE(info.st_mode):04o})",
                hint=f"chmod 600 {path}",
            )
        if not mine and not follow_symlinks:
            raise ConfigError(f"{what} {path} belongs to another user")
        try:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise ConfigError(
            f"{what} {path} is larger than {MAX_KEY_FILE_BYTES} bytes; not a key file"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None


def read_stored_key(path: Path) -> str:
    try:
        path.lstat()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from None
    if path.is_symlink():
        raise ConfigError(
            f"the key file {path} is a symbolic link; flux2 only reads a regular file",
            hint=f'replace it with the key itself: cp --remove-destination "$(readlink -f {path})" {path}',
        )
    return _read_key_file(path, "the key file", follow_symlinks=False)


def resolve_key() -> ApiKey:
    env_value = os.environ.get(KEY_ENV)
    if env_value is not None and env_value.strip():
        return ApiKey(normalise_key(env_value, KEY_ENV), KEY_ENV)
    file_env = os.environ.get(KEY_FILE_ENV, "").strip()
    if file_env:
        file_path = Path(file_env).expanduser()
        # A path the user names is followed when it is a symbolic link (container secrets are
        # mounted so), and a file owned by someone else (a secret mounted read-only by root) is
        # accepted as it is: only its owner could make it private.
        text = _read_key_file(file_path, KEY_FILE_ENV, follow_symlinks=True)
        return ApiKey(normalise_key(text, f"{KEY_FILE_ENV} ({file_path})"), KEY_FILE_ENV)
    stored = stored_key_path()
    try:
        text = read_stored_key(stored)
    except FileNotFoundError:
        raise ConfigError(
            "no OpenRouter API key found",
            hint=f"run flux2 auth login, or set {KEY_ENV} (get a key at {KEYS_URL}); --sandbox needs none",
        ) from None
    return ApiKey(normalise_key(text, f"key file ({stored})"), "key file")


def is_loopback_host(host: str) -> bool:
    """An IP literal on loopback, or `localhost` / `*.localhost` when every address the name
    resolves to is a loopback address. The name alone is not enough: it is resolved through the
    configured resolver, whose answer could send the key over plain http anywhere."""
    host = host.strip("[]").lower()
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host != "localhost" and not host.endswith(".localhost"):
        return False
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).partition("%")[0] for info in infos}
    try:
        return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)
    except ValueError:
        return False


def validate_base_url(url: str) -> str:
    """https anywhere; plain http only to this machine (the key must not cross a network in clear)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"{BASE_URL_ENV} must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise UsageError(f"{BASE_URL_ENV} must not contain credentials")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise UsageError(
            f"{BASE_URL_ENV} uses plain http to {parts.hostname}; flux2 sends the API key only over "
            "https (plain http is allowed for 127.0.0.1, ::1, and localhost names that resolve "
            "only to loopback addresses)",
        )
    return url


def resolve_base_url() -> str:
    return validate_base_url(os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
