"""Fault injection: what can go wrong, how to ask for it, and the bodies OpenRouter sends for it.

A `Fault` is queued once (`push`: the next request to a route takes it) or set as a standing rule
(`set_rule`: every request, or the next `times` requests, until cleared). Specs for `--fail` and the
control plane look like `ROUTE:WHAT[:opt=value…]`, e.g. `images:429:retry-after=2`,
`chat:https-url`, `*:drop:times=always`.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from flux_cli.embedded_catalog import PROVIDER_NAME
from flux_cli.sandbox.wire import SANDBOX_USER_ID, Reply, error_payload

ROUTES: tuple[str, ...] = (
    "images",
    "chat",
    "image-models",
    "endpoints",
    "models",
    "generation",
    "key",
    "credits",
)
ANY_ROUTE = "*"
GENERATION_ROUTES = frozenset({"images", "chat"})

KINDS: tuple[str, ...] = (
    "status",
    "drop",
    "drop-after-headers",
    "error-in-200",
    "empty-data",
    "corrupt-base64",
    "lying-media-type",
    "missing-media-type",
    "leading-whitespace",
    "https-url",
    "fractional-tokens",
    "slow",
    "drip",
    "no-price",
    "zero-price",
    "usage-cost",
)
# Kinds that reshape a generation's body make no sense on the catalog or account routes.
_KIND_ROUTES: dict[str, frozenset[str]] = {
    "empty-data": GENERATION_ROUTES,
    "corrupt-base64": GENERATION_ROUTES,
    "lying-media-type": GENERATION_ROUTES,
    "missing-media-type": GENERATION_ROUTES,
    "fractional-tokens": GENERATION_ROUTES,
    "https-url": frozenset({"chat"}),
    # The answer's `usage.cost` replaced by any JSON text (1e15, 1e400, NaN, -5, "lots"): the
    # call is charged its real price all the same, and /generation reports that price.
    "usage-cost": GENERATION_ROUTES,
    # The endpoint's price lines: none at all, or every one at $0
    # (docs/openrouter.md#pricing-lines).
    "no-price": frozenset({"endpoints"}),
    "zero-price": frozenset({"endpoints"}),
}
# Faults whose body still reports a finished generation are charged like a success. A generation
# the provider failed is not billed (docs/openrouter.md#streaming), so error-in-200 is not.
# Empty data reports cost 0 and charges nothing; a dropped request never reached the "provider".
UNBILLED_KINDS = frozenset({"status", "drop", "error-in-200", "empty-data"})

_VARIANTS: dict[int, tuple[str, ...]] = {
    402: ("credits", "key-limit", "max-tokens", "in-flight"),
    403: ("moderation", "management", "budget"),
    429: ("openrouter", "upstream"),
    500: ("moderated",),
    502: ("moderated",),
    503: ("moderated",),
}

DEFAULT_SLOW_SECONDS = 3.0
DEFAULT_DRIP = (8192, 0.1)
# "a batch of newlines first, then the JSON" (docs/openrouter.md#errors-with-http-200)
LEADING_WHITESPACE = b"\n\n\n   \n\n"


@dataclass(frozen=True)
class Fault:
    """One injected failure. Only `kind` (and `status` for kind "status") is needed."""

    kind: str = "status"
    status: int | None = None
    body: str | bytes | Mapping[str, Any] | None = None  # replaces the error body
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the status line
    drip: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)
    times: int | None = None  # for rules: how many requests; None = until cleared
    message: str | None = None
    retry_after: float | None = None  # Retry-After header and metadata.retry_after_seconds
    variant: str | None = None  # 402: credits|key-limit|max-tokens|in-flight; 403; 429
    url: str | None = None  # https-url: the URL to hand out instead of one of our files
    cost: str | None = None  # usage-cost: the JSON text written as the answer's usage.cost

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a status fault needs an HTTP status, e.g. 429")
        if self.status is not None:
            if self.kind not in ("status", "error-in-200"):
                raise ValueError(f"{self.kind} takes no status")
            if not 400 <= self.status <= 599:
                raise ValueError(f"status must be an HTTP error code 400-599, got {self.status}")
        for name in ("delay", "retry_after"):
            value = getattr(self, name)
            if value is not None and (not math.isfinite(value) or value < 0):
                raise ValueError(f"{name.replace('_', '-')} must be a number of seconds ≥ 0")
        if self.drip is not None:
            size, interval = self.drip
            if size < 1 or not math.isfinite(interval) or interval < 0:
                raise ValueError("drip must be BYTES/SECONDS with BYTES ≥ 1 and SECONDS ≥ 0")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1 (or 'always')")
        if self.variant is not None:
            allowed = _VARIANTS.get(self.status or 0, ())
            if self.kind != "status" or self.variant not in allowed:
                choices = "; ".join(f"{code}: {', '.join(v)}" for code, v in _VARIANTS.items())
                raise ValueError(f"variant {self.variant!r} does not apply here (known: {choices})")
        if (self.cost is not None) != (self.kind == "usage-cost"):
            raise ValueError("usage-cost needs cost=JSON (e.g. cost=1e15), and only it takes one")
        if self.kind == "slow" and self.delay == 0:
            object.__setattr__(self, "delay", DEFAULT_SLOW_SECONDS)
        if self.kind == "drip" and self.drip is None:
            object.__setattr__(self, "drip", DEFAULT_DRIP)

    @property
    def billed(self) -> bool:
        return self.kind not in UNBILLED_KINDS

    def describe(self) -> str:
        """What this fault does, in spec form (without the route and `times`)."""
        parts = [str(self.status) if self.kind == "status" else self.kind]
        if self.kind == "error-in-200" and self.status is not None:
            parts.append(f"status={self.status}")
        if self.variant:
            parts.append(f"variant={self.variant}")
        if self.retry_after is not None:
            parts.append(f"retry-after={_seconds(self.retry_after)}")
        if self.delay and not (self.kind == "slow" and self.delay == DEFAULT_SLOW_SECONDS):
            parts.append(f"delay={_seconds(self.delay)}")
        if self.drip is not None and not (self.kind == "drip" and self.drip == DEFAULT_DRIP):
            parts.append(f"drip={self.drip[0]}/{_seconds(self.drip[1])}")
        if self.message is not None:
            parts.append(f"message={self.message}")
        if self.url is not None:
            parts.append(f"url={self.url}")
        if self.cost is not None:
            parts.append(f"cost={self.cost}")
        return ":".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "status": self.status,
            "headers": dict(self.headers),
            "delay": self.delay,
            "drip": list(self.drip) if self.drip else None,
            "times": self.times,
            "message": self.message,
            "retry_after": self.retry_after,
            "variant": self.variant,
            "url": self.url,
            "cost": self.cost,
            "spec": self.describe(),
        }


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds ≥ 0, got {text!r}")
    return value


def check_route(route: str) -> str:
    if route != ANY_ROUTE and route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; use one of {', '.join(ROUTES)} or *")
    return route


def parse_fault(spec: str) -> Fault:
    """`WHAT[:opt=value…]` (a spec without its route). `times` defaults to 1: the next request."""
    fields = spec.strip().split(":")
    what = fields[0].strip().lower()
    if not what:
        raise ValueError("empty fault: expected an HTTP status or a kind, e.g. 429 or drop")
    options: dict[str, Any] = {"times": 1}
    if what.isdigit():
        options["kind"], options["status"] = "status", int(what)
    elif what in KINDS and what != "status":
        options["kind"] = what
    else:
        raise ValueError(
            f"unknown fault {what!r}: expected an HTTP status (e.g. 429) or one of "
            + ", ".join(k for k in KINDS if k != "status")
        )
    rest = fields[1:]
    while rest:
        item = rest.pop(0)
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ValueError(f"fault option {item!r} must look like name=value")
        if name in ("message", "url"):
            # These take the rest of the spec, colons included (URLs have them).
            options[name] = ":".join([value, *rest])
            rest = []
        elif name == "times":
            lowered = value.strip().lower()
            if lowered == "always":
                options["times"] = None
            elif lowered.isdigit() and int(lowered) >= 1:
                options["times"] = int(lowered)
            else:
                raise ValueError(f"times must be a whole number ≥ 1 or 'always', got {value!r}")
        elif name == "retry-after":
            options["retry_after"] = _number("retry-after", value)
        elif name == "delay":
            options["delay"] = _number("delay", value)
        elif name == "drip":
            size, slash, interval = value.partition("/")
            if not slash or not size.strip().isdigit():
                raise ValueError(
                    f"drip must look like BYTES/SECONDS (e.g. 1024/0.1), got {value!r}"
                )
            options["drip"] = (int(size), _number("drip interval", interval))
        elif name == "cost":
            options["cost"] = value.strip()
        elif name == "variant":
            options["variant"] = value.strip().lower()
        elif name == "status":
            if not value.strip().isdigit():
                raise ValueError(f"status must be an HTTP code, got {value!r}")
            options["status"] = int(value)
        else:
            raise ValueError(
                f"unknown fault option {name!r}; known: times, retry-after, delay, drip, "
                "variant, status, message, url, cost"
            )
    return Fault(**options)


def parse_fault_spec(spec: str) -> tuple[str, Fault]:
    """`ROUTE:WHAT[:opt=value…]` → (route, fault). Raises ValueError with a readable message."""
    route, sep, rest = spec.strip().partition(":")
    if not sep or not rest.strip():
        raise ValueError(
            f"fault spec {spec!r} must look like ROUTE:WHAT[:opt=value…], e.g. images:429:retry-after=2"
        )
    route = check_route(route.strip().lower())
    fault = parse_fault(rest)
    check_applies(route, fault)
    return route, fault


def check_applies(route: str, fault: Fault) -> None:
    routes = _KIND_ROUTES.get(fault.kind)
    if routes is not None and route != ANY_ROUTE and route not in routes:
        raise ValueError(f"{fault.kind} applies only to the {' and '.join(sorted(routes))} route")


@dataclass
class _Rule:
    fault: Fault
    remaining: int | None


class FaultBoard:
    """The pending faults, per route. Thread-safe: requests take faults from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Fault]] = {}
        self._rules: dict[str, _Rule] = {}

    def push(self, route: str, fault: Fault) -> None:
        check_route(route)
        check_applies(route, fault)
        with self._lock:
            self._queues.setdefault(route, deque()).append(fault)

    def set_rule(self, route: str, fault: Fault) -> None:
        check_route(route)
        check_applies(route, fault)
        with self._lock:
            self._rules[route] = _Rule(fault, fault.times)

    def install(self, route: str, fault: Fault) -> None:
        """A spec's fault: once when times is 1, otherwise a rule for `times` requests."""
        if fault.times == 1:
            self.push(route, fault)
        else:
            self.set_rule(route, fault)

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._rules.clear()

    def take(self, route: str) -> Fault | None:
        """The fault for this request: queued ones first (the route's, then `*`), then rules."""
        with self._lock:
            for name in (route, ANY_ROUTE):
                queue = self._queues.get(name)
                if queue:
                    return queue.popleft()
            for name in (route, ANY_ROUTE):
                rule = self._rules.get(name)
                if rule is None or not _applies(name, route, rule.fault):
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                    if rule.remaining <= 0:
                        del self._rules[name]
                return rule.fault
        return None

    def pending(self) -> dict[str, Any]:
        with self._lock:
            return {
                "queued": {r: [f.to_json() for f in q] for r, q in self._queues.items() if q},
                "rules": {
                    r: {**rule.fault.to_json(), "remaining": rule.remaining}
                    for r, rule in self._rules.items()
                },
            }


