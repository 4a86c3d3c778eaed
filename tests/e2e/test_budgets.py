"""Budgets that fail closed, through the real command (issue 5)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from flux_cli.ledger import Ledger
from flux_cli.sandbox import Sandbox
from tests.conftest import CANARY_KEY
from tests.e2e.conftest import Flux2, flux2_command
from tests.postgres import PG_PASSWORD, Cluster

pytestmark = pytest.mark.e2e


def _ledger_rows(api: str) -> list:  # type: ignore[type-arg]
    with Ledger.open() as ledger:
        return ledger.rows(api)


def test_twenty_processes_at_once_spend_exactly_the_daily_budget(
    sandbox: Sandbox, workdir: Path
) -> None:
    env = {
        **os.environ,
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
        "FLUX2_BUDGET_DAILY_USD": "0.30",  # exactly 10 images at $0.03
    }
    procs = [
        subprocess.Popen(
            [*flux2_command(), "generate", f"fox {i}", "--seed", str(i), "-q", "--json"],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(20)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, out, err))
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] * 10 + [7] * 10, [err for _, _, err in results]
    for code, _out, err in results:
        if code == 7:
            assert b"daily budget $0.30" in err
            assert b"nothing was sent" in err
        assert CANARY_KEY.encode() not in err
    images = [p for p in workdir.iterdir() if p.suffix == ".jpg"]
    assert len(images) == 10
    rows = _ledger_rows(sandbox.base_url)
    assert len(rows) == 20
    ok = [r for r in rows if r.status == "ok"]
    refused = [r for r in rows if r.status == "failed"]
    assert len(ok) == 10
    assert len(refused) == 10
    assert all(r.exit_code == 7 and r.charged_micros == 0 for r in refused)
    assert all(r.charged_micros == r.estimate_micros == 30_000 for r in ok)
    assert sum(r.charged_micros for r in ok) == sandbox.spent_micros() == 300_000
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 10


def test_a_blocked_call_says_spent_left_and_cost_and_sends_nothing(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    env = {"FLUX2_BUDGET_DAILY_USD": "0.05"}
    assert flux2("generate", "one", "-q", env=env).returncode == 0
    result = flux2("generate", "two", env=env)
    result.assert_clean()
    assert result.returncode == 7
    assert "budget: $0.020 of $0.050 left today" in result.stderr
    line = next(line for line in result.stderr.splitlines() if line.startswith("flux2: error:"))
    for words in ("$0.05", "$0.03", "$0.02", "nothing was sent"):
        assert words in line
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 1


def test_monthly_budget_from_the_config_file(flux2: Flux2, sandbox: Sandbox) -> None:
    from flux_cli.config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('[budget]\nmonthly_usd = "0.02"\n')
    result = flux2("generate", "one")
    assert result.returncode == 7
    assert "monthly budget" in result.stderr
    assert [r for r in sandbox.requests if r.method == "POST"] == []


def test_a_broken_config_file_is_a_usage_error(flux2: Flux2) -> None:
    from flux_cli.config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[budget\n")
    result = flux2("generate", "one")
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr


def test_history_store_prompts_false_keeps_prompts_out_of_the_ledger(
    flux2: Flux2, sandbox: Sandbox
) -> None:
    from flux_cli.config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[history]\nstore_prompts = false\n")
    assert flux2("generate", "a secret plan", "-q").returncode == 0
    (row,) = _ledger_rows(sandbox.base_url)
    assert row.prompt is None
    assert row.status == "ok"


def test_every_outcome_leaves_a_consistent_row(flux2: Flux2, sandbox: Sandbox) -> None:
    from flux_cli.sandbox import Fault

    sandbox.push_fault("images", Fault(status=402))
    assert flux2("generate", "a", "-q").returncode == 5
    sandbox.push_fault("images", Fault(kind="drop-after-headers"))
    assert flux2("generate", "b", "-q").returncode == 9
    assert json.loads(flux2("generate", "c", "-q", "--json").out)["status"] == "ok"
    rows = {r.prompt: r for r in _ledger_rows(sandbox.base_url)}
    assert (rows["a"].status, rows["a"].charged_micros, rows["a"].exit_code) == ("failed", 0, 5)
    assert (rows["b"].status, rows["b"].exit_code) == ("unknown", 9)
    assert rows["b"].generation_id is not None
    assert (rows["c"].status, rows["c"].charged_micros, rows["c"].exit_code) == ("ok", 30_000, 0)
    assert rows["c"].paths
    assert rows["c"].sha256s


def test_kill_9_in_flight_leaves_a_pending_row_that_reconcile_resolves(
    sandbox: Sandbox, flux2: Flux2, workdir: Path
) -> None:
    import signal
    import time

    from flux_cli.sandbox import Fault

    sandbox.push_fault("images", Fault(kind="slow", delay=8))
    env = {
        **os.environ,
        "FLUX2_BASE_URL": sandbox.base_url,
        "OPENROUTER_API_KEY": CANARY_KEY,
        "FLUX2_BUDGET_DAILY_USD": "1.00",
    }
    proc = subprocess.Popen(
        [*flux2_command(), "generate", "a fox", "-q"],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not any(r.path.endswith("/images") for r in sandbox.requests):
        assert time.monotonic() < deadline, "the request never reached the sandbox"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=10) == -signal.SIGKILL

    (row,) = _ledger_rows(sandbox.base_url)
    assert row.status == "pending"
    shown = flux2("history", "--json")
    assert shown.returncode == 0, shown.stderr
    (record,) = [json.loads(line) for line in shown.out.splitlines()]
    assert record["status"] == "pending"

    # Until it is resolved, the pending call counts against the budget (fail closed).
    blocked = flux2("generate", "another", "-q", env={"FLUX2_BUDGET_DAILY_USD": "0.05"})
    assert blocked.returncode == 7

    reconciled = flux2("history", "--reconcile")
    assert reconciled.returncode == 0, reconciled.stderr
    (row,) = [r for r in _ledger_rows(sandbox.base_url) if r.prompt == "a fox"]
    assert row.status == "unknown"
    assert row.error


# -- one budget for a team: four machines, one PostgreSQL ledger ----------------------------------


class Host:
    """A machine as flux2 sees one: its own home, config and data; the team's two config lines."""

    def __init__(self, root: Path, name: str, sandbox: Sandbox, url: str, daily_usd: str) -> None:
        self.name = name
        self.home = root / name
        self.work = self.home / "work"
        self.work.mkdir(parents=True)
        config = self.home / "config"
        config.mkdir()
        (config / "config.toml").write_text(
            f'ledger.url = "{url}"\nbudget.daily_usd = {daily_usd}\n'
        )
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / "xdg-config"),
            "XDG_DATA_HOME": str(self.home / "xdg-data"),
            "FLUX2_CONFIG_DIR": str(config),
            "FLUX2_DATA_DIR": str(self.home / "data"),
            "FLUX2_CACHE_DIR": str(self.home / "cache"),
            "FLUX2_STATE_DIR": str(self.home / "state"),
            "FLUX2_BASE_URL": sandbox.base_url,
            "OPENROUTER_API_KEY": CANARY_KEY,
        }

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*flux2_command(), *args],
            cwd=self.work,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, *args: str) -> tuple[int, str, str]:
        proc = self.start(*args)
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out.decode(), err.decode()


