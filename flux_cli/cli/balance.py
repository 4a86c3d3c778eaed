"""`flux2 balance`: the key's limit and usage (`GET /key`) and the account's credits (`GET /credits`).

`/credits` answers 403 to keys that are not management keys; then the key's own figures are shown
with one line on stderr saying why the credits are missing. Local budgets, when set, are shown
from the ledger for the same API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flux_cli.cli.context import App
    from flux_cli.credentials import ApiKey
    from flux_cli.ledger import Budgets, Remaining
    from flux_cli.openrouter.account import Credits, KeyInfo, Unavailable


def balance(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="The figures as one JSON object on stdout.")
    ] = False,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox",
            help="Ask a built-in local stand-in for OpenRouter instead: no key, no network.",
        ),
    ] = False,
) -> None:
    """Show the OpenRouter credit balance and the key's limit and usage (needs the key).

    Credits need a management key; with any other key the key's own figures are shown.
    """
    run_balance(ctx.obj, json_output=json_output, sandbox=sandbox)


def run_balance(app: App, *, json_output: bool, sandbox: bool) -> None:
    from flux_cli.endpoints import SANDBOX, current_api
    from flux_cli.openrouter.account import Unavailable

    if sandbox:
        from flux_cli.credentials import ApiKey
        from flux_cli.sandbox import SANDBOX_KEY, Sandbox, SandboxConfig

        label, base_url = SANDBOX, None  # a new port each run: nothing to name
        budgets = _budgets(label)
        with Sandbox(SandboxConfig(port=0)) as sb:
            info, account_credits = _fetch(sb.base_url, ApiKey(SANDBOX_KEY, "sandbox"))
        key_masked = ApiKey(SANDBOX_KEY, "sandbox").masked
    else:
        from flux_cli.credentials import resolve_key

        label, base_url = current_api()
        key = resolve_key()
        budgets = _budgets(label)
        info, account_credits = _fetch(base_url, key)
        key_masked = key.masked
    if json_output:
        app.display(_json(label, base_url, key_masked, info, account_credits, budgets))
    else:
        table = _table(app, label, key_masked, info, account_credits, budgets)
        try:
            app.out.print(table)
        except BrokenPipeError:
            app.stdout_closed = True
    if isinstance(account_credits, Unavailable):
        app.info(f"credits not shown: {account_credits.reason}; the figures are this key's own")


def _fetch(base_url: str, key: ApiKey) -> tuple[KeyInfo, Credits | Unavailable]:
    from flux_cli.openrouter import account
    from flux_cli.openrouter.client import OpenRouterClient, Timeouts

    with OpenRouterClient(base_url, key, timeouts=Timeouts(attempt=60.0)) as client:
        info = account.key_info(client)
        account_credits = account.credits(client)
    return info, account_credits


def _budgets(label: str) -> tuple[Budgets, Remaining] | None:
    """What is left of the local budgets for this API; None when none is set."""
    from flux_cli import ledger as ledger_module
    from flux_cli.config import load_settings

    settings = load_settings()
    budgets = ledger_module.Budgets(settings.daily_budget_micros, settings.monthly_budget_micros)
    if not budgets.any:
        return None
    from flux_cli.config import configured_ledger_url

    url = configured_ledger_url()
    path = ledger_module.default_path()
    if url is None and not path.exists():  # nothing spent yet; a look creates no ledger
        empty = ledger_module.Spent(0, 0, 0, 0)
        return budgets, ledger_module.Remaining(budgets.daily_micros, budgets.monthly_micros, empty)
    with (
        ledger_module.Ledger.open(path)
        if url is None
        else ledger_module.Ledger.open(url=url) as ledger
    ):
        return budgets, ledger.remaining(budgets, label)


def _budget_zone() -> str:
    """The zone of the local budgets' day and month: one day for every process."""
    from flux_cli.ledger import DEFAULT_BUDGET_ZONE

    return DEFAULT_BUDGET_ZONE


def _usd(micros: int | None) -> float | None:
    from flux_cli.pricing import micros_to_usd

    return None if micros is None else float(micros_to_usd(micros))