def _applies(installed_for: str, route: str, fault: Fault) -> bool:
    # A `*` rule of a body-reshaping kind leaves the routes it cannot reshape alone.
    routes = _KIND_ROUTES.get(fault.kind)
    return installed_for != ANY_ROUTE or routes is None or route in routes


# --- bodies ----------------------------------------------------------------------------------

# docs/openrouter.md#status-codes: the example body for each status.
_STATUS_MESSAGES = {
    400: "Invalid request parameters",
    401: "User not found.",
    402: "Insufficient credits. Add more using https://openrouter.ai/credits",
    403: "Your chosen model requires moderation and your input was flagged",
    404: "Resource not found",
    408: "Operation timed out. Please try again later.",
    413: "Request payload too large",
    422: "Invalid argument",
    429: "Rate limit exceeded",
    500: "Internal Server Error",
    502: "Provider returned error",
    503: "Service temporarily unavailable",
    524: "Request timed out. Please try again later.",
    529: "Provider returned error",
}


def _provider_metadata(raw: str) -> dict[str, Any]:
    # docs/openrouter.md#error-metadata "Provider error": metadata.raw (upstream text) and
    # provider_name.
    return {"raw": raw, "provider_name": PROVIDER_NAME, "is_byok": False}


def _truncate_middle(text: str, limit: int = 100) -> str:
    # docs/openrouter.md#error-metadata moderation: flagged_input is at most 100 characters,
    # middle-truncated with "...".
    if len(text) <= limit:
        return text
    keep = (limit - 3) // 2
    return text[:keep] + "..." + text[-(limit - 3 - keep) :]


