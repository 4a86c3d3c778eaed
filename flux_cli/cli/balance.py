"""`flux2 balance`: the key's limit and usage (`GET /key`) and the account's credits (`GET /credits`).

`/credits` answers 403 to keys that are not management keys; then the key's own figures are shown
with one line on stderr saying why the credits are missing. Local budgets, when set, are shown
from the ledger for the same API. The figures and the JSON record are `flux_cli.account_report`'s;
the client comes from the app's client factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from flux_cli.cli.context import App
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
    import json

    from flux_cli.account_report import ATTEMPT_S, balance_record, local_budgets, read_account
    from flux_cli.openrouter.account import Unavailable
    from flux_cli.openrouter.client import Timeouts

    if sandbox:
        app.use_sandbox()  # a new port each run: no base URL to name
    label = app.endpoint.label  # the key is read here (AuthError without one)
    budgets = local_budgets(app.settings, label)
    with (
        app.connected() as endpoint,
        app.make_client(endpoint, timeouts=Timeouts(attempt=ATTEMPT_S)) as client,
    ):
        info, account_credits = read_account(client)
    assert endpoint.key is not None
    base_url = None if sandbox else endpoint.base_url
    if json_output:
        record = balance_record(
            label, base_url, endpoint.key.masked, info, account_credits, budgets, _budget_zone()
        )
        app.display(json.dumps(record, ensure_ascii=False))
    else:
        table = _table(app, label, endpoint.key.masked, info, account_credits, budgets)
        try:
            app.out.print(table)
        except BrokenPipeError:
            app.stdout_closed = True
    if isinstance(account_credits, Unavailable):
        app.info(f"credits not shown: {account_credits.reason}; the figures are this key's own")


def _budget_zone() -> str:
    """The zone of the local budgets' day and month: one day for every process."""
    from flux_cli.config import configured_budget_zone

    return configured_budget_zone()


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
