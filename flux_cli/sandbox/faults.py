"""Fault injection: what can go wrong and how to ask for it (the bodies OpenRouter sends for it
are in `fault_replies`).

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
from typing import Any

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
            parts.append(f"retry-after={format_seconds(self.retry_after)}")
        if self.delay and not (self.kind == "slow" and self.delay == DEFAULT_SLOW_SECONDS):
            parts.append(f"delay={format_seconds(self.delay)}")
        if self.drip is not None and not (self.kind == "drip" and self.drip == DEFAULT_DRIP):
            parts.append(f"drip={self.drip[0]}/{format_seconds(self.drip[1])}")
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


def format_seconds(value: float) -> str:
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