def _json(
    label: str,
    base_url: str | None,
    key_masked: str,
    info: KeyInfo,
    account_credits: Credits | Unavailable,
    budgets: tuple[Budgets, Remaining] | None,
) -> str:
    import json

    from flux_cli.openrouter.account import Unavailable

    record: dict[str, Any] = {
        "api": label,
        "base_url": base_url,
        "key": {
            "masked": key_masked,
            "label": info.user_label,
            "limit_usd": _usd(info.limit_micros),
            "limit_remaining_usd": _usd(info.limit_remaining_micros),
            "limit_reset": info.limit_reset,
            "usage_usd": _usd(info.usage_micros),
            "usage_daily_usd": _usd(info.usage_daily_micros),
            "usage_weekly_usd": _usd(info.usage_weekly_micros),
            "usage_monthly_usd": _usd(info.usage_monthly_micros),
            "is_free_tier": info.is_free_tier,
            "is_management_key": info.is_management_key,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
        },
        "key_budgets": [
            {
                "scope": b.scope,
                "limit_usd": _usd(b.limit_micros),
                "spend_usd": _usd(b.spend_micros),
                "remaining_usd": _usd(b.remaining_micros),
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
            "total_usd": _usd(account_credits.total_micros),
            "usage_usd": _usd(account_credits.usage_micros),
            "remaining_usd": _usd(account_credits.remaining_micros),
        }
        record["credits_unavailable"] = None
    if budgets is None:
        record["budgets"] = None
    else:
        limits, remaining = budgets
        record["budgets"] = {
            "daily_usd": _usd(limits.daily_micros),
            "daily_remaining_usd": _usd(remaining.daily_micros),
            "monthly_usd": _usd(limits.monthly_micros),
            "monthly_remaining_usd": _usd(remaining.monthly_micros),
            "spent_today_usd": _usd(remaining.spent.today_micros),
            "spent_this_month_usd": _usd(remaining.spent.month_micros),
            "pending": remaining.spent.pending_count,
            "unknown": remaining.spent.unknown_count,
            "timezone": _budget_zone(),
        }
    return json.dumps(record, ensure_ascii=False)


def _table(
    app: App,
    label: str,
    key_masked: str,
    info: KeyInfo,
    account_credits: Credits | Unavailable,
    budgets: tuple[Budgets, Remaining] | None,
) -> Any:
    from rich.text import Text

    from flux_cli.cli.render import styled_table
    from flux_cli.endpoints import SANDBOX, describe
    from flux_cli.openrouter.account import Unavailable
    from flux_cli.pricing import format_usd

    def money(micros: int | None, missing: str = "—") -> str:
        return missing if micros is None else format_usd(micros)

    where = "in-process sandbox" if label == SANDBOX else describe(label)
    title = f"Balance · {where}"
    table = styled_table(app.out, title)
    table.min_width = len(title)  # the title is wrapped to the table's width otherwise
    table.show_header = False
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    key_text = key_masked + (f" ({info.user_label})" if info.user_label else "")
    table.add_row("key", Text(key_text))
    if isinstance(account_credits, Unavailable):
        table.add_row("credits", Text("not available to this key (see below)"))
    else:
        table.add_row("credits remaining", format_usd(account_credits.remaining_micros))
        table.add_row("credits bought", format_usd(account_credits.total_micros))
        table.add_row("credits used", format_usd(account_credits.usage_micros))
    if info.unlimited:
        table.add_row("key limit", "none")
    else:
        reset = f", resets {info.limit_reset}" if info.limit_reset else ""
        table.add_row("key limit", Text(f"{money(info.limit_micros)}{reset}"))
        table.add_row("key limit remaining", money(info.limit_remaining_micros))
    table.add_row("key usage today", money(info.usage_daily_micros))
    table.add_row("key usage this week", money(info.usage_weekly_micros))
    table.add_row("key usage this month", money(info.usage_monthly_micros))
    table.add_row("key usage in all", money(info.usage_micros))
    if info.is_free_tier is not None:
        table.add_row("free tier", "yes" if info.is_free_tier else "no")
    if info.expires_at is not None:
        table.add_row("key expires", info.expires_at.astimezone().strftime("%Y-%m-%d %H:%M"))
    for layer in info.budgets:  # OpenRouter's own budgets on this key (docs/openrouter.md#key)
        resets = (
            f", resets {layer.resets_at.strftime('%Y-%m-%d %H:%M')} UTC"
            if layer.resets_at
            else ", never resets"
        )
        table.add_row(
            Text(f"{layer.scope} budget"),
            Text(
                f"{money(layer.remaining_micros)} left of {money(layer.limit_micros)} "
                f"({money(layer.spend_micros)} spent{resets})"
            ),
        )
    if budgets is not None:
        table.add_row("budget day", Text(f"midnight to midnight, {_budget_zone()}"))
        limits, remaining = budgets
        for period, limit, left, spent in (
            (
                "today",
                limits.daily_micros,
                remaining.daily_micros,
                remaining.spent.today_micros,
            ),
            (
                "this month",
                limits.monthly_micros,
                remaining.monthly_micros,
                remaining.spent.month_micros,
            ),
        ):
            if limit is not None and left is not None:
                table.add_row(
                    f"budget {period}",
                    f"{format_usd(left)} left of {format_usd(limit)} "
                    f"({format_usd(spent)} spent, local ledger)",
                )
    return table
