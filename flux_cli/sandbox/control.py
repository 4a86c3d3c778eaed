"""The control plane outside /api/v1, so tests can script a sandbox running in another process.

    POST   /_sandbox/faults     {"route": "images", "spec": "429:retry-after=2:times=2"}
                                {"spec": "images:502"}   or the Fault fields; "rule": true
    GET    /_sandbox/faults     what is queued and which rules stand
    DELETE /_sandbox/faults     clear them all
    GET    /_sandbox/requests   the recorded requests (Authorization masked)
    DELETE /_sandbox/requests   forget them
    GET    /_sandbox/state      balance, spend per key (by label), generations
    GET    /_sandbox/files/NAME a generated image (NAME = <generation id>.jpg|.png)

No key is needed. Errors use the same JSON envelope as the API.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flux_cli.sandbox.faults import Fault, check_route, parse_fault, parse_fault_spec
from flux_cli.sandbox.keys import key_label
from flux_cli.sandbox.state import usd
from flux_cli.sandbox.wire import Reply, error_payload

if TYPE_CHECKING:
    from flux_cli.sandbox.server import Sandbox

_FAULT_FIELDS = (
    "kind",
    "status",
    "body",
    "headers",
    "delay",
    "drip",
    "times",
    "message",
    "retry_after",
    "variant",
    "url",
)


def handle(sandbox: Sandbox, method: str, path: str, body: bytes) -> Reply:
    try:
        return _route(sandbox, method, path.rstrip("/"), body)
    except ValueError as exc:
        return Reply(400, error_payload(400, str(exc)))


def _route(sandbox: Sandbox, method: str, path: str, body: bytes) -> Reply:
    if path == "/_sandbox/faults":
        if method == "POST":
            route, fault, rule = fault_from_json(_json(body))
            if rule:
                sandbox.set_rule(route, fault)
            else:
                sandbox.add_fault(route, fault)
            return Reply(200, {"ok": True, "route": route, "rule": rule, "fault": fault.to_json()})
        if method == "GET":
            return Reply(200, sandbox.faults.pending())
        if method == "DELETE":
            sandbox.clear_faults()
            return Reply(200, {"ok": True})
        return _not_allowed("GET, POST, DELETE")
    if path == "/_sandbox/requests":
        if method == "GET":
            return Reply(200, {"requests": [r.to_json() for r in sandbox.requests]})
        if method == "DELETE":
            sandbox.clear_requests()
            return Reply(200, {"ok": True})
        return _not_allowed("GET, DELETE")
    if path == "/_sandbox/state":
        if method != "GET":
            return _not_allowed("GET")
        return Reply(200, state(sandbox))
    if path.startswith("/_sandbox/files/"):
        if method not in ("GET", "HEAD"):
            return _not_allowed("GET")
        found = sandbox.files.get(path.rsplit("/", 1)[1])
        if found is None:
            return Reply(404, error_payload(404, "File not found"))
        data, media_type = found
        return Reply(200, raw=data, content_type=media_type)
    return Reply(404, error_payload(404, "Not Found"))


def _not_allowed(allow: str) -> Reply:
    return Reply(405, error_payload(405, "Method Not Allowed"), headers={"Allow": allow})


def _json(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the body must be a JSON object") from None
    if not isinstance(parsed, dict):
        raise ValueError("the body must be a JSON object")
    return parsed


def fault_from_json(data: dict[str, Any]) -> tuple[str, Fault, bool]:
    """(route, fault, standing rule?) from a control-plane request."""
    rule = data.get("rule") is True
    route = data.get("route")
    spec = data.get("spec")
    if spec is not None:
        if not isinstance(spec, str):
            raise ValueError("spec must be a string")
        if route is None:
            route, fault = parse_fault_spec(spec)
        else:
            route, fault = check_route(str(route)), parse_fault(spec)
        return route, fault, rule
    if not isinstance(route, str):
        raise ValueError('give a "route" (images, chat, …, or *) and a "spec" or fault fields')
    unknown = set(data) - {*_FAULT_FIELDS, "route", "rule"}
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    fields = {k: data[k] for k in _FAULT_FIELDS if k in data}
    drip = fields.get("drip")
    if isinstance(drip, str):
        size, _, interval = drip.partition("/")
        fields["drip"] = (int(size), float(interval))
    elif isinstance(drip, list):
        fields["drip"] = (int(drip[0]), float(drip[1]))
    if "headers" in fields and not isinstance(fields["headers"], dict):
        raise ValueError("headers must be an object")
    try:
        fault = Fault(**fields)
    except TypeError as exc:
        raise ValueError(f"bad fault fields: {exc}") from None
    return check_route(route), fault, rule


def state(sandbox: Sandbox) -> dict[str, Any]:
    ledger = sandbox.ledger
    return {
        "balance_usd": usd(ledger.balance_micros),
        "spent_usd": usd(ledger.spent()),
        "remaining_usd": usd(ledger.remaining()),
        "spent_by_key": {key_label(k): usd(v) for k, v in ledger.spent_by_key().items()},
        "generations": [g.to_json() for g in ledger.generations()],
    }
