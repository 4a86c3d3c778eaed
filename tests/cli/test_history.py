"""`flux2 history`: the ledger as a table, JSON Lines or CSV, per API, and `--reconcile`."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from flux_cli.cli.registry import app
from flux_cli.credentials import DEFAULT_BASE_URL, ApiKey
from flux_cli.embedded_catalog import ALIASES
from flux_cli.endpoints import OPENROUTER, SANDBOX, api_label, current_api
from flux_cli.ledger import Budgets, Ledger, NewEntry, Status, default_path
from flux_cli.openrouter.client import OpenRouterClient
from flux_cli.openrouter.wire import ImageRequest
from flux_cli.sandbox import Sandbox, SandboxConfig
from tests.conftest import CANARY_KEY

runner = CliRunner()
FLUX2 = [sys.executable, "-m", "flux_cli"]
PRO = ALIASES["pro"]
KLEIN = ALIASES["klein"]
NOW = datetime.now(UTC)


# -- helpers (test_balance and test_models use them too) -----------------------------------------


def flux2(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def record(
    ledger: Ledger,
    api: str = OPENROUTER,
    *,
    model: str = PRO,
    status: Status = "ok",
    estimate: int = 30_000,
    charged: int | None = 30_000,
    generation_id: str | None = None,
    prompt: str | None = None,
    at: datetime | None = None,
    paths: Sequence[str] = (),
    size: tuple[int, int] = (1024, 1024),
) -> int:
    """One call as generate/edit would leave it in the ledger."""
    row_id = ledger.reserve(
        NewEntry(
            api=api,
            command="generate",
            model=model,
            estimate_micros=estimate,
            route="images",
            width=size[0],
            height=size[1],
            output_mp=1,
            seed=7,
            prompt=prompt,
        ),
        Budgets(),
        now=at,
    )
    if status != "pending":
        ledger.update(
            row_id,
            status=status,
            charged_micros=charged if status == "ok" else None,
            generation_id=generation_id,
            paths=paths,
            now=at,
        )
    elif generation_id:
        ledger.update(row_id, status="pending", generation_id=generation_id, now=at)
    return row_id


def bill(base_url: str, prompt: str = "a fox", seed: int = 1) -> str:
    """A real call to a sandbox whose answer is then lost; its generation id."""
    with OpenRouterClient(base_url, ApiKey(CANARY_KEY, "test")) as client:
        result = client.generate(ImageRequest(model=PRO, prompt=prompt, seed=seed))
    assert result.generation_id is not None
    return result.generation_id


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def set_pid(row_id: int, pid: int) -> None:
    """A row written by another process (the ledger always records its writer's pid)."""
    with sqlite3.connect(default_path()) as conn:
        conn.execute("UPDATE calls SET pid = ? WHERE id = ?", (pid, row_id))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    with Ledger.open() as opened:
        yield opened


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A sandbox that FLUX2_BASE_URL points at, with a key set (the canary)."""
    with Sandbox(SandboxConfig(port=0)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
        yield sb


def assert_no_key(result: Result) -> None:
    for text in (result.stdout, result.stderr):
        assert CANARY_KEY not in text
        assert CANARY_KEY[9:] not in text


# -- the API label -------------------------------------------------------------------------------


def test_api_label_names_openrouter_the_sandbox_and_anything_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert api_label(DEFAULT_BASE_URL) == OPENROUTER
    assert api_label(DEFAULT_BASE_URL + "/") == OPENROUTER
    assert api_label("http://127.0.0.1:8788/api/v1") == "http://127.0.0.1:8788/api/v1"
    assert api_label("http://127.0.0.1:8788/api/v1", sandbox=True) == SANDBOX
    assert current_api() == (OPENROUTER, DEFAULT_BASE_URL)
    monkeypatch.setenv("FLUX2_BASE_URL", "http://localhost:9/api/v1/")
    assert current_api() == ("http://localhost:9/api/v1", "http://localhost:9/api/v1")


# -- nothing yet ---------------------------------------------------------------------------------


def test_nothing_recorded_is_one_friendly_line_and_creates_no_ledger() -> None:
    result = flux2("history")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no calls recorded yet for OpenRouter" in result.stderr
    assert not default_path().exists()
    assert flux2("history", "--json").stdout == ""
    header = flux2("history", "--csv").stdout
    assert header.startswith("id,created_at,")
    assert header.count("\n") == 1


def test_other_apis_rows_do_not_count_as_this_ones(ledger: Ledger) -> None:
    record(ledger, SANDBOX)
    result = flux2("history")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "no calls recorded yet for OpenRouter" in result.stderr
    assert "--sandbox" in result.stderr


# -- the listing ---------------------------------------------------------------------------------


def test_table_shows_each_call_and_the_totals(ledger: Ledger) -> None:
    record(
        ledger,
        generation_id="gen-img-1-aaaa",
        prompt="a red fox",
        paths=["/renders/2026/fox.jpg"],
        at=NOW - timedelta(minutes=5),
    )
    record(ledger, model=KLEIN, charged=14_000, generation_id="gen-img-2-bbbb")
    record(ledger, status="unknown", estimate=45_000)
    record(ledger, status="failed")
    record(ledger, status="pending", estimate=70_000)
    result = flux2("history", env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "History · OpenRouter" in out
    for text in ("time", "model", "size", "status", "estimate", "charged", "generation id"):
        assert text in out
    for text in ("pro", "klein", "1024×1024", "$0.014", "gen-img-1-aaaa", "fox.jpg", "a red fox"):
        assert text in out
    assert "/renders/2026" not in out  # the table shows the name; --json has the path
    assert (
        "5 calls · estimate $0.205 · charged $0.044 · 1 failed (not billed) · 1 pending and "
        "1 unknown: may have been billed, counted at $0.115 · counts as $0.159"
    ) in " ".join(out.split())
    assert "--reconcile" in result.stderr


@pytest.mark.parametrize("columns", [80, 100])
def test_below_120_columns_the_id_gives_way_to_the_file_and_prompt(
    ledger: Ledger, columns: int
) -> None:
    record(
        ledger,
        generation_id="gen-img-1-aaaa",
        prompt="give the fox a red scarf",
        paths=["/renders/scarf.jpg"],
    )
    out = flux2("history", env={"COLUMNS": str(columns)}).stdout
    assert "generation id" not in out
    assert "gen-img-1-aaaa" not in out
    assert "scarf.jpg" in out  # whole, not folded into pieces
    if columns >= 100:
        assert "give the fox a red scarf" in " ".join(out.split())
    assert all(len(line) <= columns for line in out.splitlines())
    wide = flux2("history", env={"COLUMNS": "140"}).stdout
    assert "generation id" in wide
    assert "gen-img-1-aaaa" in wide


def test_prompts_are_shown_only_when_stored_and_never_as_markup(ledger: Ledger) -> None:
    record(ledger, prompt=None)
    assert "prompt" not in flux2("history").stdout
    record(ledger, prompt="[bold red]fox[/] \x1b[31mred\x1b[0m \x1b]8;;http://x\x07link")
    out = flux2("history").stdout
    assert "[bold red]fox[/] red link" in " ".join(out.split())
    assert "\x1b" not in out
    assert "file · prompt" in out


def test_json_lines_carry_every_column_and_money_as_numbers(ledger: Ledger) -> None:
    record(ledger, generation_id="gen-img-1-aaaa", prompt="a fox", paths=["/r/fox.jpg"])
    record(ledger, status="unknown", estimate=45_000)
    result = flux2("history", "--json")
    assert result.exit_code == 0
    assert result.stderr == ""
    newest, oldest = json_lines(result.stdout)
    assert newest["status"] == "unknown"
    assert newest["charged_usd"] is None
    assert newest["counted_usd"] == 0.045
    assert oldest["charged_usd"] == 0.03
    assert oldest["estimate_micros"] == 30_000
    assert oldest["model"] == PRO
    assert oldest["alias"] == "pro"
    assert oldest["paths"] == ["/r/fox.jpg"]
    assert oldest["prompt"] == "a fox"
    assert str(oldest["created_at"]).endswith("Z")
    assert {"api", "command", "route", "seed", "width", "sha256s", "error", "pid"} <= set(oldest)


def test_csv_is_a_header_and_one_record_per_call(ledger: Ledger) -> None:
    record(ledger, prompt='a "quoted", multi\nline prompt', paths=["a.jpg", "b.jpg"])
    record(ledger, status="failed")
    result = flux2("history", "--csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert rows[1]["prompt"] == 'a "quoted", multi\nline prompt'
    assert rows[1]["paths"] == "a.jpg;b.jpg"
    assert rows[1]["charged_usd"] == "0.03"
    assert rows[0]["charged_usd"] == ""


def test_json_and_csv_together_or_a_bad_by_are_usage_errors(ledger: Ledger) -> None:
    record(ledger)
    assert flux2("history", "--json", "--csv").exit_code == 2
    result = flux2("history", "--by", "week")
    assert result.exit_code == 2
    assert "--by must be one of day, model, host, user" in result.stderr
    assert flux2("history", "--since", "3 fortnights").exit_code == 2
    assert flux2("history", "--limit", "0").exit_code == 2


def test_since_and_model_filter_and_model_takes_an_alias_or_an_id(ledger: Ledger) -> None:
    record(ledger, at=NOW - timedelta(days=3))
    record(ledger, model=KLEIN, charged=14_000)
    record(ledger)
    assert len(json_lines(flux2("history", "--json").stdout)) == 3
    assert len(json_lines(flux2("history", "--since", "1d", "--json").stdout)) == 2
    assert len(json_lines(flux2("history", "-m", "pro", "--json").stdout)) == 2
    assert len(json_lines(flux2("history", "--model", KLEIN, "--json").stdout)) == 1
    none = flux2("history", "--since", "1h", "-m", "max")
    assert none.exit_code == 0
    assert none.stdout == ""
    assert "no calls match --since 1h --model max" in none.stderr


def test_by_day_and_by_model_sum_the_calls(ledger: Ledger) -> None:
    record(ledger, at=NOW - timedelta(days=2))
    record(ledger, model=KLEIN, charged=14_000)
    record(ledger, status="unknown")
    by_model = {
        g["model"]: g for g in json_lines(flux2("history", "--by", "model", "--json").stdout)
    }
    assert by_model[PRO]["calls"] == 2
    assert by_model[PRO]["unknown"] == 1
    assert by_model[PRO]["counted_usd"] == 0.06
    assert by_model[KLEIN]["charged_usd"] == 0.014
    days = json_lines(flux2("history", "--by", "day", "--json").stdout)
    assert [d["calls"] for d in days] == [2, 1]  # newest day first
    table = flux2("history", "--by", "model").stdout
    assert "History by model" in table
    assert "klein" in table
    assert "counts as" in table
    rows = list(csv.DictReader(io.StringIO(flux2("history", "--by", "day", "--csv").stdout)))
    assert rows[0]["calls"] == "2"


def test_limit_defaults_to_50_in_the_table_and_all_for_machines(ledger: Ledger) -> None:
    for _ in range(53):
        record(ledger)
    table = flux2("history")
    assert table.stdout.count("1024×1024") == 50
    assert "showing the newest 50 of 53 calls" in table.stderr
    assert "53 calls" in table.stdout  # the totals cover every match
    assert len(json_lines(flux2("history", "--json").stdout)) == 53
    assert len(json_lines(flux2("history", "--json", "--limit", "3").stdout)) == 3
    assert flux2("history", "--csv", "--limit", "2").stdout.count("\n") == 3


def test_each_api_sees_only_its_own_rows(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    other = "http://127.0.0.1:9/api/v1"
    record(ledger, OPENROUTER, charged=10_000)
    record(ledger, SANDBOX, charged=20_000)
    record(ledger, other, charged=40_000)

    def charged(*args: str) -> list[object]:
        return [r["charged_usd"] for r in json_lines(flux2("history", "--json", *args).stdout)]

    assert charged() == [0.01]
    assert charged("--sandbox") == [0.02]
    monkeypatch.setenv("FLUX2_BASE_URL", other + "/")
    assert charged() == [0.04]
    assert "History · http://127.0.0.1:9/api/v1" in flux2("history").stdout


# -- reconcile -----------------------------------------------------------------------------------


def test_reconcile_settles_what_the_api_and_the_pids_can_tell(
    sandbox: Sandbox, ledger: Ledger
) -> None:
    api = api_label(sandbox.base_url)
    # The answer was lost: the sandbox billed it, the ledger does not know the charge.
    lost = record(ledger, api, status="unknown", generation_id=bill(sandbox.base_url))
    old = record(
        ledger, api, status="unknown", generation_id="gen-img-1-never", at=NOW - timedelta(hours=2)
    )
    young = record(ledger, api, status="unknown", generation_id="gen-img-2-notyet")
    killed = record(ledger, api, status="pending", charged=None)
    set_pid(killed, dead_pid())
    live = record(ledger, api, status="pending", charged=None)  # this process: still running

    result = flux2("history", "--reconcile", "--json")
    assert result.exit_code == 0, result.stderr
    assert_no_key(result)
    rows = {r["id"]: r for r in json_lines(result.stdout)}
    # Billed, but its image never arrived: counted at the charge, and never `ok`.
    assert rows[lost]["status"] == "failed"
    assert rows[lost]["charged_micros"] == sandbox.spent_micros() == 30_000
    assert rows[lost]["provider"] == "Black Forest Labs"
    assert rows[old]["status"] == "failed"
    assert "not billed" in str(rows[old]["error"])
    assert rows[young]["status"] == "unknown"
    assert rows[killed]["status"] == "unknown"
    assert "is gone" in str(rows[killed]["error"])
    assert rows[live]["status"] == "pending"
    err = " ".join(result.stderr.split())
    assert f"#{lost} " in err
    assert "unknown → failed: charged $0.030, but no image was received" in err
    assert f"#{old} " in err
    assert "unknown → failed" in err
    assert f"#{killed} " in err
    assert "pending → unknown" in err
    assert "reconciled 3 calls; 1 still unknown" in err
    assert "totals now: 5 calls" in err
    again = flux2("history", "--reconcile")
    assert "reconciled 0 calls; 1 still unknown" in " ".join(again.stderr.split())


def test_reconcile_waits_for_generation_records_that_are_not_there_yet(
    monkeypatch: pytest.MonkeyPatch, ledger: Ledger
) -> None:
    with Sandbox(SandboxConfig(port=0, generation_delay=60)) as sb:
        monkeypatch.setenv("FLUX2_BASE_URL", sb.base_url)
        monkeypatch.setenv("OPENROUTER_API_KEY", CANARY_KEY)
        api = api_label(sb.base_url)
        row = record(ledger, api, status="unknown", generation_id=bill(sb.base_url))
        result = flux2("history", "--reconcile", "--json")
    assert result.exit_code == 0, result.stderr
    assert {r["id"]: r["status"] for r in json_lines(result.stdout)}[row] == "unknown"
    assert "still unknown" in result.stderr


def test_reconcile_needs_the_key_only_for_lookups(ledger: Ledger) -> None:
    killed = record(ledger, status="pending", charged=None)
    set_pid(killed, dead_pid())
    assert flux2("history", "--reconcile").exit_code == 0  # no lookup: no key needed
    record(ledger, status="unknown", generation_id="gen-img-1-x")
    result = flux2("history", "--reconcile")
    assert result.exit_code == 4
    assert "no OpenRouter API key" in result.stderr


def test_reconcile_of_sandbox_runs_cannot_look_ids_up(ledger: Ledger) -> None:
    record(ledger, SANDBOX, status="unknown", generation_id="gen-img-1-x")
    killed = record(ledger, SANDBOX, status="pending", charged=None, generation_id="gen-img-2-y")
    set_pid(killed, dead_pid())
    result = flux2("history", "--sandbox", "--reconcile", "--json")
    assert result.exit_code == 0
    statuses = sorted(str(r["status"]) for r in json_lines(result.stdout))
    assert statuses == ["unknown", "unknown"]
    assert "cannot be looked up" in " ".join(result.stderr.split())


# -- end to end: the real command, a real sandbox, a process killed mid-call ---------------------


def _run(
    *args: str, base_url: str, key: str | None = CANARY_KEY
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLUX2_BASE_URL": base_url}
    if key:
        env["OPENROUTER_API_KEY"] = key
    return subprocess.run(
        [*FLUX2, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e
def test_history_json_sums_to_what_the_sandbox_billed(tmp_path: Path) -> None:
    """Issue 5: several generate runs, then `history --since 1d --json` sums to the sandbox's
    own record of spend, to the cent."""
    with Sandbox(SandboxConfig(port=0)) as sb:
        for model, size in (("pro", "1024x1024"), ("klein", "1024x1024"), ("max", "2048x1024")):
            done = subprocess.run(
                [*FLUX2, "generate", "a fox", "-m", model, "--size", size, "-o", str(tmp_path)],
                capture_output=True,
                env={**os.environ, "FLUX2_BASE_URL": sb.base_url, "OPENROUTER_API_KEY": CANARY_KEY},
                timeout=60,
                check=False,
            )
            assert done.returncode == 0, done.stderr
        assert default_path().exists(), "generate must record its calls in the ledger"
        result = _run("history", "--since", "1d", "--json", base_url=sb.base_url)
        spent = sb.spent_micros()
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert len(rows) == 3
    charged = sum(float(str(r["charged_usd"])) for r in rows)
    assert round(charged, 2) == round(spent / 1_000_000, 2)
    assert sum(int(str(r["charged_micros"])) for r in rows) == spent


@pytest.mark.e2e
def test_a_killed_process_leaves_a_pending_row_that_reconcile_settles() -> None:
    with Sandbox(SandboxConfig(port=0)) as sb:
        api = api_label(sb.base_url)
        writer = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys, time\n"
                "from flux_cli.ledger import Budgets, Ledger, NewEntry\n"
                "with Ledger.open() as ledger:\n"
                f"    ledger.reserve(NewEntry(api={api!r}, command='generate', model={PRO!r},"
                " estimate_micros=30000), Budgets())\n"
                "print('sent', flush=True)\n"
                "time.sleep(60)\n",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline() == "sent\n"
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()

        shown = _run("history", base_url=sb.base_url)
        assert shown.returncode == 0, shown.stderr
        assert "pending" in shown.stdout
        assert "1 pending" in shown.stdout
        settled = _run("history", "--reconcile", "--json", base_url=sb.base_url)
    assert settled.returncode == 0, settled.stderr
    assert "pending → unknown" in settled.stderr
    assert f"(pid {writer.pid}) is gone" in " ".join(settled.stderr.split())
    (row,) = json_lines(settled.stdout)
    assert row["status"] == "unknown"
    assert row["counted_usd"] == 0.03
    assert CANARY_KEY not in settled.stdout + settled.stderr


# -- who spent it, one run, and long ledgers --------------------------------------------------------


def test_by_host_and_by_user_total_each_writer(ledger: Ledger) -> None:
    record(ledger, charged=30_000)
    record(ledger, charged=40_000, estimate=40_000)
    other = record(ledger, charged=70_000, estimate=70_000)
    with ledger._db.statement() as session:
        session.execute(
            "UPDATE calls SET host = 'ci-runner', os_user = 'ci' WHERE id = :id", {"id": other}
        )
    by_host = json_lines(flux2("history", "--by", "host", "--json").stdout)
    assert {(g["host"], g["calls"], g["counted_micros"]) for g in by_host} == {
        ("ci-runner", 1, 70_000),
        (ledger.hostname, 2, 70_000),
    }
    table = flux2("history", "--by", "user")
    assert table.exit_code == 0, table.output
    assert "History by user" in table.stdout
    assert "ci" in table.stdout
    assert "counts as $0.140" in " ".join(table.stdout.split())


def test_run_lists_one_batch_run(ledger: Ledger) -> None:
    for run_id in ("night-1", "night-1", "night-2"):
        ledger.reserve(
            NewEntry(
                api=OPENROUTER, command="generate", model=PRO, estimate_micros=30_000, run_id=run_id
            ),
            Budgets(),
        )
    rows = json_lines(flux2("history", "--run", "night-1", "--json").stdout)
    assert [r["run_id"] for r in rows] == ["night-1", "night-1"]
    assert all(r["host"] == ledger.hostname and r["os_user"] for r in rows)
    none = flux2("history", "--run", "night-3")
    assert none.exit_code == 0
    assert "no calls match --run night-3" in none.stderr


def test_machine_output_streams_every_row_and_the_table_only_the_newest(ledger: Ledger) -> None:
    one = NewEntry(api=OPENROUTER, command="generate", model=PRO, estimate_micros=30_000)
    ledger.reserve_many([one] * 2_500, Budgets())  # more than a page, all at the same moment
    lines = flux2("history", "--json").stdout.splitlines()
    assert len(lines) == 2_500
    ids = [json.loads(line)["id"] for line in lines]
    assert ids == sorted(ids, reverse=True)  # newest first: ties go by id
    table = flux2("history")
    assert "showing the newest 50 of 2500 calls" in table.stderr
    rows = list(csv.DictReader(io.StringIO(flux2("history", "--csv", "--limit", "1200").stdout)))
    assert len(rows) == 1_200
    assert {"host", "os_user", "run_id"} <= set(rows[0])
