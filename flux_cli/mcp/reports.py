"""What the read-only tools report: budgets and spending from the ledger, the models of the
catalog, and the key's balance and credits. Nothing here spends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flux_cli.mcp.policy import Policy, next_resets
from flux_cli.records import usd

if TYPE_CHECKING:
    from flux_cli.config import Settings
    from flux_cli.credentials import ApiKey


class Reports:
    """The read-only tools of one server: its policy, and the sandbox of a --sandbox server."""

    def __init__(self, policy: Policy, sandbox_url: str | None = None) -> None:
        self.policy = policy
        self.sandbox_url = sandbox_url

    def api(self) -> str:
        from flux_cli.endpoints import SANDBOX, current_api

        return SANDBOX if self.policy.sandbox else current_api()[0]

    def budget_status(self, settings: Settings | None = None) -> dict[str, Any]:
        """The budgets, what is spent and left of each, and when each resets."""
        from flux_cli import ledger as ledger_module
        from flux_cli.config import load_settings

        settings = settings or load_settings()
        budgets = ledger_module.Budgets(
            settings.daily_budget_micros, settings.monthly_budget_micros
        )
        spent = self._spent()
        daily_reset, monthly_reset = next_resets()
        status: dict[str, Any] = {
            "api": self.api(),
            "spent_today_usd": usd(spent.today_micros),
            "spent_this_month_usd": usd(spent.month_micros),
            "pending_calls": spent.pending_count,
            "unknown_outcome_calls": spent.unknown_count,
            "per_call_ceiling_usd": usd(self.policy.max_cost_per_call_micros),
        }
        for name, limit, used, reset in (
            ("daily", budgets.daily_micros, spent.today_micros, daily_reset),
            ("monthly", budgets.monthly_micros, spent.month_micros, monthly_reset),
        ):
            status[name] = (
                None
                if limit is None
                else {
                    "limit_usd": usd(limit),
                    "left_usd": usd(max(0, limit - used)),
                    "resets_at": reset.isoformat(timespec="seconds"),
                }
            )
        return status

    def _spent(self) -> Any:
        from flux_cli import ledger as ledger_module

        path = ledger_module.default_path()
        if not path.exists():  # nothing spent yet; a look creates no ledger
            return ledger_module.Spent(0, 0, 0, 0)
        with ledger_module.Ledger.open(path) as ledger:
            return ledger.spent(self.api())

    def spending(self) -> dict[str, Any]:
        """Spending so far from the ledger: today, this month, and this month by model."""
        from flux_cli import ledger as ledger_module

        status = self.budget_status()
        by_model: dict[str, list[Any]] = {"today": [], "this_month": []}
        path = ledger_module.default_path()
        if path.exists():
            with ledger_module.Ledger.open(path) as ledger:
                # The budget windows, as `spent_today_usd` and `spent_this_month_usd` count them.
                day_start, month_start = ledger_module.window_starts(datetime.now(UTC), ledger.zone)
                for period, since in (("today", day_start), ("this_month", month_start)):
                    by_model[period] = ledger.totals(self.api(), since=since, by="model")
        for period, totals in by_model.items():
            status[f"by_model_{period}"] = [
                {
                    "model": t.key,
                    "calls": t.count,
                    "ok": t.ok_count,
                    "failed": t.failed_count,
                    "pending": t.pending_count,
                    "unknown_outcome": t.unknown_count,
                    "charged_usd": usd(t.charged_micros),
                    "counted_usd": usd(t.counted_micros),
                }
                for t in totals
            ]
        return status

    # -- catalog and account ----------------------------------------------------------------

    def models(self) -> list[dict[str, Any]]:
        from flux_cli.model_list import entry_record, ordered
        from flux_cli.openrouter.catalog import Catalog
        from flux_cli.openrouter.catalog_cache import load_catalog
        from flux_cli.openrouter.catalog_fetch import fetch_catalog

        if self.sandbox_url is not None:
            from datetime import timedelta

            catalog = Catalog(
                fetch_catalog(self.sandbox_url), "live", datetime.now(UTC), timedelta(0)
            )
        else:
            from flux_cli.credentials import resolve_base_url

            catalog = load_catalog(resolve_base_url())
        return [entry_record(entry, catalog) for entry in ordered(catalog)]

    def _account_endpoint(self) -> tuple[str, ApiKey]:
        from flux_cli.credentials import ApiKey, resolve_base_url, resolve_key

        if self.sandbox_url is not None:
            from flux_cli.sandbox import SANDBOX_KEY

            return self.sandbox_url, ApiKey(SANDBOX_KEY, "sandbox")
        return resolve_base_url(), resolve_key()

    def balance(self) -> dict[str, Any]:
        """`flux2 balance --json`'s record (`flux_cli.account_report`), and under `budget` the
        local budgets as the other tools report them."""
        from flux_cli.account_report import ATTEMPT_S, balance_record, local_budgets, read_account
        from flux_cli.config import configured_budget_zone, load_settings
        from flux_cli.endpoints import make_client
        from flux_cli.openrouter.client import Timeouts

        base_url, key = self._account_endpoint()
        with make_client(base_url, key, timeouts=Timeouts(attempt=ATTEMPT_S)) as client:
            info, account_credits = read_account(client)
        settings = load_settings()
        label = self.api()
        record = balance_record(
            label,
            None if self.sandbox_url is not None else base_url,  # a new port each session
            key.masked,
            info,
            account_credits,
            local_budgets(settings, label),
            configured_budget_zone(),
        )
        record["budget"] = self.budget_status(settings)
        return record
