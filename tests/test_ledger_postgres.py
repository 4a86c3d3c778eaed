"""The shared ledger on PostgreSQL: the URL and its password, reaching the server, copying a
local ledger in, and the commands that read it. (The ledger's own suite, tests/test_ledger.py,
runs on PostgreSQL as well.)"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux_cli.cli.registry import app
from flux_cli.errors import UsageError
from flux_cli.exit_codes import ExitCode
from flux_cli.ledger import Budgets, Ledger, LedgerError, NewEntry, default_path
from flux_cli.ledger.location import LedgerUrl, parse_ledger_url
from tests.postgres import PG_PASSWORD, Cluster

runner = CliRunner()


def entry(estimate: int = 30_000, **fields: object) -> NewEntry:
    return NewEntry(
        api="openrouter",
        command="generate",
        model="black-forest-labs/flux.2-pro",
        estimate_micros=estimate,
        **fields,  # type: ignore[arg-type]
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe goes


# -- the URL ----------------------------------------------------------------------------------------


def test_the_url_prints_masked_everywhere() -> None:
    url = parse_ledger_url(
        "postgresql://team:s3cret-pass-word@db.example:5432/flux2?sslmode=require"
    )
    assert url.secret == "postgresql://team:s3cret-pass-word@db.example:5432/flux2?sslmode=require"
    for shown in (str(url), repr(url), f"{url}", url.masked, "%s" % url):  # noqa: UP031
        assert "s3cret" not in shown
    assert str(url) == "postgresql://team:…@db.example:5432/flux2?sslmode=require"
    in_query = parse_ledger_url("postgres://db/flux2?user=team&password=another-secret-1")
    assert "another-secret" not in str(in_query)
    assert in_query.scrub("failed for another-secret-1") == "failed for …"


@pytest.mark.parametrize(
    "text",
    [
        "sqlite:///tmp/x",
        "mysql://root:hunter2-long@db/x",
        "db.example",
        "postgresql://h:99999999/x",
    ],
)
def test_anything_but_a_postgresql_url_is_refused_without_its_password(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_ledger_url(text)
    assert "hunter2" not in caught.value.message
    assert "ledger.url" in caught.value.message


def test_config_show_and_get_mask_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "pg-secret-in-env-123"
    monkeypatch.setenv("FLUX2_LEDGER_URL", f"postgresql://team:{secret}@db.example/flux2")
    for args in (["config", "show"], ["config", "show", "--json"], ["config", "get", "ledger.url"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert secret not in result.stdout + result.stderr
        assert "postgresql://team:…@db.example/flux2" in result.stdout
    shown = json.loads(runner.invoke(app, ["config", "show", "--json"]).stdout)
    assert shown["settings"]["ledger.url"]["source"] == "env FLUX2_LEDGER_URL"


def test_config_set_keeps_the_whole_url_in_the_file(isolated_environment: Path) -> None:
    url = "postgresql://team:file-secret-456@db.example/flux2"
    result = runner.invoke(app, ["config", "set", "ledger.url", url])
    assert result.exit_code == 0, result.output
    assert "file-secret-456" not in result.stdout + result.stderr
    text = (isolated_environment / "config" / "config.toml").read_text()
    assert url in text  # the file is the user's own (0600 dir); libpq needs the password


# -- reaching the server ----------------------------------------------------------------------------


def test_a_server_that_is_not_there_fails_closed_with_the_reason() -> None:
    url = f"postgresql://team:{PG_PASSWORD}@127.0.0.1:{closed_port()}/flux2"
    with pytest.raises(LedgerError) as caught:
        Ledger.open(url=url)
    error = caught.value
    assert error.exit_code == ExitCode.OUTPUT
    assert int(error.exit_code) == 11
    assert "cannot be reached" in error.message
    assert "nothing was sent" in error.message
    assert "postgresql://team:…@127.0.0.1" in error.message
    assert PG_PASSWORD not in error.message + str(error.hint)


def test_a_wrong_password_is_refused_without_showing_it(postgres_cluster: Cluster) -> None:
    wrong = "wrong-password-canary-99"
    url = postgres_cluster.url().replace(PG_PASSWORD, wrong)
    with pytest.raises(LedgerError) as caught:
        Ledger.open(url=url)
    assert wrong not in caught.value.message
    assert PG_PASSWORD not in caught.value.message
    assert "password authentication failed" in caught.value.message


def test_a_password_file_works_as_for_psql(
    postgres_cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_cluster.new_database().rsplit("/", 1)[1]
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_cluster.port}:*:postgres:{PG_PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    url = postgres_cluster.url(database, password=False) + "?sslmode=disable"
    assert PG_PASSWORD not in url
    with Ledger.open(url=url) as ledger:
        assert ledger.kind == "postgresql"
        ledger.reserve(entry(), Budgets())
        assert ledger.where == url


def test_sslmode_goes_to_libpq_as_written(postgres_cluster: Cluster) -> None:
    # The throwaway server has no TLS: `require` must fail, and say why.
    url = postgres_cluster.new_database() + "?sslmode=require"
    with pytest.raises(LedgerError) as caught:
        Ledger.open(url=url)
    assert "SSL" in caught.value.message
    assert PG_PASSWORD not in caught.value.message


def test_two_ledgers_on_one_database_share_one_budget(postgres_url: str) -> None:
    budgets = Budgets(daily_micros=60_000)
    with Ledger.open(url=postgres_url) as laptop, Ledger.open(url=postgres_url) as ci:
        ci.hostname = "ci-runner"  # another machine, as far as the rows can tell
        laptop.reserve(entry(), budgets)
        ci.reserve(entry(), budgets)
        with pytest.raises(Exception, match="daily budget"):
            laptop.reserve(entry(), budgets)
        hosts = {t.key: t.count for t in laptop.totals("openrouter", by="host")}
    assert hosts == {"ci-runner": 1, laptop.hostname: 1}


# -- flux2 ledger migrate ---------------------------------------------------------------------------


def test_migrate_copies_the_local_rows_once(postgres_url: str) -> None:
    with Ledger.open() as local:
        ids = [local.reserve(entry(), Budgets()) for _ in range(3)]
        local.update(ids[0], status="ok", charged_micros=25_000, paths=["/out/a.png"])
        local.update(ids[1], status="failed")
    first = runner.invoke(app, ["ledger", "migrate", "--to", postgres_url])
    assert first.exit_code == 0, first.output
    assert "copied 3 of 3 rows" in first.stderr
    assert PG_PASSWORD not in first.stdout + first.stderr
    again = runner.invoke(app, ["ledger", "migrate", "--to", postgres_url])
    assert again.exit_code == 0, again.output
    assert "copied 0 of 3 rows" in again.stderr
    assert "3 were there already" in again.stderr
    with Ledger.open() as local:
        local.reserve(entry(), Budgets())  # one more later: only it is copied
    third = runner.invoke(app, ["ledger", "migrate", "--to", postgres_url])
    assert "copied 1 of 4 rows" in third.stderr
    with Ledger.open(url=postgres_url) as shared, Ledger.open(default_path()) as local:
        copied = shared.rows("openrouter")
        originals = local.rows("openrouter")
        assert len(copied) == 4
        assert sorted(
            (r.status, r.charged_micros, r.paths, r.created_at) for r in copied
        ) == sorted((r.status, r.charged_micros, r.paths, r.created_at) for r in originals)
        assert shared.spent("openrouter") == local.spent("openrouter")  # running totals too


def test_migrate_needs_somewhere_to_go() -> None:
    result = runner.invoke(app, ["ledger", "migrate"])
    assert result.exit_code == 2
    assert "--to" in result.stderr


# -- the commands that read the ledger --------------------------------------------------------------


def test_history_reads_the_shared_ledger(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Ledger.open(url=postgres_url) as shared:
        shared.reserve(entry(run_id="nightly-1"), Budgets())
    monkeypatch.setenv("FLUX2_LEDGER_URL", postgres_url)
    result = runner.invoke(app, ["history", "--json", "--run", "nightly-1"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["run_id"] == "nightly-1"
    assert not default_path().exists()  # nothing local was made


def test_history_says_where_it_could_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"postgresql://team:{PG_PASSWORD}@127.0.0.1:{closed_port()}/flux2"
    monkeypatch.setenv("FLUX2_LEDGER_URL", url)
    result = runner.invoke(app, ["history"])
    assert result.exit_code == 11
    assert "history could not read the ledger" in result.stderr
    assert "postgresql://team:…@127.0.0.1" in result.stderr
    assert PG_PASSWORD not in result.stdout + result.stderr


def test_a_missing_driver_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    with pytest.raises(LedgerError) as caught:
        Ledger.open(url=LedgerUrl("postgresql://db.example/flux2"))
    assert "driver is not installed" in caught.value.message
    assert caught.value.hint == "pip install 'flux2-cli[postgres]'"


def test_the_driver_is_imported_only_for_a_postgresql_ledger() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from flux_cli.cli.main import run\n"
        "try:\n"
        "    run(['history'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "from flux_cli.ledger import Budgets, Ledger, NewEntry\n"
        "with Ledger.open() as ledger:\n"
        "    ledger.reserve(NewEntry('openrouter', 'generate', 'm', 1), Budgets(daily_micros=9))\n"
        "print('psycopg' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.stdout.strip().splitlines()[-1] == "False", done.stderr


def test_a_connection_lost_mid_run_fails_closed(postgres_url: str) -> None:
    import psycopg

    with Ledger.open(url=postgres_url) as ledger:
        ledger.reserve(entry(), Budgets(daily_micros=1_000_000))
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'flux2' AND pid <> pg_backend_pid()"
            )
        with pytest.raises(LedgerError) as caught:
            ledger.reserve(entry(), Budgets(daily_micros=1_000_000))
        assert caught.value.exit_code == ExitCode.OUTPUT
        assert "nothing was sent" in caught.value.message
        assert PG_PASSWORD not in caught.value.message
    with Ledger.open(url=postgres_url) as again:
        assert len(again.rows("openrouter")) == 1  # the second call left no row