def _hosts(tmp_path: Path, sandbox: Sandbox, cluster: Cluster, daily_usd: str) -> list[Host]:
    """Four hosts: two with the password in ledger.url, two with it in a password file."""
    database = cluster.new_database().rsplit("/", 1)[1]
    hosts = []
    for index in range(4):
        with_password = index < 2
        url = cluster.url(database, password=with_password)
        host = Host(tmp_path, f"host{index}", sandbox, url, daily_usd)
        if not with_password:
            passfile = host.home / ".pgpass"
            passfile.write_text(f"127.0.0.1:{cluster.port}:*:postgres:{PG_PASSWORD}\n")
            passfile.chmod(0o600)
            host.env["PGPASSFILE"] = str(passfile)
        hosts.append(host)
    return hosts


def _shared_rows(cluster: Cluster, host: Host, api: str) -> list:  # type: ignore[type-arg]
    url = (host.home / "config" / "config.toml").read_text().split('"')[1]
    if PG_PASSWORD not in url:
        url = url.replace("postgres@", f"postgres:{PG_PASSWORD}@")
    with Ledger.open(url=url) as ledger:
        return ledger.rows(api)


@pytest.mark.slow
def test_twenty_processes_on_four_hosts_share_one_daily_budget(
    sandbox: Sandbox, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    hosts = _hosts(tmp_path, sandbox, postgres_cluster, daily_usd="0.30")  # 10 images at $0.03
    procs = [
        hosts[i % 4].start("generate", f"fox {i}", "--seed", str(i), "-q", "--json")
        for i in range(20)
    ]
    results = [(proc.wait(timeout=180), *proc.communicate()) for proc in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] * 10 + [7] * 10, [err.decode() for _, _, err in results]
    for _code, out, err in results:
        assert PG_PASSWORD.encode() not in out + err
        assert CANARY_KEY.encode() not in out + err
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 10
    rows = _shared_rows(postgres_cluster, hosts[0], sandbox.base_url)
    assert len(rows) == 20
    ok = [r for r in rows if r.status == "ok"]
    assert len(ok) == 10
    assert all(r.status == "failed" and r.exit_code == 7 for r in rows if r not in ok)
    assert sum(r.charged_micros for r in ok) == sandbox.spent_micros() == 300_000
    # Every host sees the one ledger: the same 20 calls and the same total.
    for host in hosts:
        code, shown, problems = host.run("history", "--json")
        assert code == 0, problems
        assert len(shown.splitlines()) == 20
        assert PG_PASSWORD not in shown + problems


@pytest.mark.slow
def test_a_call_killed_on_one_host_counts_everywhere_until_another_reconciles_it(
    sandbox: Sandbox, postgres_cluster: Cluster, tmp_path: Path
) -> None:
    import signal
    import time

    from flux_cli.sandbox import Fault

    hosts = _hosts(tmp_path, sandbox, postgres_cluster, daily_usd="0.05")
    sandbox.push_fault("images", Fault(kind="slow", delay=8))
    proc = hosts[0].start("generate", "a fox", "-q")
    deadline = time.monotonic() + 60
    while not any(r.path.endswith("/images") for r in sandbox.requests):
        assert time.monotonic() < deadline, "the request never reached the sandbox"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes its pipes
    assert proc.returncode == -signal.SIGKILL
    (row,) = _shared_rows(postgres_cluster, hosts[0], sandbox.base_url)
    assert (row.status, row.estimate_micros) == ("pending", 30_000)

    for host in hosts[1:]:  # every other host counts it at its estimate
        code, out, err = host.run("history", "--json")
        assert code == 0, err
        (shown,) = [json.loads(line) for line in out.splitlines()]
        assert (shown["status"], shown["counted_micros"]) == ("pending", 30_000)
    code, _out, err = hosts[1].run("generate", "another", "-q")
    assert code == 7  # $0.03 pending + $0.03 > $0.05
    assert "not known yet counts at its estimate" in err
    assert len([r for r in sandbox.requests if r.path.endswith("/images")]) == 1

    code, _out, err = hosts[2].run("history", "--reconcile")
    assert code == 0, err
    assert "pending → unknown" in err
    rows = {r.prompt: r for r in _shared_rows(postgres_cluster, hosts[0], sandbox.base_url)}
    assert rows["a fox"].status == "unknown"
    assert rows["a fox"].error


def test_a_ledger_that_cannot_be_reached_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://team:{PG_PASSWORD}@127.0.0.1:{port}/flux2"
    host = Host(tmp_path, "offline", sandbox, url, daily_usd="1.00")
    code, out, err = host.run("generate", "a fox", "-q")
    assert code == 11
    assert "postgresql://team:…@127.0.0.1" in err
    assert "cannot be reached" in err
    assert PG_PASSWORD not in out + err
    assert [r for r in sandbox.requests if r.method == "POST"] == []
