"""The key, the account balance and generation lookups (docs/openrouter.md#generation-lookup).

Each function takes an `OpenRouterClient` and uses its authenticated, retrying `get_json`, so the
key goes only to the configured base URL and errors map to the same exit codes as generation.
Money is integer micro-dollars, parsed from the server's numbers as Decimal.

    with OpenRouterClient(base_url, key) as client:
        info = key_info(client)
        balance = credits(client)            # Credits, or Unavailable(reason) on 401/403/404
        record = generation(client, gen_id)  # None while OpenRouter does not know the id yet
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from flux_cli.openrouter import errors as E
from flux_cli.openrouter import wire
from flux_cli.pricing import usd_to_micros

if TYPE_CHECKING:
    from flux_cli.openrouter.client import OpenRouterClient

__all__ = [
    "Credits",
    "GenerationInfo",
    "KeyInfo",
    "Unavailable",
    "credits",
    "generation",
    "key_info",
]

MAX_GENERATION_ID_CHARS = 200
_UNAVAILABLE_REASONS = {
    401: "the server refused the key for /credits (HTTP 401)",
    403: "the account balance is shown only to management keys (HTTP 403 from /credits)",
    404: "the server has no /credits route (HTTP 404)",
}


@dataclass(frozen=True)
class KeyBudget:
    """One budget layer of `/key`'s `budgets[]` (docs/openrouter.md#key)."""

    scope: str
    limit_micros: int | None
    spend_micros: int | None
    remaining_micros: int | None
    reset_interval: str | None  # daily, weekly, monthly; None for a lifetime budget
    resets_at: datetime | None


@dataclass(frozen=True)
class KeyInfo:
    """`GET /key` (docs/openrouter.md#key). Money in micro-dollars; None where the server did not say."""

    label: str | None
    limit_micros: int | None  # None: no limit on this key
    limit_remaining_micros: int | None
    limit_reset: str | None  # "daily", "weekly", "monthly" or None
    usage_micros: int | None
    usage_daily_micros: int | None
    usage_weekly_micros: int | None
    usage_monthly_micros: int | None
    is_free_tier: bool | None
    is_management_key: bool | None
    expires_at: datetime | None
    budgets: tuple[KeyBudget, ...] = ()

    @property
    def unlimited(self) -> bool:
        return self.limit_micros is None

    @property
    def user_label(self) -> str | None:
        """The name the user gave the key. OpenRouter's default label is a fragment of the key
        itself (`sk-or-v1-abc...xyz`), which shows more than the masked form: left out."""
        if self.label is None or self.label.startswith("sk-or-"):
            return None
        return self.label


@dataclass(frozen=True)
class Credits:
    """`GET /credits` (docs/openrouter.md#credits): account-level totals."""

    total_micros: int
    usage_micros: int

    @property
    def remaining_micros(self) -> int:
        return self.total_micros - self.usage_micros


@dataclass(frozen=True)
class Unavailable:
    """Why the balance could not be read; `flux2 balance` shows the key's figures instead."""

    reason: str
    status: int | None = None


@dataclass(frozen=True)
class GenerationInfo:
    """`GET /generation?id=` (docs/openrouter.md#generation-lookup): what a generation cost and who served it."""

    id: str
    total_cost_micros: int | None
    provider: str | None
    model: str | None
    created_at: datetime | None
    tokens_prompt: Decimal | None
    tokens_completion: Decimal | None
    api_type: str | None
    finish_reason: str | None
    cancelled: bool | None
    cost_reported: bool = False  # a cost was in the answer, even one that is not a usable number


# -- parsing helpers ----------------------------------------------------------------------------


def _data(obj: object, what: str) -> Mapping[str, Any]:
    """The `data` object of an answer (or the answer itself, for shapes without the wrapper)."""
    if isinstance(obj, Mapping):
        inner = obj.get("data")
        if isinstance(inner, Mapping):
            return inner
        if "data" not in obj:
            return obj
    raise E.BadResponseError(f"the answer to {what} is not the expected JSON object")


def _money(value: object) -> int | None:
    number = wire.number(value)
    if number is None:
        return None
    try:
        return usd_to_micros(number)
    except ValueError:
        return None


def _text(value: object) -> str | None:
    return (wire.server_text(value) or None) if isinstance(value, str) else None


