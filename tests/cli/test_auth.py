"""`flux2 auth login | logout | status`: where the key comes from, how it is stored, never shown."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flux_cli.cli.context import App
from flux_cli.cli.registry import app
from flux_cli.credentials import resolve_key, stored_key_path
from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, Run

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"
OTHER_KEY = "sk-or-v1-" + "b" * 64


def no_key_in(*texts: str) -> None:
    for text in texts:
        assert CANARY_KEY not in text
        assert CANARY_KEY[9:] not in text
        assert "Traceback" not in text


def flux2(*args: str, stdin: str | None = "", env: dict[str, str] | None = None) -> Result:
    result = runner.invoke(app, ["auth", *args], input=stdin, env=env)
    no_key_in(result.stdout, result.stderr)
    return result


def said(result: Result | Run) -> str:
    """stderr with line wrapping undone (messages wrap at the console width)."""
    return " ".join(result.stderr.split())


def store(text: str, mode: int = 0o600) -> Path:
    path = stored_key_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(port=0)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        yield sb


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- the acceptance, end to end ----------------------------------------------------------


def test_login_from_stdin_then_status_in_real_processes(tmp_path: Path) -> None:
    with Sandbox(SandboxConfig(port=0, key=CANARY_KEY)) as sb:
        run = Flux2(tmp_path, sb.base_url)
        login = run("auth", "login", stdin=f"  {CANARY_KEY}  \n".encode(), key=None)
        login.assert_clean()
        assert login.returncode == 0, login.stderr
        assert login.stdout == b""
        path = stored_key_path()
        assert f"stored sk-or-v1-…0123 in {path}" in said(login)
        assert path.read_text() == CANARY_KEY + "\n"
        assert mode_of(path) == 0o600
        assert mode_of(path.parent) == 0o700

        status = run("auth", "status", key=None)
        status.assert_clean()
        assert status.returncode == 0, status.stderr
        assert "sk-or-v1-…0123" in status.out
        assert f"the stored key file {path}" in status.out
        assert "accepted: no limit, usage today $0.000" in status.out
        assert [r.path for r in sb.requests] == ["/api/v1/key", "/api/v1/key"]

        as_json = run("auth", "status", "--json", key=None)
        as_json.assert_clean()
        data = json.loads(as_json.out)
        assert (data["ok"], data["source"], data["path"]) == (True, "key file", str(path))
        assert data["masked"] == "sk-or-v1-…0123"


def test_login_and_status_with_the_in_process_sandbox(tmp_path: Path) -> None:
    run = Flux2(tmp_path, None)
    login = run("auth", "login", "--sandbox", stdin=CANARY_KEY.encode(), key=None)
    login.assert_clean()
    assert login.returncode == 0, login.stderr
    status = run("auth", "status", "--sandbox", key=None)
    status.assert_clean()
    assert status.returncode == 0, status.stderr
    assert "in-process sandbox" in status.out


def test_login_with_nothing_on_stdin_fails_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    result = Flux2(tmp_path, None)("auth", "login", stdin=b"", key=None)
    assert time.monotonic() - started < 20  # a process start, not a wait for input
    assert result.returncode == 4
    assert "no key on stdin" in result.stderr
    assert not stored_key_path().exists()


# -- login ---------------------------------------------------------------------------------------


def test_login_strips_the_key_and_checks_it(sandbox: Sandbox) -> None:
    result = flux2("login", stdin=f"\t{CANARY_KEY} \r\nsecond line ignored\n")
    assert result.exit_code == 0, result.stderr
    assert stored_key_path().read_text() == CANARY_KEY + "\n"
    assert "OpenRouter accepts it" in said(result)
    assert [r.path for r in sandbox.requests] == ["/api/v1/key"]
    assert resolve_key().value == CANARY_KEY


def test_a_key_the_server_refuses_is_not_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    with Sandbox(SandboxConfig(port=0, key=OTHER_KEY)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        result = flux2("login", stdin=CANARY_KEY)
    assert result.exit_code == 4
    assert "the key was not stored" in said(result)
    assert "401" in result.stderr
    assert "--no-check" in said(result)
    assert not stored_key_path().exists()


def test_no_check_sends_nothing(sandbox: Sandbox) -> None:
    result = flux2("login", "--no-check", stdin=CANARY_KEY)
    assert result.exit_code == 0, result.stderr
    assert stored_key_path().exists()
    assert sandbox.requests == []


def test_when_the_network_is_down_the_key_is_stored_with_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLUX2_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    result = flux2("login", stdin=CANARY_KEY)
    assert result.exit_code == 0, result.stderr
    assert "warning: could not check the key" in said(result)
    assert "storing it anyway" in said(result)
    assert stored_key_path().read_text() == CANARY_KEY + "\n"


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ("", "no key on stdin"),
        ("   \n", "no key on stdin"),
        ("sk-or-v1-abc déf\n", "not printable ASCII"),
        ("x" * 5000, "too long to be an API key"),
    ],
)
def test_bad_input_is_exit_4_and_stores_nothing(stdin: str, words: str) -> None:
    result = flux2("login", "--no-check", stdin=stdin)
    assert result.exit_code == 4
    assert words in said(result)
    assert "déf" not in result.stderr
    assert not stored_key_path().exists()


@pytest.mark.parametrize("args", [[CANARY_KEY], [f"--api-key={CANARY_KEY}"], ["--key", CANARY_KEY]])
def test_a_key_on_the_command_line_is_refused_and_not_echoed(args: list[str]) -> None:
    result = flux2("login", *args, stdin=CANARY_KEY)  # flux2() checks that the key is not shown
    assert result.exit_code == 2
    assert "takes no key on the command line" in said(result)
    assert not stored_key_path().exists()


def test_a_terminal_gets_a_hidden_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []

    def fake_getpass(prompt: str, stream: object = None) -> str:
        prompts.append(prompt)
        return CANARY_KEY + "\n"

    monkeypatch.setattr(App, "stdin_is_tty", lambda self: True)
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    result = flux2("login", "--no-check", stdin=None)
    assert result.exit_code == 0, result.stderr
    assert prompts == ["OpenRouter API key (input is hidden): "]
    assert stored_key_path().read_text() == CANARY_KEY + "\n"

    def end_of_input(prompt: str, stream: object = None) -> str:
        raise EOFError

    monkeypatch.setattr("getpass.getpass", end_of_input)
    stored_key_path().unlink()
    result = flux2("login", "--no-check", stdin=None)
    assert result.exit_code == 4
    assert "no key was entered" in result.stderr


def test_login_replaces_a_key_and_tightens_the_directory() -> None:
    store(OTHER_KEY)
    stored_key_path().parent.chmod(0o755)
    result = flux2("login", "--no-check", stdin=CANARY_KEY)
    assert result.exit_code == 0, result.stderr
    assert "replaced the stored key with sk-or-v1-…0123" in said(result)
    assert stored_key_path().read_text() == CANARY_KEY + "\n"
    assert mode_of(stored_key_path()) == 0o600
    assert mode_of(stored_key_path().parent) == 0o700
    assert sorted(p.name for p in stored_key_path().parent.iterdir()) == ["api-key"]


def test_login_replaces_a_symlink_and_never_writes_through_it(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not a key")
    stored_key_path().parent.mkdir(parents=True)
    stored_key_path().symlink_to(target)
    result = flux2("login", "--no-check", stdin=CANARY_KEY)
    assert result.exit_code == 0, result.stderr
    assert not stored_key_path().is_symlink()
    assert target.read_text() == "not a key"
    assert mode_of(stored_key_path()) == 0o600


def test_login_says_when_the_environment_will_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", OTHER_KEY)
    result = flux2("login", "--no-check", stdin=CANARY_KEY)
    assert result.exit_code == 0
    assert "OPENROUTER_API_KEY is set in this environment and wins over the stored key" in said(
        result
    )


# -- logout --------------------------------------------------------------------------------------


def test_logout_removes_the_key_and_is_fine_without_one(monkeypatch: pytest.MonkeyPatch) -> None:
    store(CANARY_KEY)
    result = flux2("logout")
    assert result.exit_code == 0
    assert f"removed the stored key {stored_key_path()}" in said(result)
    assert not stored_key_path().exists()
    again = flux2("logout")
    assert again.exit_code == 0
    assert "no stored key to remove" in again.stderr
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
    assert "OPENROUTER_API_KEY is still set" in said(flux2("logout"))


def test_logout_removes_a_symlink_but_not_its_target(tmp_path: Path) -> None:
    target = tmp_path / "real-key"
    target.write_text(CANARY_KEY)
    stored_key_path().parent.mkdir(parents=True)
    stored_key_path().symlink_to(target)
    result = flux2("logout")
    assert result.exit_code == 0
    assert "removed the symbolic link" in said(result)
    assert not os.path.lexists(stored_key_path())
    assert target.read_text() == CANARY_KEY


# -- status --------------------------------------------------------------------------------------


def test_status_without_a_key_is_exit_4() -> None:
    result = flux2("status")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "no OpenRouter API key found" in result.stderr
    as_json = flux2("status", "--json")
    assert as_json.exit_code == 4
    data = json.loads(as_json.stdout)
    assert (data["ok"], data["masked"], data["source"]) == (False, None, None)
    assert "no OpenRouter API key found" in data["error"]


def test_the_environment_wins_and_status_says_so(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    store(OTHER_KEY)
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
    result = flux2("status")
    assert result.exit_code == 0, result.stderr
    assert "key     sk-or-v1-…0123" in result.stdout
    assert "source  the environment variable OPENROUTER_API_KEY" in result.stdout
    assert f"the stored key file {stored_key_path()} is not used while OPENROUTER_API_KEY" in said(
        result
    )
    data = json.loads(flux2("status", "--json").stdout)
    assert (data["source"], data["path"]) == ("OPENROUTER_API_KEY", None)
    assert data["key"]["usage_daily_usd"] == 0.0
    assert data["notes"] == [
        f"the stored key file {stored_key_path()} is not used while OPENROUTER_API_KEY is set"
    ]


def test_status_names_the_key_file_variable_and_its_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "key.txt"
    key_file.write_text(CANARY_KEY + "\n")
    key_file.chmod(0o600)
    monkeypatch.setenv("OPENROUTER_API_KEY_FILE", str(key_file))
    result = flux2("status", "--no-check")
    assert result.exit_code == 0, result.stderr
    assert f"source  OPENROUTER_API_KEY_FILE ({key_file})" in result.stdout
    assert "check   not checked (--no-check)" in result.stdout


def test_a_key_file_others_can_read_is_refused_with_the_fix() -> None:
    path = store(CANARY_KEY, mode=0o644)
    result = flux2("status", "--no-check")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "can be read by other users (mode 0644)" in said(result)
    assert f"chmod 600 {path}" in said(result)


def test_a_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "real-key"
    target.write_text(CANARY_KEY)
    target.chmod(0o600)
    stored_key_path().parent.mkdir(parents=True)
    stored_key_path().symlink_to(target)
    result = flux2("status", "--no-check")
    assert result.exit_code == 4
    assert "is a symbolic link" in said(result)


def test_an_unsafe_stored_file_is_reported_even_when_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = store(OTHER_KEY, mode=0o640)
    monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
    result = flux2("status", "--no-check")
    assert result.exit_code == 0
    assert f"chmod 600 {path}" in said(result)


def test_a_key_the_server_refuses_is_exit_4_with_a_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    store(CANARY_KEY)
    with Sandbox(SandboxConfig(port=0, key=OTHER_KEY)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        result = flux2("status")
        as_json = flux2("status", "--json")
    assert result.exit_code == 4
    assert "check   failed (see below)" in result.stdout
    assert "the key from the stored key file" in said(result)
    assert "flux2 auth login" in said(result)
    assert as_json.exit_code == 4
    assert json.loads(as_json.stdout)["ok"] is False


def test_status_when_the_api_cannot_be_reached_is_exit_8(monkeypatch: pytest.MonkeyPatch) -> None:
    store(CANARY_KEY)
    monkeypatch.setenv("FLUX2_BASE_URL", f"http://127.0.0.1:{closed_port()}/api/v1")
    result = flux2("status")
    assert result.exit_code == 8
    assert "sk-or-v1-…0123" in result.stdout


def test_a_label_the_user_chose_is_shown_but_never_a_key_fragment(sandbox: Sandbox) -> None:
    store(CANARY_KEY)
    data = json.loads(flux2("status", "--json").stdout)
    assert (
        data["key"]["label"] is None
    )  # the sandbox's label is OpenRouter's default: sk-or-v1-CAN...123
    assert "CAN..." not in flux2("status").stdout


# -- help and README -----------------------------------------------------------------------------


def test_every_subcommand_has_help_and_a_readme_mention() -> None:
    readme = README.read_text(encoding="utf-8")
    top = runner.invoke(app, ["auth", "--help"])
    assert top.exit_code == 0
    for name in ("login", "logout", "status"):
        assert name in top.stdout
        result = runner.invoke(app, ["auth", name, "--help"])
        assert result.exit_code == 0, name
        assert f"Usage: flux2 auth {name}" in result.stdout
        assert len(result.stdout.split("\n\n", 2)[1].strip()) > 20, name
        assert f"flux2 auth {name}" in readme, name
