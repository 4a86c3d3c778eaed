"""Hostile servers, files and streams: no hang, no crash, no lost paid image.

Each case runs the installed `flux2` in a real subprocess, against the sandbox or a small hostile
server on loopback, and checks the exit code, the time taken, the ledger row and what was kept.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import CANARY_KEY
from tests.faults.conftest import (
    Case,
    DripServer,
    FaultEnv,
    flux2_command,
    ledger_statuses,
    paid_requests,
)

# -- a server that sends its headers one byte at a time ----------------------------------------


NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 0.0


def _endless_headers(method: str, _path: str) -> bytes | tuple[bytes, float]:
    if method == "GET":
        return NOT_FOUND  # the model catalog: not there, at once
    return b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 10_000


@pytest.fixture
def header_drip() -> Iterator[DripServer]:
    with DripServer(_endless_headers, every=0.05) as server:
        yield server


@pytest.fixture
def image_url_drip() -> Iterator[DripServer]:
    """/chat/completions answers at once with an image URL on the same server; the image itself
    comes one byte at a time."""

    def reply(method: str, path: str) -> bytes | tuple[bytes, float]:
        if path.endswith("/models"):
            return NOT_FOUND
        if method == "POST":
            chat = {
                "choices": [
                    {
                        "message": {
                            "role": "assistant",
                            "images": [{"image_url": {"url": server.root_url + "/img.png"}}],
                        }
                    }
                ],
                "usage": {"cost": 0.03},
            }
            body = json.dumps(chat).encode()
            return (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body,
                0.0,
            )
        return b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n" + (
            b"\x89PNG" * 25_000
        )

    with DripServer(reply, every=0.05) as server:
        yield server


WALL_CLOCK = [
    Case(
        60,
        "header-drip",
        "response headers arrive one byte every 50 ms, without end",
        9,
        paid=1,
        ledger="unknown",
        args=("a red fox", "--timeout", "2"),
        stderr_has=("within 2 s (--timeout)",),
        max_seconds=5,
        why="sent, no complete answer within --timeout: may have been billed",
    ),
    Case(
        61,
        "image-url-drip",
        "the chat route's image URL sends one byte every 50 ms",
        10,
        paid=1,
        ledger="failed",  # with the charge the answer reported
        args=("a red fox", "--api", "chat", "--timeout", "2"),
        stderr_has=("--timeout",),
        max_seconds=5,
        why="the image was made and billed, but did not arrive within the attempt's limit",
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in WALL_CLOCK])
def test_timeout_is_a_wall_clock_limit(
    case: Case, fault_env: FaultEnv, header_drip: DripServer, image_url_drip: DripServer
) -> None:
    server = header_drip if case.number == 60 else image_url_drip
    fault_env.extra_paid = server.paid
    fault_env.check(replace(case, base_url=server.base_url))


# -- closed standard streams ---------------------------------------------------------------------


def _run_closed(
    workdir: Path, base_url: str, redirect: str, *args: str
) -> subprocess.CompletedProcess[bytes]:
    """`flux2 ARGS` with `redirect` applied by a shell (`>&-` closes stdout, `2>&-` stderr)."""
    env = {**os.environ, "FLUX2_BASE_URL": base_url, "OPENROUTER_API_KEY": CANARY_KEY}
    script = f'exec "$@" {redirect}'
    return subprocess.run(
        ["/bin/sh", "-c", script, "sh", *flux2_command(), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


def _rescued(tmp: Path) -> list[Path]:
    root = tmp / "state" / "rescue"
    return sorted(p for p in root.iterdir() if p.is_file()) if root.exists() else []


def test_closed_stdout_with_o_dash_keeps_the_bytes_and_settles_the_row(
    fault_env: FaultEnv,
) -> None:
    run = _run_closed(
        fault_env.workdir, fault_env.sandbox.base_url, ">&-", "generate", "a fox", "-q", "-o", "-"
    )
    stderr = run.stderr.decode()
    assert run.returncode == 11, stderr  # the image could not go where it was asked to
    assert "Traceback" not in stderr
    assert "closed" in stderr
    assert len(_rescued(fault_env.tmp)) == 1  # the paid bytes were kept
    assert ledger_statuses(fault_env.api_label(Case(0, "", "", 0)))[:1] == ["ok"]


@pytest.mark.parametrize("redirect", [">&-", "2>&-", ">&- 2>&-"])
def test_a_closed_stream_does_not_change_the_exit_code_of_the_work(
    fault_env: FaultEnv, redirect: str
) -> None:
    run = _run_closed(fault_env.workdir, fault_env.sandbox.base_url, redirect, "generate", "a fox")
    assert run.returncode == 0, run.stderr.decode()
    assert b"Traceback" not in run.stderr
    if "2>&-" in redirect:
        assert run.stderr == b""  # nothing reached the closed stream (nor anything else)
    images = list(fault_env.workdir.glob("*.jpg"))
    assert len(images) == 1
    assert ledger_statuses(fault_env.api_label(Case(0, "", "", 0)))[:1] == ["ok"]
    assert _rescued(fault_env.tmp) == []


# -- one size rule, checked before sending ------------------------------------------------------


def _wide_reference(env: FaultEnv) -> None:
    from PIL import Image

    Image.new("RGB", (9000, 100), (30, 90, 200)).save(env.workdir / "wide.png")


SIZES = [
    Case(
        62,
        "size-side-too-long",
        "--size 16384x64: 1 MP, one side past what an answer may measure",
        2,
        paid=0,
        ledger=None,
        args=("a red fox", "--size", "16384x64"),
        stderr_has=("at most 8192",),
    ),
    Case(
        63,
        "edit-very-wide-reference",
        "edit with a 9000x100 reference: the planned output keeps within every side limit",
        0,
        paid=1,
        ledger="ok",
        command=("edit",),
        args=("make it blue", "-i", "wide.png"),
        setup=_wide_reference,
        images=2,  # the reference and the result
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in SIZES])
def test_sizes_are_checked_by_one_rule_before_sending(case: Case, fault_env: FaultEnv) -> None:
    fault_env.check(case)


# -- files the user names: bounded, never blocking, regular files only --------------------------


def _fifo(env: FaultEnv) -> None:
    os.mkfifo(env.tmp / "key.fifo")  # no writer: opening it to read would block for ever


def _public_key_file(env: FaultEnv) -> None:
    path = env.tmp / "key.txt"
    path.write_text(CANARY_KEY + "\n")
    path.chmod(0o644)


FILES = [
    Case(
        64,
        "key-file-fifo",
        "OPENROUTER_API_KEY_FILE names a FIFO no one writes to",
        4,
        key=None,
        env={"OPENROUTER_API_KEY_FILE": "{tmp}/key.fifo"},
        setup=_fifo,
        stderr_has=("not a regular file",),
        max_seconds=10,
    ),
    Case(
        65,
        "key-file-dev-zero",
        "OPENROUTER_API_KEY_FILE=/dev/zero",
        4,
        key=None,
        env={"OPENROUTER_API_KEY_FILE": "/dev/zero"},
        stderr_has=("not a regular file",),
    ),
    Case(
        66,
        "key-file-world-readable",
        "OPENROUTER_API_KEY_FILE names a 0644 file of this user",
        4,
        key=None,
        env={"OPENROUTER_API_KEY_FILE": "{tmp}/key.txt"},
        setup=_public_key_file,
        stderr_has=("read by other users", "chmod 600"),
        secret_files=("key.txt",),
    ),
    Case(
        67,
        "batch-dev-zero",
        "--batch /dev/zero",
        2,
        args=("--batch", "/dev/zero"),
        stderr_has=("not a regular file",),
    ),
    Case(
        68,
        "prompt-file-dev-zero",
        "--prompt-file /dev/zero",
        2,
        args=("--prompt-file", "/dev/zero"),
        stderr_has=("not a regular file",),
    ),
]


@pytest.mark.parametrize("case", [c.param() for c in FILES])
def test_user_named_files_are_read_with_a_bound(case: Case, fault_env: FaultEnv) -> None:
    fault_env.check(case)


def test_a_batch_of_one_endless_line_is_read_with_a_bound(fault_env: FaultEnv) -> None:
    """A regular file of 64 MiB with no line break: one failed line, not 64 MiB in memory."""
    batch = fault_env.workdir / "huge.txt"
    with batch.open("wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    out = fault_env.run(Case(69, "batch-endless-line", "", 2, args=("--batch", "huge.txt")))
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert "longer than 256 KiB" in out.stderr
    assert out.paid == 0


# -- what flux2 writes for others to read --------------------------------------------------------


def test_history_csv_neutralises_formulas_and_escape_codes(fault_env: FaultEnv) -> None:
    import csv
    import io

    from tests.e2e.conftest import Flux2

    flux2 = Flux2(fault_env.workdir, fault_env.sandbox.base_url)
    prompt = '=HYPERLINK("http://evil.example","click") \x1b[2J'
    assert flux2("generate", prompt).returncode == 0
    run = flux2("history", "--csv")
    assert run.returncode == 0, run.stderr
    assert "\x1b" not in run.out
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert rows[0]["prompt"].startswith("'=HYPERLINK(")
    for row in rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_an_empty_lock_name_is_a_usage_error(fault_env: FaultEnv) -> None:
    fault_env.check(
        Case(
            70,
            "lock-empty-name",
            '--lock "" (a variable that was never set)',
            2,
            args=("a red fox", "--lock", ""),
            stderr_has=("--lock name",),
        )
    )


@pytest.mark.slow
def test_a_ledger_locked_while_the_request_is_out_still_names_the_written_image(
    fault_env: FaultEnv,
) -> None:
    """Another process holds the ledger's write lock from the moment the request is out until
    flux2 gives up on it: the image is written, its path is on stdout, exit 11."""
    import sqlite3
    import time

    from flux_cli.ledger import default_path
    from flux_cli.ledger.sqlite import BUSY_TIMEOUT_S
    from flux_cli.sandbox import Fault

    fault_env.sandbox.push_fault("images", Fault(kind="slow", delay=1))
    env = {**os.environ, "FLUX2_BASE_URL": fault_env.sandbox.base_url}
    env["OPENROUTER_API_KEY"] = CANARY_KEY
    process = subprocess.Popen(
        [*flux2_command(), "generate", "a red fox"],
        cwd=fault_env.workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while paid_requests(fault_env.sandbox) == 0:
            assert time.monotonic() < deadline, "the request never left"
            time.sleep(0.02)
        holder = sqlite3.connect(default_path(), timeout=10, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, held until flux2 has given up
        stdout, stderr = process.communicate(timeout=BUSY_TIMEOUT_S + 30)
        holder.execute("ROLLBACK")
        holder.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = stderr.decode()
    assert process.returncode == 11, text
    assert "locked" in text
    assert "Traceback" not in text
    written = sorted(fault_env.workdir.glob("*.jpg"))
    assert len(written) == 1, (text, sorted(fault_env.workdir.iterdir()))
    assert stdout.decode().strip() == written[0].name  # the path as it was asked for


@pytest.fixture
def wrapped_base64() -> Iterator[DripServer]:
    """/images answers at once with the image as MIME-style base64 (a line break every 76)."""
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, "JPEG")
    answer = {
        "data": [{"b64_json": base64.encodebytes(buffer.getvalue()).decode()}],
        "usage": {"cost": 0.03},
    }
    body = json.dumps(answer).encode()

    def reply(method: str, _path: str) -> bytes | tuple[bytes, float]:
        if method == "GET":
            return NOT_FOUND
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
        return head.encode() + b"\r\n\r\n" + body

    with DripServer(reply, every=0) as server:
        yield server


def test_a_base64_image_with_line_breaks_is_rescued(
    fault_env: FaultEnv, wrapped_base64: DripServer
) -> None:
    fault_env.extra_paid = wrapped_base64.paid
    case = Case(
        71,
        "base64-line-breaks",
        "the image's base64 has a line break every 76 characters",
        10,
        paid=1,
        ledger="failed",  # with the charge the answer reported
        base_url=wrapped_base64.base_url,
        stderr_has=("line breaks", "kept in"),
    )
    fault_env.check(case)
    assert len(_rescued(fault_env.tmp)) == 1
