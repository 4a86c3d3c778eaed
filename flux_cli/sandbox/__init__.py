"""A faithful local OpenRouter stand-in for flux2 (README.md#sandbox).

    from flux_cli.sandbox import Sandbox, SandboxConfig, Fault

    with Sandbox(SandboxConfig(port=0)) as sb:
        sb.push_fault("images", Fault(status=429, retry_after=1))
        ...  # talk to sb.base_url with SANDBOX_KEY

The shapes it answers with come from docs/openrouter.md (§-citations in the
code). It never imports typer or rich: the `flux2 sandbox` command lives in flux_cli.cli.sandbox.
"""

from __future__ import annotations

from flux_cli.sandbox.faults import KINDS, ROUTES, Fault, FaultBoard, parse_fault, parse_fault_spec
from flux_cli.sandbox.http_handler import AccessLogEntry
from flux_cli.sandbox.keys import SANDBOX_KEY, is_well_formed
from flux_cli.sandbox.server import (
    PortInUseError,
    Sandbox,
    SandboxConfig,
    parse_balance,
)
from flux_cli.sandbox.state import GenerationRecord, RecordedRequest

__all__ = [
    "KINDS",
    "ROUTES",
    "SANDBOX_KEY",
    "AccessLogEntry",
    "Fault",
    "FaultBoard",
    "GenerationRecord",
    "PortInUseError",
    "RecordedRequest",
    "Sandbox",
    "SandboxConfig",
    "is_well_formed",
    "parse_balance",
    "parse_fault",
    "parse_fault_spec",
]
