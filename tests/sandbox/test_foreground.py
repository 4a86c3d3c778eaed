"""`flux2 sandbox` as people run it: a foreground process that prints its URL and stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flux_cli.errors import UsageError
from flux_cli.sandbox import SANDBOX_KEY
from flux_cli.sandbox.foreground import serve
from tests.sandbox.helpers import KLEIN

REPO = Path(__file__).parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "flux_cli", "sandbox", "--port", "0", *args],
        cwd=REPO,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=20)
    if not first_line:
        process.kill()
        pytest.fail("flux2 sandbox printed no URL within 20 s")
    return process, first_line[0]


@pytest.fixture
def stop_later() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
def test_prints_the_url_serves_and_stops_cleanly_on_sigint(
    stop_later: list[subprocess.Popen[str]],
) -> None:
    process, line = _start("--quiet")
    stop_later.append(process)
    url = line.strip()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("/api/v1")
    response = httpx.post(
        url + "/images",
        json={"model": KLEIN, "prompt": "from a subprocess"},
        headers={"Authorization": f"Bearer {SANDBOX_KEY}"},
    )
    assert response.status_code == 200
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert line + stdout == url + "\n"  # stdout holds only the URL
    assert f"export FLUX2_BASE_URL={url}" in stderr
    assert f"export OPENROUTER_API_KEY={SANDBOX_KEY}" in stderr
    assert stderr.rstrip().endswith("sandbox stopped")
    assert "POST /api/v1/images" not in stderr  # --quiet
    assert "Traceback" not in stderr


@pytest.mark.e2e
def test_logs_requests_without_the_key_and_applies_fail_specs(
    stop_later: list[subprocess.Popen[str]],
) -> None:
    key = "sk-or-v1-" + "d" * 64
    process, line = _start("--key", key, "--fail", "images:429:retry-after=1", "--balance", "1")
    stop_later.append(process)
    url = line.strip()
    headers = {"Authorization": f"Bearer {key}"}
    first = httpx.post(url + "/images", json={"model": KLEIN, "prompt": "x"}, headers=headers)
    second = httpx.post(url + "/images", json={"model": KLEIN, "prompt": "x"}, headers=headers)
    assert (first.status_code, second.status_code) == (429, 200)
    assert first.headers["retry-after"] == "1"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    log = [entry for entry in stderr.splitlines() if "/api/v1/images" in entry]
    assert len(log) == 2
    assert " POST /api/v1/images 429 " in log[0]
    assert "[fault 429:retry-after=1]" in log[0]
    assert " POST /api/v1/images 200 " in log[1]
    # The key appears only in the export line it was asked to print.
    assert stderr.count(key) == 1
    assert f"export OPENROUTER_API_KEY={key}" in stderr


def _serve(**overrides: object) -> None:
    options: dict[str, object] = {
        "port": 0,
        "key": None,
        "latency": 0.0,
        "balance": "10.00",
        "fail": [],
        "generation_delay": 0.0,
        "quiet": True,
    }
    options.update(overrides)
    serve(**options)  # type: ignore[arg-type]


def test_a_port_in_use_is_a_usage_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"port {port} is in use"):
            _serve(port=port)


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"fail": ["images:teapot"]}, "--fail"),
        ({"fail": ["images:429", "nowhere:500"]}, "unknown route"),
        ({"balance": "lots"}, "--balance"),
        ({"balance": "-5"}, "--balance"),
        ({"key": "not-a-key"}, "--key"),
    ],
)
def test_bad_options_are_usage_errors(overrides: dict[str, object], complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        _serve(**overrides)


def test_the_cli_module_does_not_import_the_sandbox_eagerly() -> None:
    code = (
        "import sys, flux_cli.cli.sandbox; "
        "print(any(m.startswith('flux_cli.sandbox') for m in sys.modules), 'PIL' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


def test_the_sandbox_package_never_imports_typer_or_rich() -> None:
    code = (
        "import sys, flux_cli.sandbox, flux_cli.sandbox.foreground; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'rich', 'click')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_stopping_waits_for_a_request_answered_just_before_to_be_logged() -> None:
    """The reply leaves before its access-log line is written: a stop right after the answer
    must still let that line out (a SIGTERM after the last request used to lose it)."""
    from flux_cli.sandbox import Sandbox, SandboxConfig
    from flux_cli.sandbox.http_handler import AccessLogEntry

    logged: list[AccessLogEntry] = []
    answered = threading.Event()

    def slow_log(entry: AccessLogEntry) -> None:
        answered.wait(5)  # the client has its answer before the line is written
        logged.append(entry)

    sandbox = Sandbox(SandboxConfig(port=0, on_request=slow_log)).start()
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}"}
    reply = httpx.get(sandbox.base_url + "/models", headers=headers)
    assert reply.status_code == 200
    threading.Timer(0.2, answered.set).start()
    sandbox.stop()
    assert [entry.path for entry in logged] == ["/api/v1/models"]