def status_reply(
    fault: Fault, route: str, *, model_id: str | None, prompt: str | None, generation_id: str
) -> Reply:
    """The error response a status fault stands for, with its body and headers
    (docs/openrouter.md#status-codes, docs/openrouter.md#error-metadata)."""
    assert fault.status is not None
    status = fault.status
    message = _STATUS_MESSAGES.get(status) or _phrase(status)
    metadata: dict[str, Any] | None = None
    user_id: str | None = None
    headers = dict(fault.headers)
    retry_after = None if fault.retry_after is None else float(fault.retry_after)
    if retry_after is None and "Retry-After" in headers:
        try:
            retry_after = float(headers["Retry-After"])
        except ValueError:
            retry_after = None
    elif retry_after is not None:
        headers.setdefault("Retry-After", _seconds(retry_after))

    if status == 404 and route == "generation":
        message = f"Generation {generation_id} not found"  # docs/openrouter.md#generation-lookup
    elif status == 402:
        user_id = SANDBOX_USER_ID
        if fault.variant == "key-limit":
            # docs/openrouter.md#error-metadata, recorded on the chat route with a spend-limited
            # key.
            message = "This request requires at least $1.00 in balance for image or video output"
            metadata = {
                "limit_source": "openrouter_key_limit",
                "remedy_hint": "Raise or remove this API key's usage limit",
                "provider_name": None,
                "previous_errors": [{"code": 402, "message": message}],
            }
        elif fault.variant == "max-tokens":
            message = (
                "This request requires more credits, or fewer max_tokens. "
                "You requested up to 16384 tokens, but can only afford 3324."
            )
            metadata = {"limit_source": "openrouter_credits"}
        elif fault.variant == "in-flight":
            # Documented body (docs/openrouter.md#error-metadata); asks the caller to wait.
            message = (
                "This request would exceed your available credits given your current in-flight "
                "requests. Retry after in-flight requests settle, or add credits."
            )
            metadata = {
                "reason": "in_flight_budget_exhausted",
                "limit_source": "openrouter_in_flight_budget",
                "remedy_hint": "Retry after your in-flight requests settle (see the Retry-After "
                "header). Adding credits at https://openrouter.ai/settings/credits raises your "
                "in-flight budget, up to a capped ceiling.",
            }
            headers.setdefault("Retry-After", _seconds(retry_after) if retry_after else "1")
        elif fault.variant == "credits":
            metadata = {"limit_source": "openrouter_credits"}
    elif status == 403:
        if fault.variant == "management":
            message = (
                "Only management keys can perform this operation"  # docs/openrouter.md#credits
            )
        elif fault.variant == "budget":
            # A spent key budget (docs/openrouter.md#error-metadata); the live wording is not
            # recorded, the layer and its reset come from /key's budgets[].
            user_id = SANDBOX_USER_ID
            message = (
                "Key budget exceeded: the api_key budget of $1 (daily) is spent; "
                "it resets at 2026-10-03T00:00:00Z"
            )
            metadata = {
                "limit_source": "api_key_budget",
                "scope": "api_key",
                "reset_interval": "daily",
                "resets_at": "2026-10-03T00:00:00Z",
            }
        else:
            # docs/openrouter.md#error-metadata moderation metadata.
            metadata = {
                "reasons": ["sexual"],
                "flagged_input": _truncate_middle(prompt or ""),
                "provider_name": PROVIDER_NAME,
                "model_slug": model_id or "",
            }
    elif status == 429:
        if fault.variant == "upstream":
            # docs/openrouter.md#error-metadata: the recorded upstream 429, for Black Forest Labs.
            message = "Provider returned error"
            user_id = SANDBOX_USER_ID
            metadata = {
                **_provider_metadata(
                    f"{model_id or 'the model'} is temporarily rate-limited upstream. "
                    "Please retry shortly."
                ),
                "provider_error_code": "rate_limit_exceeded",
                "limit_source": "upstream_provider_shared_pool",
                "remedy_hint": "Retry shortly",
            }
        else:
            metadata = {"error_type": "rate_limit_exceeded"}  # docs/openrouter.md#status-codes
        if retry_after is not None:
            seconds = int(retry_after) if retry_after.is_integer() else retry_after
            metadata["retry_after_seconds"] = (
                seconds  # recorded as an integer (docs/openrouter.md#error-metadata)
            )
            metadata["retry_after_seconds_raw"] = seconds
            metadata["headers"] = {"Retry-After": headers.get("Retry-After", _seconds(retry_after))}
    elif status >= 500 and fault.variant == "moderated":
        # Moderation on a 5xx: a provider error whose raw text says so
        # (docs/openrouter.md#error-metadata).
        message = "Provider returned error"
        user_id = SANDBOX_USER_ID
        metadata = _provider_metadata("Request Moderated: the content was flagged by moderation")
    elif status in (502, 529):
        user_id = SANDBOX_USER_ID
        raw = (
            "Black Forest Labs: generation failed (sandbox fault)"
            if status == 502
            else "Black Forest Labs: overloaded, try again later (sandbox fault)"
        )
        metadata = _provider_metadata(raw)
    if fault.message is not None:
        message = fault.message

    if fault.body is None:
        return Reply(
            status, error_payload(status, message, metadata, user_id=user_id), headers=headers
        )
    if isinstance(fault.body, bytes):
        return Reply(status, raw=fault.body, headers=headers)
    if isinstance(fault.body, str):
        return Reply(status, raw=fault.body.encode("utf-8"), headers=headers)
    return Reply(status, dict(fault.body), headers=headers)


