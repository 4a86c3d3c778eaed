"""What the budget check asks of the ledger: what one API's rows count for in the current
budget day and month, and how many of them are still pending or unknown."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flux_cli.ledger.schema import counted
from flux_cli.ledger.times import stamp, window_starts
from flux_cli.ledger.types import Spent

if TYPE_CHECKING:
    from flux_cli.ledger.database import Session


def spent(session: Session, api: str, now: datetime, zone: str, greatest: str) -> Spent:
    """Summed from the running totals (schema.py) when the day and month begin on a quarter
    hour, else from the rows themselves. `greatest`: the database's name for it."""
    day, month = window_starts(now, zone)
    day_stamp, month_stamp = stamp(day), stamp(month)
    if on_quarter_hour(day) and on_quarter_hour(month):
        # The running totals (see schema.py): at most a month of quarter hours to add up.
        sql = """
            SELECT COALESCE(SUM(CASE WHEN bucket >= :day THEN counted_micros END), 0),
                   COALESCE(SUM(counted_micros), 0),
                   COALESCE(SUM(pending_count), 0),
                   COALESCE(SUM(unknown_count), 0)
            FROM spend
            WHERE api = :api AND bucket >= :month
        """
        params = {"api": api, "day": day_stamp[:16], "month": month_stamp[:16]}
    else:
        rule = counted(greatest=greatest)
        sql = f"""
            SELECT COALESCE(SUM(CASE WHEN created_at >= :day THEN {rule} END), 0),
                   COALESCE(SUM({rule}), 0),
                   COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),
                   COALESCE(SUM(CASE WHEN status = 'unknown' THEN 1 ELSE 0 END), 0)
            FROM calls
            WHERE api = :api AND created_at >= :month
        """  # noqa: S608 - the rule is ours
        params = {"api": api, "day": day_stamp, "month": month_stamp}
    today, this_month, pending, unknown = session.execute(sql, params).fetchone()
    return Spent(int(today), int(this_month), int(pending), int(unknown))


def on_quarter_hour(moment: datetime) -> bool:
    return moment.minute % 15 == 0 and moment.second == 0 and moment.microsecond == 0
