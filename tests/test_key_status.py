"""What `flux2 auth` knows about the key: the key login reads, where the key in use comes from,
what it hides, how to fix it, and what the server says about it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest

from flux_cli.credentials import KEY_ENV, KEY_FILE_ENV, ApiKey, stored_key_path
from flux_cli.errors import ConfigError
from flux_cli.key_status import (
    MAX_KEY_CHARS,
    check_key,
    environment_keys,
    fix_hint,
    key_from_stdin,
    key_summary,
    not_stored,
    read_status,
    shadowing,
    source_path,
    source_text,
    status_record,
)
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.openrouter.errors import AuthenticationError
from flux_cli.sandbox import SANDBOX_KEY
from tests.cli.test_auth import OTHER_KEY, store
from tests.conftest import CANARY_KEY
from tests.test_account_report import INFO


def test_the_key_is_the_first_line_of_stdin() -> None:
    assert key_from_stdin(io.StringIO(f"  {CANARY_KEY}\nmore\n")) == f"  {CANARY_KEY}\n"


@pytest.mark.parametrize(
    ("stream", "words"),
    [
        (None, "no key on stdin"),
        (io.StringIO(""), "no key on stdin"),
        (io.StringIO("   \n"), "no key on stdin"),
        (io.StringIO("k" * (MAX_KEY_CHARS + 5)), "too long to be an API key"),
        (io.TextIOWrapper(io.BytesIO(b"\xff\xfe\n"), encoding="utf-8"), "cannot read the key"),
    ],
)
def test_what_is_not_a_key_on_stdin_is_a_config_error(stream: Any, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        key_from_stdin(stream)
    assert caught.value.hint is not None
    assert "flux2 auth login < key.txt" in caught.value.hint


def test_a_refused_key_is_not_stored_and_the_sandbox_is_named_as_such() -> None:
    refused = AuthenticationError("OpenRouter refused the key (HTTP 401)", status=401)
    assert not_stored(refused, sandbox=False).message == (
        "the key was not stored: OpenRouter refused the key (HTTP 401)"
    )
    assert "the sandbox refused" in not_stored(refused, sandbox=True).message


def test_check_key_asks_key_through_the_given_factory() -> None:
    made: list[tuple[str, dict[str, Any]]] = []

    def factory(base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
        made.append((base_url, options))

        def handler(request: httpx.Request) -> httpx.Response:
            assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"
            return httpx.Response(200, json={"data": {"label": "ci", "limit": None}})

        return OpenRouterClient(base_url, key, transport=httpx.MockTransport(handler), **options)

    info = check_key(factory, ApiKey(CANARY_KEY, "test"), "https://openrouter.test/api/v1")
    assert (info.label, info.unlimited) == ("ci", True)
    ((url, options),) = made
    assert url == "https://openrouter.test/api/v1"
    assert options["max_retries"] == 1


def test_check_key_without_a_url_asks_an_in_process_sandbox() -> None:
    urls: list[str] = []

    def factory(base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
        urls.append(base_url)
        return OpenRouterClient(base_url, key, **options)

    info = check_key(factory, ApiKey(SANDBOX_KEY, "test"), None)
    assert info.unlimited
    (url,) = urls
    assert url.startswith("http://127.0.0.1:")


def test_the_summary_names_label_limit_and_usage() -> None:
    assert key_summary(INFO) == (
        "label 'laptop', limit $5.000 monthly, $4.970 left, usage today $0.030"
    )


def test_sources_paths_and_hints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from_env = ApiKey(CANARY_KEY, KEY_ENV)
    assert source_path(from_env) is None
    assert source_text(from_env) == f"the environment variable {KEY_ENV}"
    assert fix_hint(from_env).startswith(f"set {KEY_ENV} to a working key")
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "key.txt"))
    from_file = ApiKey(CANARY_KEY, KEY_FILE_ENV)
    assert source_path(from_file) == tmp_path / "key.txt"
    assert source_text(from_file) == f"{KEY_FILE_ENV} ({tmp_path / 'key.txt'})"
    assert fix_hint(from_file).endswith(f"in {tmp_path / 'key.txt'}")
    stored = ApiKey(CANARY_KEY, "key file")
    assert source_path(stored) == stored_key_path()
    assert fix_hint(stored).endswith("with: flux2 auth login")


def test_what_the_winning_key_hides(monkeypatch: pytest.MonkeyPatch) -> None:
    assert environment_keys() == []
    assert shadowing(KEY_ENV) == []
    monkeypatch.setenv(KEY_ENV, CANARY_KEY)
    monkeypatch.setenv(KEY_FILE_ENV, "/somewhere/key.txt")
    assert environment_keys() == [KEY_ENV, KEY_FILE_ENV]
    assert shadowing(KEY_ENV) == [f"{KEY_FILE_ENV} is set too, but {KEY_ENV} wins"]
    path = store(OTHER_KEY)
    assert (
        shadowing(KEY_ENV)[-1] == f"the stored key file {path} is not used while {KEY_ENV} is set"
    )
    path.chmod(0o644)
    assert "(fix: chmod 600" in shadowing(KEY_ENV)[-1]
    assert shadowing("key file") == []


def test_the_status_record_masks_the_key_and_redacts_the_error() -> None:
    key = ApiKey(CANARY_KEY, KEY_ENV)
    data = status_record(
        "openrouter", None, key, INFO, notes=["n"], error=ConfigError(f"bad {CANARY_KEY}")
    )
    assert CANARY_KEY not in str(data)
    assert CANARY_KEY[9:] not in str(data)
    assert (data["ok"], data["source"], data["path"], data["checked"]) == (
        False,
        KEY_ENV,
        None,
        True,
    )
    assert data["masked"] == "sk-or-v1-…0123"
    assert data["key"]["limit_usd"] == 5.0
    assert data["notes"] == ["n"]
    nothing = status_record("sandbox", None, None, None, notes=[], error=None)
    assert (nothing["ok"], nothing["masked"], nothing["key"], nothing["error"]) == (
        True,
        None,
        None,
        None,
    )


def refusing(base_url: str, key: ApiKey, **options: Any) -> OpenRouterClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"code": 401, "message": "User not found."}})

    return OpenRouterClient(base_url, key, transport=httpx.MockTransport(handler), **options)


def test_read_status_without_a_key_is_the_error_alone() -> None:
    status = read_status(refusing, "openrouter", "https://openrouter.test/api/v1", check=True)
    assert status.key is None
    assert status.info is None
    assert status.notes == []
    assert isinstance(status.error, ConfigError)
    assert status.record()["ok"] is False


def test_read_status_of_a_refused_key_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, CANARY_KEY)
    status = read_status(refusing, "openrouter", "https://openrouter.test/api/v1", check=True)
    assert isinstance(status.error, ConfigError)
    assert status.error.message.startswith(f"the key from the environment variable {KEY_ENV}")
    assert status.lines() == [
        ("key", "sk-or-v1-…0123"),
        ("source", f"the environment variable {KEY_ENV}"),
        ("api", "OpenRouter (https://openrouter.test/api/v1)"),
        ("check", "failed (see below)"),
    ]
    unchecked = read_status(refusing, "sandbox", None, check=False)
    assert unchecked.error is None
    assert unchecked.lines()[2:] == [
        ("api", "in-process sandbox"),
        ("check", "not checked (--no-check)"),
    ]


def test_read_status_of_an_accepted_key_summarises_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, SANDBOX_KEY)
    store(OTHER_KEY)
    status = read_status(OpenRouterClient, "sandbox", None, check=True)
    assert status.error is None
    assert status.info is not None
    assert status.lines()[-1][1].startswith("accepted: ")
    assert status.notes[-1].startswith("the stored key file ")


def test_read_key_takes_stdin_off_a_terminal_and_prompts_on_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flux_cli.key_status import read_key

    assert read_key(io.StringIO(f"{CANARY_KEY}\nmore\n"), terminal=False) == (
        f"{CANARY_KEY}\n",
        "stdin",
    )
    prompts: list[str] = []

    def typed(prompt: str, stream: object = None) -> str:
        prompts.append(prompt)
        return CANARY_KEY

    monkeypatch.setattr("getpass.getpass", typed)
    assert read_key(None, terminal=True) == (CANARY_KEY, "the prompt")
    assert prompts == ["OpenRouter API key (input is hidden): "]

    def closed(prompt: str, stream: object = None) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", closed)
    with pytest.raises(ConfigError, match="no key was entered"):
        read_key(None, terminal=True)
