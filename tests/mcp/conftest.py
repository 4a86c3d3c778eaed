"""Drive the installed `flux2 mcp` with the MCP SDK's own client, over stdio."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

pytest.importorskip("mcp")

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.e2e.conftest import flux2_command

_T = TypeVar("_T")
_SANDBOX_AT = re.compile(r"sandbox at (http://127\.0\.0\.1:\d+)/api/v1")
_FORWARDED = (
    "HOME",
    "NO_COLOR",
    "COLUMNS",
    "TERM",
    "PATH",
    "TZ",
    *(f"FLUX2_{name}_DIR" for name in ("CONFIG", "DATA", "CACHE", "STATE")),
)


def server_env(**extra: str) -> dict[str, str]:
    """The test's hermetic directories (see tests/conftest.py) and `extra`, nothing else."""
    env = {name: os.environ[name] for name in _FORWARDED if name in os.environ}
    env.update(extra)
    return env


@dataclass
class Server:
    client: Client
    log: Path  # the server's stderr
    out: Path
    refs: Path

    @property
    def control(self) -> str:
        """The control plane of the server's in-process sandbox (a --sandbox server)."""
        found = _SANDBOX_AT.search(self.log.read_text())
        assert found, self.log.read_text()
        return found.group(1) + "/_sandbox"

    def push_fault(self, spec: str, *, rule: bool = False) -> None:
        """The next request to the route takes it, or (`rule`) every request does."""
        body = {"spec": spec, "rule": rule}
        httpx.post(f"{self.control}/faults", json=body).raise_for_status()

    def generations(self) -> list[dict[str, Any]]:
        """What the sandbox billed."""
        state = httpx.get(f"{self.control}/state").json()
        return list(state["generations"])

    def image_requests(self) -> list[dict[str, Any]]:
        requests = httpx.get(f"{self.control}/requests").json()["requests"]
        return [r for r in requests if r["route"] == "images"]

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> Any:
        return await self.client.call_tool(tool, arguments or {})


@asynccontextmanager
async def serving(
    tmp_path: Path,
    *args: str,
    env: dict[str, str] | None = None,
    command: list[str] | None = None,
    sandbox: bool = True,
) -> AsyncIterator[Server]:
    out, refs = tmp_path / "out", tmp_path / "refs"
    out.mkdir(exist_ok=True)
    refs.mkdir(exist_ok=True)
    argv = command or [
        *flux2_command(),
        "mcp",
        *(["--sandbox"] if sandbox else []),
        "--output-dir",
        str(out),
        "--allow-read",
        str(refs),
        *args,
    ]
    params = StdioServerParameters(
        command=argv[0],
        args=argv[1:],
        env=server_env(**(env or {"FLUX2_BUDGET_DAILY_USD": "1.00"})),
        cwd=str(tmp_path),
    )
    log = tmp_path / "server.log"
    with log.open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=60) as client:
            yield Server(client, log, out, refs)


def run(
    tmp_path: Path,
    body: Callable[[Server], Awaitable[_T]],
    *args: str,
    env: dict[str, str] | None = None,
) -> _T:
    """Start a server, run `body` against it, stop it."""

    async def main() -> _T:
        async with serving(tmp_path, *args, env=env) as server:
            return await body(server)

    return asyncio.run(main())
