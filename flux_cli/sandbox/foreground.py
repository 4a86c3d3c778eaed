"""`flux2 sandbox` in the foreground: the URL on stdout, exports and a request log on stderr."""

from __future__ import annotations

import sys
import threading
import time
import warnings

from PIL import Image

from flux_cli.errors import Interrupted, UsageError
from flux_cli.redact import redact
from flux_cli.sandbox.faults import parse_fault_spec
from flux_cli.sandbox.http_handler import AccessLogEntry
from flux_cli.sandbox.keys import SANDBOX_KEY, is_well_formed
from flux_cli.sandbox.server import (
    PortInUseError,
    Sandbox,
    SandboxConfig,
    parse_balance,
)

_stderr_lock = threading.Lock()


def _err(line: str) -> None:
    with _stderr_lock:
        try:
            sys.stderr.write(line + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def _log(entry: AccessLogEntry) -> None:
    status = "dropped" if entry.status is None else str(entry.status)
    line = f"{time.strftime('%H:%M:%S')} {entry.method} {entry.path} {status} {entry.elapsed_ms:.0f} ms"
    if entry.fault:
        line += f" [fault {entry.fault}]"
    _err(redact(line))


def serve(
    *,
    port: int,
    key: str | None,
    latency: float,
    balance: str,
    fail: list[str],
    generation_delay: float,
    quiet: bool,
    size_passthrough: bool = True,
) -> None:
    """Run until SIGINT/SIGTERM (which arrive here as `Interrupted`), then stop cleanly."""
    try:
        parse_balance(balance)
    except ValueError as exc:
        raise UsageError(f"--balance: {exc}") from None
    if key is not None and not is_well_formed(key.strip()):
        raise UsageError(
            "--key must be a well-formed key: sk-or-v1- followed by 16-128 letters and digits"
        )
    faults = []
    for spec in fail:
        try:
            faults.append(parse_fault_spec(spec))
        except ValueError as exc:
            raise UsageError(f"--fail {spec!r}: {exc}") from None
    # A reference bigger than Pillow's bomb threshold is refused, never just warned about.
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    config = SandboxConfig(
        port=port,
        key=key.strip() if key else None,
        latency=latency,
        balance_usd=balance,
        generation_delay=generation_delay,
        size_passthrough=size_passthrough,
        on_request=None if quiet else _log,
    )
    sandbox = Sandbox(config)
    for route, fault in faults:
        sandbox.add_fault(route, fault)
    try:
        sandbox.start()
    except PortInUseError:
        raise UsageError(
            f"port {port} is in use; pick another with --port or use --port 0"
        ) from None
    try:
        sys.stdout.write(sandbox.base_url + "\n")
        sys.stdout.flush()
        _err(f"flux2 sandbox: serving on {sandbox.base_url} (Ctrl-C to stop)")
        _err(f"export FLUX2_BASE_URL={sandbox.base_url}")
        from flux_cli.redact import declare_public

        accepted = config.key or SANDBOX_KEY
        declare_public(accepted)  # a rehearsal key, printed so it can be pasted
        _err(f"export OPENROUTER_API_KEY={accepted}")
        for route, fault in faults:
            times = "always" if fault.times is None else str(fault.times)
            _err(f"flux2 sandbox: fault {route}:{fault.describe()} (times={times})")
        while True:
            time.sleep(3600)
    except Interrupted:
        pass
    finally:
        sandbox.stop()
    _err("sandbox stopped")
