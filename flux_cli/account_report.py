"""What `flux2 balance` reports: the key's and the account's figures (`GET /key`, `GET /credits`,
read through one client), what is left of the local budgets for one API, and all of it as one
JSON record. No typer, no rich: the command renders these.

    info, account_credits = read_account(client)        # Credits, or Unavailable(reason)
    budgets = local_budgets(settings, label)            # None when no budget is set
    record = balance_record(label, base_url, masked, info, account_credits, budgets, zone)
    rows = balance_rows(masked, info, account_credits, budgets, zone)  # the table's lines
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flux_cli.records import usd

if TYPE_CHECKING:
    from flux_cli.config import Settings
    from flux_cli.ledger import Budgets, Remaining
    from flux_cli.openrouter.account import Credits, KeyInfo, Unavailable
    from flux_cli.openrouter.client import OpenRouterClient

__all__ = [
    "BudgetState",
    "balance_record",
    "balance_rows",
    "local_budgets",
    "read_account",
    "usd",
]

#: The local budgets and what is left of them.
BudgetState = tuple["Budgets", "Remaining"]
#: Seconds `balance` waits for each of its two answers, retries included.
ATTEMPT_S = 60.0


def read_account(client: OpenRouterClient) -> tuple[KeyInfo, Credits | Unavailable]:
    """The key's figures, and the account's credits (or why this key may not see them)."""
    from flux_cli.openrouter import account

    info = account.key_info(client)
    return info, account.credits(client)


def local_budgets(settings: Settings, label: str) -> BudgetState | None:
    """What is left of the local budgets for the API `label`; None when none is set. Without a
    ledger nothing was spent, and none is created."""
    from flux_cli import ledger as ledger_module
    from flux_cli.ledger.reading import open_existing

    budgets = ledger_module.Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    if not budgets.any:
        return None
    opened = open_existing()
    if opened is None:
        empty = ledger_module.Spent(0, 0, 0, 0)
        return budgets, ledger_module.Remaining(budgets.daily_micros, budgets.monthly_micros, empty)
    with opened as ledger:
        return budgets, ledger.remaining(budgets, label)


def balance_record(
    label: str,
    base_url: str | None,
    key_masked: str,
    info: KeyInfo,
    account_credits: Credits | Unavailable,
    budgets: BudgetState | None,
    zone: str,
) -> dict[str, Any]:
    """`flux2 balance --json`: money in dollars, None where the server did not say; `zone` is
    the time zone of the local budgets' day and month."""
    from flux_cli.openrouter.account import Unavailable

    record: dict[str, Any] = {
        "api": label,
        "base_url": base_url,
        "key": {
            "masked": key_masked,
            "label": info.user_label,
            "limit_usd": usd(info.limit_micros),
            "limit_remaining_usd": usd(info.limit_remaining_micros),
            "limit_reset": info.limit_reset,
            "usage_usd": usd(info.usage_micros),
            "usage_daily_usd": usd(info.usage_daily_micros),
            "usage_weekly_usd": usd(info.usage_weekly_micros),
            "usage_monthly_usd": usd(info.usage_monthly_micros),
            "is_free_tier": info.is_free_tier,
            "is_management_key": info.is_management_key,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        },
        "key_budgets": [
            {
                "scope": b.scope,
                "limit_usd": usd(b.limit_micros),
                "spend_usd": usd(b.spend_micros),
                "remaining_usd": usd(b.remaining_micros),
                "reset_interval": b.reset_interval,
                "resets_at": b.resets_at.isoformat().replace("+00:00", "Z")
                if b.resets_at
                else None,
            }
            for b in info.budgets
        ],
    }
    if isinstance(account_credits, Unavailable):
        record["credits"] = None
        record["credits_unavailable"] = account_credits.reason
    else:
        record["credits"] = {
            "total_usd": usd(account_credits.total_micros),
            "usage_usd": usd(account_credits.usage_micros),
            "remaining_usd": usd(account_credits.remaining_micros),
        }
        record["credits_unavailable"] = None
    if budgets is None:
        record["budgets"] = None
    else:
        limits, remaining = budgets
        record["budgets"] = {
            "daily_usd": usd(limits.daily_micros),
            "daily_remaining_usd": usd(remaining.daily_micros),
            "monthly_usd": usd(limits.monthly_micros),
            "monthly_remaining_usd": usd(remaining.monthly_micros),
            "spent_today_usd": usd(remaining.spent.today_micros),
            "spent_this_month_usd": usd(remaining.spent.month_micros),
            "pending": remaining.spent.pending_count,
            "unknown": remaining.spent.unknown_count,
            "timezone": zone,
        }
    return record


def balance_rows(
    key_masked: str,
    info: KeyInfo,
    account_credits: Credits | Unavailable,
    budgets: BudgetState | None,
    zone: str,
) -> list[tuple[str, str]]:
    """`flux2 balance`'s table as (what, value) lines; "—" where the server did not say."""
    from flux_cli.openrouter.account import Unavailable
    from flux_cli.pricing import format_usd

    def money(micros: int | None) -> str:
        return "—" if micros is None else format_usd(micros)

    rows = [("key", key_masked + (f" ({info.user_label})" if info.user_label else ""))]
    if isinstance(account_credits, Unavailable):
        rows.append(("credits", "not available to this key (see below)"))
    else:
        rows.append(("credits remaining", format_usd(account_credits.remaining_micros)))
        rows.append(("credits bought", format_usd(account_credits.total_micros)))
        rows.append(("credits used", format_usd(account_credits.usage_micros)))
    if info.unlimited:
        rows.append(("key limit", "none"))
    else:
        reset = f", resets {info.limit_reset}" if info.limit_reset else ""
        rows.append(("key limit", f"{money(info.limit_micros)}{reset}"))
        rows.append(("key limit remaining", money(info.limit_remaining_micros)))
    rows.append(("key usage today", money(info.usage_daily_micros)))
    rows.append(("key usage this week", money(info.usage_weekly_micros)))
    rows.append(("key usage this month", money(info.usage_monthly_micros)))
    rows.append(("key usage in all", money(info.usage_micros)))
    if info.is_free_tier is not None:
        rows.append(("free tier", "yes" if info.is_free_tier else "no"))
    if info.expires_at is not None:
        rows.append(("key expires", info.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")))
    for layer in info.budgets:  # OpenRouter's own budgets on this key (docs/openrouter.md#key)
        resets = (
            f", resets {layer.resets_at.strftime('%Y-%m-%d %H:%M')} UTC"
            if layer.resets_at
            else ", never resets"
        )
        rows.append(
            (
                f"{layer.scope} budget",
                f"{money(layer.remaining_micros)} left of {money(layer.limit_micros)} "
                f"({money(layer.spend_micros)} spent{resets})",
            )
        )
    if budgets is not None:
        rows.append(("budget day", f"midnight to midnight, {zone}"))
        limits, remaining = budgets
        spent = remaining.spent
        for period, limit, left, used in (
            ("today", limits.daily_micros, remaining.daily_micros, spent.today_micros),
            ("this month", limits.monthly_micros, remaining.monthly_micros, spent.month_micros),
        ):
            if limit is not None and left is not None:
                rows.append(
                    (
                        f"budget {period}",
                        f"{format_usd(left)} left of {format_usd(limit)} "
                        f"({format_usd(used)} spent, local ledger)",
                    )
                )
    return rows
