"""What the sandbox remembers: the request log, the credit ledger, generations and served files.

Money is integer micro-dollars (flux_cli.pricing); dollars appear only when a body is serialised.
All of it is shared between request threads, so every structure here takes a lock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from flux_cli.sandbox.wire import SANDBOX_USER_ID, ApiError

MAX_RECORDED_REQUESTS = 2000
MAX_SERVED_FILES = 64


def usd(micros: int) -> float:
    """Micro-dollars as the JSON number OpenRouter sends: 45000 → 0.045 exactly (shortest repr).

    Whole dollars stay integers, as recorded (`"upstream_inference_prompt_cost": 0`,
    docs/openrouter.md#image-response).
    """
    if micros % 1_000_000 == 0:
        return micros // 1_000_000
    return micros / 1_000_000


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; Authorization masked
    body: Any  # the parsed JSON body, or None
    time: float  # time.monotonic() when it arrived
    route: str | None = None
    status: int | None = None
    fault: str | None = None
    generation_id: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body,
            "time": self.time,
            "route": self.route,
            "status": self.status,
            "fault": self.fault,
            "generation_id": self.generation_id,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class GenerationRecord:
    id: str
    model: str
    api_type: str  # "image" (/images) or "completions" (/chat/completions), as /generation says
    key_label: str
    cost_micros: int
    width: int
    height: int
    reference_sizes: tuple[tuple[int, int], ...]
    seed: int
    output_format: str
    prompt: str
    prompt_tokens: int
    completion_tokens: int
    created_at: float  # unix time
    created_monotonic: float
    generation_ms: int
    streamed: bool = False
    finish_reason: str = "complete"
    origin: str = ""
    http_referer: str | None = None
    session_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "api_type": self.api_type,
            "key_label": self.key_label,
            "cost_usd": usd(self.cost_micros),
            "cost_micros": self.cost_micros,
            "width": self.width,
            "height": self.height,
            "reference_sizes": [list(s) for s in self.reference_sizes],
            "seed": self.seed,
            "output_format": self.output_format,
            "prompt": self.prompt,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "created_at": self.created_at,
            "streamed": self.streamed,
        }


class Ledger:
    """The account: one balance shared by every key, spend tracked per key.

    A paid request reserves its cost before rendering and commits it after, so two concurrent
    requests cannot both spend the last dollar.
    """

    def __init__(self, balance_micros: int) -> None:
        self._lock = threading.Lock()
        self.balance_micros = balance_micros
        #: The key's own budget (scope `api_key`): a limit per UTC window, None for none
        #: (docs/openrouter.md#key). Every key the sandbox accepts shares it.
        self.key_budget_micros: int | None = None
        self.key_budget_interval: str | None = "daily"
        self._spent: dict[str, int] = {}
        self._reserved = 0
        self._generations: list[GenerationRecord] = []
        self._by_id: dict[str, tuple[str, GenerationRecord]] = {}

    def reserve(self, cost_micros: int) -> None:
        with self._lock:
            remaining = self.balance_micros - sum(self._spent.values()) - self._reserved
            if remaining < cost_micros:
                # docs/openrouter.md#status-codes: the 402 body, verbatim.
                raise ApiError(
                    402,
                    "Insufficient credits. Add more using https://openrouter.ai/credits",
                    user_id=SANDBOX_USER_ID,
                )
            self._reserved += cost_micros

    def check_key_budget(self, key: str, now: float | None = None) -> None:
        """A spent key budget is a 403 until it resets (docs/openrouter.md#error-metadata)."""
        if self.key_budget_micros is None:
            return
        spend = self.spent_since(key, window_start(self.key_budget_interval, now))
        if spend >= self.key_budget_micros:
            resets = window_end(self.key_budget_interval, now)
            when = f"; it resets at {resets}" if resets else ""
            raise ApiError(
                403,
                f"Key budget exceeded: the api_key budget of ${usd(self.key_budget_micros)} "
                f"({self.key_budget_interval or 'lifetime'}) is spent{when}",
                {
                    "limit_source": "api_key_budget",
                    "scope": "api_key",
                    "reset_interval": self.key_budget_interval,
                    "resets_at": resets,
                },
                user_id=SANDBOX_USER_ID,
            )

    def release(self, cost_micros: int) -> None:
        with self._lock:
            self._reserved -= cost_micros

    def commit(self, key: str, record: GenerationRecord, reserved_micros: int) -> None:
        """Turn a reservation into spend (record.cost_micros; 0 for an unbilled outcome)."""
        with self._lock:
            self._reserved -= reserved_micros
            self._spent[key] = self._spent.get(key, 0) + record.cost_micros
            self._generations.append(record)
            self._by_id[record.id] = (key, record)

    def spent(self, key: str | None = None) -> int:
        with self._lock:
            if key is None:
                return sum(self._spent.values())
            return self._spent.get(key, 0)

    def spent_since(self, key: str, since_unix: float) -> int:
        with self._lock:
            return sum(
                r.cost_micros
                for k, r in self._by_id.values()
                if k == key and r.created_at >= since_unix
            )

    def spent_by_key(self) -> dict[str, int]:
        with self._lock:
            return dict(self._spent)

    def remaining(self) -> int:
        with self._lock:
            return self.balance_micros - sum(self._spent.values())

    def generations(self) -> list[GenerationRecord]:
        with self._lock:
            return list(self._generations)

    def find(self, generation_id: str) -> GenerationRecord | None:
        with self._lock:
            found = self._by_id.get(generation_id)
        return found[1] if found else None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: deque[RecordedRequest] = deque(maxlen=MAX_RECORDED_REQUESTS)

    def add(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def all(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class FileStore:
    """Generated images served at /_sandbox/files/<generation id>.<ext> (the newest few)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[bytes, str]] = OrderedDict()

    def put(self, name: str, data: bytes, media_type: str) -> None:
        with self._lock:
            self._files[name] = (data, media_type)
            self._files.move_to_end(name)
            while len(self._files) > MAX_SERVED_FILES:
                self._files.popitem(last=False)

    def get(self, name: str) -> tuple[bytes, str] | None:
        with self._lock:
            return self._files.get(name)


def window_start(interval: str | None, now: float | None = None) -> float:
    """The start of the UTC window (`daily`, `weekly` from Monday, `monthly`); 0 for lifetime."""
    from datetime import datetime, timedelta

    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "daily":
        return day.timestamp()
    if interval == "weekly":
        return (day - timedelta(days=day.weekday())).timestamp()
    if interval == "monthly":
        return day.replace(day=1).timestamp()
    return 0.0


def window_end(interval: str | None, now: float | None = None) -> str | None:
    """When the window rolls over, ISO 8601 UTC; None for a lifetime budget."""
    from datetime import datetime, timedelta

    if interval not in ("daily", "weekly", "monthly"):
        return None
    start = datetime.fromtimestamp(window_start(interval, now), UTC)
    if interval == "daily":
        end = start + timedelta(days=1)
    elif interval == "weekly":
        end = start + timedelta(days=7)
    else:
        end = (start + timedelta(days=32)).replace(day=1)
    return end.isoformat().replace("+00:00", "Z")
