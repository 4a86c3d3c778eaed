"""The sandbox itself: its configuration, its state (ledger, faults, files, request log), and the
server thread it runs on (`Sandbox`); the HTTP side is in `http_handler`.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flux_cli.pricing import usd_to_micros
from flux_cli.sandbox import control
from flux_cli.sandbox.faults import Fault, FaultBoard, parse_fault_spec
from flux_cli.sandbox.http_handler import API_PREFIX, AccessLogEntry, Handler, HttpServer
from flux_cli.sandbox.image_requests import Context
from flux_cli.sandbox.keys import is_well_formed
from flux_cli.sandbox.render import ContentSigner
from flux_cli.sandbox.routes import Api
from flux_cli.sandbox.state import FileStore, GenerationRecord, Ledger, RecordedRequest, RequestLog

HOST = "127.0.0.1"
# The real limit is not documented (docs/openrouter.md#references-and-size-limits): 50 MiB is ours.
MAX_BODY_BYTES = 50 * 1024 * 1024


class PortInUseError(OSError):
    """The requested port is taken."""


@dataclass(frozen=True)
class SandboxConfig:
    port: int = 0
    key: str | None = None  # accept only this key (default: any well-formed sk-or-v1- key)
    latency: float = 0.0  # seconds before the answer of a generation
    balance_usd: str = "10.00"
    generation_delay: float = 0.0  # seconds before /generation knows a new id
    size_passthrough: bool = True  # honour provider.options width/height
    max_body_bytes: int = MAX_BODY_BYTES
    on_request: Callable[[AccessLogEntry], None] | None = None
    content_signer: ContentSigner | None = None  # answer with C2PA-signed images


def parse_balance(text: str) -> int:
    """`"10.00"` → 10_000_000 micro-dollars; ValueError for anything that is not an amount ≥ 0."""
    try:
        amount = Decimal(str(text).strip().lstrip("$"))
    except InvalidOperation:
        amount = Decimal("NaN")
    if not amount.is_finite() or amount.adjusted() > 9:
        raise ValueError(f"balance must be an amount in USD like 10.00, got {text!r}")
    if amount < 0:
        raise ValueError(f"balance must not be negative, got {text!r}")
    return usd_to_micros(amount)


class Sandbox:
    """A local OpenRouter stand-in on a background thread.

    with Sandbox(SandboxConfig(port=0)) as sb:
        httpx.get(sb.base_url + "/images/models")
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        if self.config.key is not None and not is_well_formed(self.config.key):
            raise ValueError(
                "the accepted key must look like sk-or-v1- followed by 16-128 letters/digits"
            )
        self.ledger = Ledger(parse_balance(self.config.balance_usd))
        self.faults = FaultBoard()
        self.files = FileStore()
        self.log = RequestLog()
        # Generations being worked on or answered right now, and the most there ever were at
        # once (how a client's concurrency is checked from the outside).
        self.in_flight = 0
        self.peak_in_flight = 0
        self._flight_lock = threading.Lock()
        self._server: HttpServer | None = None
        self._thread: threading.Thread | None = None
        self.api: Api | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def generation_started(self) -> Callable[[], None]:
        """Count one generation as in flight; the returned function ends it (once). It ends
        just before the answer is written, so a client that has the answer has seen it end."""
        with self._flight_lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        ended = False

        def end() -> None:
            nonlocal ended
            with self._flight_lock:
                if not ended:
                    ended = True
                    self.in_flight -= 1

        return end

    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        try:
            server = HttpServer((HOST, self.config.port), Handler, self)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(exc.errno, f"port {self.config.port} is in use") from None
            raise
        ctx = Context(
            ledger=self.ledger,
            files=self.files,
            port=server.server_address[1],
            accepted_key=self.config.key,
            latency=self.config.latency,
            size_passthrough=self.config.size_passthrough,
            signer=self.config.content_signer,
        )
        self.api = Api(ctx, self.faults, self.config.generation_delay)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.5},
            daemon=True,
            name=f"flux2-sandbox-{self.port}",
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        # shutdown() waits for serve_forever to look up from select(); knocking on the listening
        # socket wakes it at once instead of after a poll interval.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        while stopper.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, int(server.server_address[1])), timeout=0.5).close()
            stopper.join(0.01)
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + API_PREFIX

    def file_url(self, name: str) -> str:
        return f"{self.root_url}/_sandbox/files/{name}"

    # --- faults --------------------------------------------------------------------------------

    def push_fault(self, route: str, fault: Fault) -> None:
        """The next request to `route` (or any route for "*") gets `fault`; FIFO per route."""
        self.faults.push(route, fault)

    def set_rule(self, route: str, fault: Fault) -> None:
        """Every request to `route` gets `fault` (the next `fault.times`, if set) until cleared."""
        self.faults.set_rule(route, fault)

    def add_fault(self, route: str, fault: Fault) -> None:
        """Once when `fault.times` is 1, else as a rule (spec semantics)."""
        self.faults.install(route, fault)

    def add_fault_spec(self, spec: str) -> tuple[str, Fault]:
        route, fault = parse_fault_spec(spec)
        self.faults.install(route, fault)
        return route, fault

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- what happened -------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.log.all()

    def clear_requests(self) -> None:
        self.log.clear()

    @property
    def generations(self) -> list[GenerationRecord]:
        return self.ledger.generations()

    def spent_micros(self, key: str | None = None) -> int:
        return self.ledger.spent(key)

    def remaining_micros(self) -> int:
        return self.ledger.remaining()

    def state(self) -> dict[str, Any]:
        return control.state(self)