# docs/openrouter.md#error-metadata: the typed error codes (OpenAPI `ApiErrorType`), by HTTP status.
ERROR_TYPES = {
    400: "invalid_request",
    401: "authentication",
    402: "payment_required",
    403: "permission_denied",
    404: "not_found",
    408: "timeout",
    413: "payload_too_large",
    422: "unprocessable",
    429: "rate_limit_exceeded",
    500: "server",
    502: "provider_unavailable",
    503: "provider_unavailable",
    524: "timeout",
    529: "provider_overloaded",
}


def stream_error(fault: Fault) -> dict[str, Any]:
    """The `error` of a mid-stream error chunk: code, message, metadata.error_type
    (docs/openrouter.md#streaming)."""
    code = fault.status or 502
    return {
        "code": code,
        "message": fault.message or _STATUS_MESSAGES.get(code) or _phrase(code),
        "metadata": {"error_type": ERROR_TYPES.get(code, "unmapped")},
    }


def error_in_200_payload(fault: Fault) -> dict[str, Any]:
    """An HTTP 200 whose body is only an error (+ user_id): the generation failed, not billed
    (docs/openrouter.md#errors-with-http-200)."""
    code = fault.status or 502
    message = fault.message or _STATUS_MESSAGES.get(code) or _phrase(code)
    metadata = _provider_metadata("Black Forest Labs: generation failed after it started")
    return error_payload(code, message, metadata, user_id=SANDBOX_USER_ID)


def apply_transport(reply: Reply, fault: Fault | None) -> Reply:
    """Delay, drip, extra headers, dropped connections and leading whitespace."""
    if fault is None:
        return reply
    reply.delay += fault.delay
    if fault.drip is not None:
        reply.drip = fault.drip
    if fault.kind != "status":
        reply.headers.update(fault.headers)
    if fault.kind == "leading-whitespace":
        reply.prefix = LEADING_WHITESPACE
    elif fault.kind == "drop":
        reply.drop = True
    elif fault.kind == "drop-after-headers":
        reply.drop_after_headers = True
    reply.note = fault.describe()
    return reply


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
