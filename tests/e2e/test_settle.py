"""Calls of unknown outcome can be settled: messages point at --reconcile, and a call with no
generation id (Ctrl-C during a single call) is settled by hand with --settle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from flux_cli.sandbox import Sandbox
from flux_cli.sandbox.faults import Fault
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command

pytestmark = pytest.mark.e2e


def _rows(flux2: Flux2) -> list[dict[str, object]]:
    run = flux2("history", "--json")
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.out.splitlines()]


def _interrupted_call(sandbox: Sandbox, workdir: Path) -> str:
    """flux2 generate, Ctrl-C while its request is out; its stderr."""
    sandbox.set_rule("images", Fault(kind="slow", delay=30))
    env = dict(os.environ, FLUX2_BASE_URL=sandbox.base_url, OPENROUTER_API_KEY=CANARY_KEY)
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a red fox", "-o", "fox.jpg"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not any(r.path.endswith("/images") for r in sandbox.requests):
        assert time.monotonic() < deadline, "the request never arrived"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    sandbox.clear_faults()
    return err.decode()


def test_ctrl_c_points_at_reconcile_and_the_call_is_settled_by_hand(
    flux2: Flux2, sandbox: Sandbox, workdir: Path
) -> None:
    stderr = _interrupted_call(sandbox, workdir)
    assert "may have been billed" in stderr
    assert "flux2 history --reconcile" in stderr
    assert "--settle ID failed|ok" in stderr
    (row,) = _rows(flux2)
    assert row["status"] == "unknown"
    assert row["generation_id"] is None
    assert row["counted_micros"] == 30_000  # counts against the budget until settled

    settled = flux2("history", "--settle", str(row["id"]), "failed")
    assert settled.returncode == 0, settled.stderr
    assert f"call {row['id']} settled by hand as failed" in settled.stderr
    (row,) = _rows(flux2)
    assert row["status"] == "failed"
    assert row["charged_micros"] == 0
    assert row["counted_micros"] == 0
    assert "settled by hand" in str(row["error"])

    again = flux2("history", "--settle", str(row["id"]), "ok")
    assert again.returncode == 2
    assert "no pending or unknown call" in again.stderr


def test_settle_ok_with_a_charge(flux2: Flux2, sandbox: Sandbox, workdir: Path) -> None:
    _interrupted_call(sandbox, workdir)
    (row,) = _rows(flux2)
    run = flux2("history", "--settle", str(row["id"]), "ok", "--charge", "0.031")
    assert run.returncode == 0, run.stderr
    (row,) = _rows(flux2)
    assert (row["status"], row["charged_micros"]) == ("ok", 31_000)
    assert flux2("history", "--settle", "1", "maybe").returncode == 2
    assert flux2("history", "--charge", "1").returncode == 2


def test_exit_9_points_at_reconcile(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=500))
    run = flux2("generate", "a red fox", "--retries", "0", "-o", "fox.jpg")
    assert run.returncode == 9, run.stderr
    assert "flux2 history --reconcile" in run.stderr


def test_a_failed_call_says_not_charged(flux2: Flux2, sandbox: Sandbox) -> None:
    sandbox.push_fault("images", Fault(status=400))
    run = flux2("generate", "a red fox", "--retries", "0", "-o", "fox.jpg")
    assert run.returncode == 2, run.stderr
    assert "not charged" in run.stderr
    assert "Charged" not in run.stderr
