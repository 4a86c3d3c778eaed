"""The billing-aware retry policy (README.md#retries-and-billing, docs/reliability.md#double-charges) as small pure functions.

Only what cannot have been billed is retried automatically: failures before the request left,
408, 429, 502 (documented as not billed), 503 and 529. A request that was sent but got no complete
answer (timeouts, dropped connections, 500, 504, 524) has an unknown outcome; it is retried only
when the user opts in with --retry-ambiguous. Nothing here sleeps or reads a clock by itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Any

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
#: A server asking us to wait longer than this is not waited for: the run stops with exit 8.
MAX_RETRY_AFTER = 120.0
#: The longest wait a server's answer is taken at its word for: anything longer (a Retry-After
#: of 1e20, a date in the year 9999) is read as this, in the wait and in what flux2 says.
RETRY_AFTER_CEILING = 86_400.0

SAFE_RETRY_STATUSES = frozenset({408, 429, 502, 503, 529})
OUTCOME_UNKNOWN_STATUSES = frozenset({500, 504, 524})
#: 5xx answers that say the server did not understand the request at all: nothing was done.
NOT_IMPLEMENTED_STATUSES = frozenset({501, 505})


class Decision(Enum):
    SUCCESS = "success"
    RETRY = "retry"  # not billed: safe to send again
    UNKNOWN = "unknown"  # may have been billed: send again only when the user opted in
    FAIL = "fail"  # final: never send again


def classify_status(status: int) -> Decision:
    if 200 <= status < 300:
        return Decision.SUCCESS
    if status in SAFE_RETRY_STATUSES:
        return Decision.RETRY
    if status in NOT_IMPLEMENTED_STATUSES:
        return Decision.FAIL
    if 500 <= status < 600:
        return Decision.UNKNOWN
    return Decision.FAIL


def body_allows_retry(status: int, error: Mapping[str, Any]) -> bool | None:
    """What the error body says about retrying, or None when it says nothing.

    `error.availability.retryable` wins (docs/openrouter.md#error-metadata: "always switch on it");
    a 402 whose limit is the in-flight budget clears by itself and may be retried.
    """
    availability = error.get("availability")
    if isinstance(availability, Mapping):
        retryable = availability.get("retryable")
        if isinstance(retryable, bool):
            return retryable
    metadata = error.get("metadata")
    if status == 402 and isinstance(metadata, Mapping):
        return metadata.get("limit_source") == "openrouter_in_flight_budget"
    return None


def _finite_seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def describe_wait(seconds: float) -> str:
    """A server's wait in words a person acts on: "about 5 min", "about 3 h", "a day or more"."""
    if seconds >= RETRY_AFTER_CEILING:
        return "a day or more"
    if seconds < 90 * 60:
        return f"about {max(1, round(seconds / 60))} min"
    return f"about {round(seconds / 3600)} h"


def parse_retry_after(
    headers: Mapping[str, str],
    error: Mapping[str, Any] | None = None,
    *,
    now: Callable[[], float],
) -> float | None:
    """Seconds the server asked us to wait (at most `RETRY_AFTER_CEILING`), or None.

    Order: `retry-after-ms`, `Retry-After` (seconds or an HTTP date), then the body's
    `error.metadata.retry_after_seconds` and `error.availability.retry_after`. Unparseable,
    negative, NaN or infinite values are ignored; the caller falls back to backoff.
    """
    seconds = _asked_wait(headers, error, now)
    return None if seconds is None else min(seconds, RETRY_AFTER_CEILING)


def _asked_wait(
    headers: Mapping[str, str], error: Mapping[str, Any] | None, now: Callable[[], float]
) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = _finite_seconds(lowered.get("retry-after-ms"))
    if ms is not None:
        return ms / 1000.0
    raw = lowered.get("retry-after")
    if raw is not None:
        seconds = _finite_seconds(raw.strip())
        if seconds is not None:
            return seconds
        try:
            when = parsedate_to_datetime(raw.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None:
            try:
                delta = when.timestamp() - now()
            except (OverflowError, OSError, ValueError):
                delta = None
            if delta is not None and math.isfinite(delta):
                return max(0.0, delta)
    if error:
        metadata = error.get("metadata")
        if isinstance(metadata, Mapping):
            seconds = _finite_seconds(metadata.get("retry_after_seconds"))
            if seconds is not None:
                return seconds
        availability = error.get("availability")
        if isinstance(availability, Mapping):
            seconds = _finite_seconds(availability.get("retry_after"))
            if seconds is not None:
                return seconds
    return None


def backoff_delay(retries_taken: int, rand: Callable[[], float]) -> float:
    """min(0.5·2ⁿ, 8) s, less up to 25 % jitter (the openai/anthropic formula)."""
    exponent = min(max(retries_taken, 0), 16)
    base = min(INITIAL_RETRY_DELAY * (2.0**exponent), MAX_RETRY_DELAY)
    return base * (1.0 - 0.25 * rand())


def retry_delay(
    retries_taken: int, retry_after: float | None, rand: Callable[[], float]
) -> float | None:
    """How long to wait before the next attempt; None when the server's wait is too long to honour."""
    if retry_after is None or retry_after <= 0:
        return backoff_delay(retries_taken, rand)
    if retry_after > MAX_RETRY_AFTER:
        return None
    return retry_after
