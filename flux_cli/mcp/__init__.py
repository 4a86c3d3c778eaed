"""`flux2 mcp`: a stdio Model Context Protocol server for agents (README "Agents (MCP)").

    policy   what the server may read, where it writes, its per-call ceiling, budget wording
    calls    the tools' work, on the same pipeline, budgets and ledger as the command line
    server   the MCP side (the optional `mcp` SDK): tool declarations, results, thumbnails

Only `server` imports the SDK, and only `flux2 mcp` imports `server`.
"""
