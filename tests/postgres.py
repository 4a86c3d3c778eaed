"""A throwaway PostgreSQL cluster for the tests: initdb in a temporary directory, a free loopback
port, torn down at the end of the session.

Needs the server binaries (Debian's `postgresql` package; `.ci/run` installs it). Without them
the PostgreSQL tests are skipped, except under CI (the `CI` variable), where that is a failure.
As root the server runs as the `postgres` user (it refuses to run as root).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The superuser's password: a canary that must never appear in any output.
PG_PASSWORD = "pg-CANARY-7f3a9c1e5b"
_databases = itertools.count(1)


def _bin_dir() -> Path | None:
    """Debian's versioned directory (newest first), else wherever initdb is on PATH."""
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Cluster:
    port: int
    password: str

    def url(self, database: str = "postgres", *, password: bool = True) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql://postgres{secret}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL (with the password)."""
        import psycopg

        name = f"flux2_test_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)


def _run(args: list[str], as_postgres: bool) -> None:
    command = ["runuser", "-u", "postgres", "--", *args] if as_postgres else args
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {done.stdout}{done.stderr}")


def available() -> Path | None:
    """The server binaries' directory, when they and psycopg are installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None
    return _bin_dir()


@contextmanager
def running_cluster(bin_dir: Path) -> Iterator[Cluster]:
    """initdb, start on a free loopback port, and at the end stop and delete it all."""
    # Not under pytest's own temporary directory: its parents are private to this user, and
    # the server may run as another.
    root = Path(tempfile.mkdtemp(prefix="flux2-postgres-"))
    as_postgres = hasattr(os, "geteuid") and os.geteuid() == 0
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    password_file = root / "password"
    password_file.write_text(PG_PASSWORD + "\n")
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
        shutil.chown(password_file, "postgres")
    port = _free_port()
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            as_postgres,
        )
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        pg_ctl = str(bin_dir / "pg_ctl")
        _run([pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"], as_postgres)
        try:
            yield Cluster(port, PG_PASSWORD)
        finally:
            _run([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], as_postgres)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    bin_dir = available()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL (initdb, pg_ctl) and psycopg for the ledger tests")
        pytest.skip("PostgreSQL server binaries or psycopg not installed")
    with running_cluster(bin_dir) as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> str:
    """The URL of a fresh, empty database on the session's cluster."""
    return postgres_cluster.new_database()
