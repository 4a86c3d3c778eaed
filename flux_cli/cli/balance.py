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
    from flux_cli.account_report import (
        ATTEMPT_S,
        balance_record,
        balance_rows,
        local_budgets,
        read_account,
    )
    from flux_cli.config import configured_budget_zone
    from flux_cli.openrouter.account import Unavailable
    from flux_cli.openrouter.client import Timeouts

    app: App = ctx.obj
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
    # The zone of the local budgets' day and month: one day for every process.
    zone = configured_budget_zone()
    figures = (endpoint.key.masked, info, account_credits, budgets, zone)
    if json_output:
        app.display_json(balance_record(label, base_url, *figures))
    else:
        app.show(_table(app, label, balance_rows(*figures)))
    if isinstance(account_credits, Unavailable):
        app.info(f"credits not shown: {account_credits.reason}; the figures are this key's own")


def _table(app: App, label: str, rows: list[tuple[str, str]]) -> Any:
    from rich.text import Text

    from flux_cli.cli.tables import facts_table
    from flux_cli.endpoints import live_name

    title = f"Balance · {live_name(label)}"
    table = facts_table(app.out, title)
    table.min_width = len(title)  # the title is wrapped to the table's width otherwise
    for what, value in rows:
        table.add_row(Text(what), Text(value))  # a key's label is the server's text
    return table