def _flag(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


_FRACTION = re.compile(r"\.(\d+)")


def _time(value: object) -> datetime | None:
    """ISO-8601 as OpenRouter writes it (`2026-10-02T23:25:52.374Z`); None when unreadable."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fractional digits.
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- the calls ----------------------------------------------------------------------------------


def key_info(client: OpenRouterClient) -> KeyInfo:
    """The key's label, limit and usage. Tolerates the old shape (`/auth/key`, fewer fields):
    when `/key` answers 404 the legacy path is tried."""
    try:
        obj = client.get_json("key")
    except E.BadRequestError as exc:
        if exc.status != 404:
            raise
        obj = client.get_json("auth/key")
    data = _data(obj, "GET /key")
    return KeyInfo(
        label=_text(data.get("label")),
        limit_micros=_money(data.get("limit")),
        limit_remaining_micros=_money(data.get("limit_remaining")),
        limit_reset=_text(data.get("limit_reset")),
        usage_micros=_money(data.get("usage")),
        usage_daily_micros=_money(data.get("usage_daily")),
        usage_weekly_micros=_money(data.get("usage_weekly")),
        usage_monthly_micros=_money(data.get("usage_monthly")),
        is_free_tier=_flag(data.get("is_free_tier")),
        is_management_key=_flag(data.get("is_management_key")),
        expires_at=_time(data.get("expires_at")),
        budgets=_budgets(data.get("budgets")),
    )


def _budgets(value: object) -> tuple[KeyBudget, ...]:
    """The readable layers of `budgets[]`; anything odd is left out, never a crash."""
    if not isinstance(value, list):
        return ()
    found: list[KeyBudget] = []
    for item in value[:20]:
        if not isinstance(item, Mapping):
            continue
        scope = _text(item.get("scope"))
        if scope is None:
            continue
        found.append(
            KeyBudget(
                scope=scope[:40],
                limit_micros=_money(item.get("limit_usd")),
                spend_micros=_money(item.get("spend_usd")),
                remaining_micros=_money(item.get("remaining_usd")),
                reset_interval=_text(item.get("reset_interval")),
                resets_at=_time(item.get("resets_at")),
            )
        )
    return tuple(found)


def credits(client: OpenRouterClient) -> Credits | Unavailable:
    """The account's credits and usage, or Unavailable when this key may not see them.

    Since 2026-02 the docs reserve `/credits` for management keys (403 "Only management keys can
    perform this operation"); 401/403, and a 404 from a server without the route, degrade to
    Unavailable with a reason instead of failing. Other errors are raised.
    """
    try:
        obj = client.get_json("credits")
    except (E.AuthenticationError, E.BadRequestError) as exc:
        if exc.status not in _UNAVAILABLE_REASONS:
            raise
        return Unavailable(_UNAVAILABLE_REASONS[exc.status], status=exc.status)
    data = _data(obj, "GET /credits")
    total, usage = _money(data.get("total_credits")), _money(data.get("total_usage"))
    if total is None or usage is None:
        raise E.BadResponseError(
            "the answer to GET /credits lacks total_credits or total_usage as numbers"
        )
    return Credits(total_micros=total, usage_micros=usage)


def generation(client: OpenRouterClient, generation_id: str) -> GenerationInfo | None:
    """What OpenRouter recorded for a generation, or None while it does not know the id yet:
    `/generation` is eventually consistent and answers 404 for the first minutes (docs/openrouter.md#generation-lookup)."""
    wanted = generation_id.strip()
    if not wanted or len(wanted) > MAX_GENERATION_ID_CHARS or not wanted.isprintable():
        raise ValueError(f"not a generation id: {generation_id!r}")
    try:
        obj = client.get_json("generation", params={"id": wanted})
    except E.BadRequestError as exc:
        if exc.status == 404:
            return None
        raise
    data = _data(obj, "GET /generation")
    cost = _money(data.get("total_cost"))
    if cost is None:
        cost = _money(
            data.get("usage")
        )  # docs/openrouter.md#generation-lookup: `usage` is the same figure in USD
    return GenerationInfo(
        id=_text(data.get("id")) or wanted,
        total_cost_micros=cost,
        provider=_text(data.get("provider_name")),
        model=_text(data.get("model")),
        created_at=_time(data.get("created_at")),
        tokens_prompt=wire.number(data.get("tokens_prompt")),
        tokens_completion=wire.number(data.get("tokens_completion")),
        api_type=_text(data.get("api_type")),
        finish_reason=_text(data.get("finish_reason")),
        cancelled=_flag(data.get("cancelled")),
        cost_reported=data.get("total_cost") is not None or data.get("usage") is not None,
    )
