"""`flux2 mcp`: a stdio Model Context Protocol server for agents (README "Agents (MCP)").

    policy   what the server may read, where it writes, its per-call ceiling, budget wording
    calls    the tools' work, on the same pipeline, budgets and ledger as the command line
    server   the MCP side (the optional `mcp` SDK): tool declarations, results, thumbnails

Only `server` imports the SDK, and only `flux2 mcp` imports `server`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux_cli.mcp.policy import Policy

#: The top-level packages of the optional SDK and what it brings along.
SDK_PACKAGES = frozenset({"mcp", "mcp_types", "pydantic", "anyio"})


def load_server() -> Callable[[Policy], None]:
    """`server.serve`, imported now: UsageError when the optional SDK is not installed."""
    from flux_cli.errors import UsageError

    try:
        from flux_cli.mcp.server import serve
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in SDK_PACKAGES:
            raise UsageError(
                "flux2 mcp needs the MCP SDK, which is not installed",
                hint="pip install 'flux2-cli[mcp]'",
            ) from None
        raise
    return serve
