"""Key precedence, key-file safety and base-URL rules (README.md#configuration-and-environment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flux_cli.credentials import (
    ApiKey,
    resolve_base_url,
    resolve_key,
    stored_key_path,
    validate_base_url,
)
from flux_cli.errors import ConfigError, UsageError
from flux_cli.redact import mask_key, redact
from tests.conftest import CANARY_KEY

OTHER_KEY = "sk-or-v1-" + "b" * 64


def _store(text: str, mode: int = 0o600) -> Path:
    path = stored_key_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    path.write_text(text)
    path.chmod(mode)
    return path


def test_no_key_anywhere_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_key()
    assert info.value.exit_code == 4
    assert "OPENROUTER_API_KEY" in (info.value.hint or "")


def test_env_beats_file_beats_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _store(OTHER_KEY + "\n")
    assert resolve_key() == ApiKey(OTHER_KEY, "key file")
    key_file = tmp_path / "secret"
    key_file.write_text("  " + CANARY_KEY + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(key_file))
    assert resolve_key() == ApiKey(CANARY_KEY, "OPENROUTER_API_KEY_FILE")
    monkeypatch.setenv("OPENROUTER_API_KEY", OTHER_KEY)
    assert resolve_key().source == "OPENROUTER_API_KEY"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_stored_key_readable_by_others_is_refused_with_the_fix(mode: int) -> None:
    path = _store(CANARY_KEY, mode)
    with pytest.raises(ConfigError) as info:
        resolve_key()
    assert info.value.exit_code == 4
    assert info.value.hint == f"chmod 600 {path}"
    assert CANARY_KEY not in str(info.value)


def test_stored_key_behind_a_symlink_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real-key"
    real.write_text(CANARY_KEY)
    real.chmod(0o600)
    link = stored_key_path()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(real)
    with pytest.raises(ConfigError, match="symbolic link"):
        resolve_key()


@pytest.mark.parametrize("bad", ["", "   \n", "sk-or-v1-abc def", "sk-or-v1-clé0123456789"])
def test_malformed_keys_are_refused_without_echoing_them(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", "/nonexistent")
    monkeypatch.setenv("OPENROUTER_API_KEY", bad)
    with pytest.raises(ConfigError) as info:
        resolve_key()
    if bad.strip():
        assert bad.strip() not in str(info.value)


def test_api_key_repr_is_masked() -> None:
    key = ApiKey(CANARY_KEY, "test")
    assert CANARY_KEY not in repr(key)
    assert key.masked == "sk-or-v1-…0123"
    assert mask_key("short") == "…"


def test_redact_masks_registered_and_key_shaped_text() -> None:
    text = f"Illegal header value b'Bearer {CANARY_KEY}\\n' and sk-or-v1-ANOTHERSECRET99"
    cleaned = redact(text)
    assert CANARY_KEY not in cleaned
    assert "ANOTHERSECRET" not in cleaned
    assert "sk-or-v1-…" in cleaned


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://openrouter.ai/api/v1", True),
        ("https://openrouter.ai/api/v1/", True),
        ("http://127.0.0.1:8788/api/v1", True),
        ("http://localhost:8788/api/v1", True),
        ("http://[::1]:8788/api/v1", True),
        ("http://openrouter.ai/api/v1", False),
        ("http://10.0.0.5/api/v1", False),
        ("ftp://openrouter.ai", False),
        ("https://user:pw@openrouter.ai/api/v1", False),
        ("openrouter.ai", False),
    ],
)
def test_base_url_rules(url: str, ok: bool) -> None:
    if ok:
        assert validate_base_url(url) == url.rstrip("/")
    else:
        with pytest.raises(UsageError):
            validate_base_url(url)


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_base_url() == "https://openrouter.ai/api/v1"
    monkeypatch.setenv("FLUX2_BASE_URL", "http://127.0.0.1:1/api/v1")
    assert resolve_base_url() == "http://127.0.0.1:1/api/v1"


def test_key_file_env_pointing_nowhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", "/nonexistent/key")
    with pytest.raises(ConfigError, match="/nonexistent/key"):
        resolve_key()


def test_directory_env_overrides(tmp_path: Path) -> None:
    from flux_cli import paths

    assert paths.config_dir() == Path(os.environ["FLUX2_CONFIG_DIR"])
    assert paths.state_dir() == Path(os.environ["FLUX2_STATE_DIR"])


def _key_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "secret"
    path.write_text(CANARY_KEY + "\n")
    path.chmod(mode)
    return path


def test_the_key_file_variable_gets_the_permission_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(_key_file(tmp_path, 0o644)))
    with pytest.raises(ConfigError, match="can be read by other users") as info:
        resolve_key()
    assert info.value.hint == f"chmod 600 {tmp_path / 'secret'}"
    assert CANARY_KEY not in str(info.value)


def test_the_key_file_variable_follows_a_symbolic_link_to_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Container secrets are mounted as links; the rule applies to what the link points at."""
    link = tmp_path / "link"
    link.symlink_to(_key_file(tmp_path))
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(link))
    assert resolve_key().value == CANARY_KEY
    (tmp_path / "secret").chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users"):
        resolve_key()


def test_a_fifo_as_key_file_is_refused_without_blocking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # no writer: opening it to read would block for ever
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(fifo))
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve_key()


def test_dev_zero_as_key_file_is_refused_without_reading_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", "/dev/zero")
    with pytest.raises(ConfigError, match="not a regular file"):
        resolve_key()


def test_a_huge_key_file_is_refused_after_a_bounded_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big"
    with big.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)  # sparse: costs no disk
    big.chmod(0o600)
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(big))
    with pytest.raises(ConfigError, match="larger than 4096 bytes"):
        resolve_key()


@pytest.mark.parametrize(
    ("answers", "ok"),
    [
        (["127.0.0.1"], True),
        (["127.0.0.1", "::1"], True),
        (["203.0.113.7"], False),  # a DNS answer off this machine
        (["127.0.0.1", "203.0.113.7"], False),  # one address off it is one too many
        ([], False),
        (None, False),  # does not resolve
    ],
)
def test_a_localhost_name_is_loopback_only_if_it_resolves_to_loopback(
    monkeypatch: pytest.MonkeyPatch, answers: list[str] | None, ok: bool
) -> None:
    import socket

    asked: list[str] = []

    def getaddrinfo(host: str, *_args: object, **_kwargs: object) -> list[tuple[object, ...]]:
        asked.append(host)
        if answers is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    url = "http://evil.localhost:8788/api/v1"
    if ok:
        assert validate_base_url(url) == url
    else:
        with pytest.raises(UsageError, match="plain http"):
            validate_base_url(url)
    assert asked == ["evil.localhost"]
    assert validate_base_url("http://127.0.0.1:1/api/v1")  # literals need no resolver
    assert asked == ["evil.localhost"]
