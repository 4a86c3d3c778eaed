"""Time in the ledger: fixed-width UTC stamps, the local day and month windows, `--since`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from flux_cli.errors import UsageError

__all__ = ["DEFAULT_BUDGET_ZONE", "budget_zone", "local_day", "parse_since", "window_starts"]

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime) -> datetime:
    """A naive datetime is local wall-clock time."""
    return moment if moment.tzinfo is not None else moment.astimezone()


def stamp(moment: datetime) -> str:
    return aware(moment).astimezone(UTC).strftime(TIME_FORMAT)


def parse_stamp(text: str) -> datetime:
    """A stamp written by `stamp` (fixed width, ending in Z); `fromisoformat` is C code, many
    times faster than `strptime`, which matters when history streams a million rows."""
    if len(text) == 27 and text[-1] == "Z":
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def local_midnight(moment: datetime) -> datetime:
    """The start of `moment`'s day in the machine's local time zone, as an aware UTC datetime.

    Built from naive local wall-clock time so that `astimezone` applies the zone's rules for
    midnight itself, not the offset in force at `moment` (they differ on DST-change days).
    """
    local = aware(moment).astimezone().replace(tzinfo=None)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


#: The budget day's zone unless told otherwise: one day for every process whatever its TZ
#: (docs/openrouter.md#key: OpenRouter's own daily usage and budgets count UTC days too).
DEFAULT_BUDGET_ZONE = "UTC"


def window_starts(now: datetime, zone: str = "local") -> tuple[datetime, datetime]:
    """(start of the day, start of the calendar month) containing `now` in `zone`, in UTC.

    `zone` is "local" (this process's TZ), "UTC" or an IANA name such as "Europe/Berlin"."""
    if zone == "local":
        local = aware(now).astimezone().replace(tzinfo=None)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        month = day.replace(day=1)
        return day.astimezone(UTC), month.astimezone(UTC)
    tz = budget_zone(zone)
    there = aware(now).astimezone(tz)
    day_start = datetime(there.year, there.month, there.day, tzinfo=tz)
    month_start = datetime(there.year, there.month, 1, tzinfo=tz)
    return day_start.astimezone(UTC), month_start.astimezone(UTC)


def next_window_starts(now: datetime, zone: str) -> tuple[datetime, datetime]:
    """(start of the next day, start of the next calendar month) after `now` in the budget zone
    `zone` ("UTC" or an IANA name): when the daily and the monthly budgets start again, as
    aware datetimes in that zone."""
    tz = budget_zone(zone)
    there = aware(now).astimezone(tz)
    tomorrow = there.date() + timedelta(days=1)
    year, month = (there.year + 1, 1) if there.month == 12 else (there.year, there.month + 1)
    return (
        datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=tz),
        datetime(year, month, 1, tzinfo=tz),
    )


def budget_zone(zone: str) -> tzinfo:
    """The tzinfo of a budget zone name; ValueError for one that does not exist."""
    if zone.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone!r}") from None


def local_day(moment: datetime) -> str:
    return aware(moment).astimezone().strftime("%Y-%m-%d")


def local_days(first: datetime, last: datetime) -> list[tuple[str, str, str]]:
    """(local date, start stamp, end stamp) of every local day from `first`'s to `last`'s, oldest
    first; each day runs from its local midnight to the next one (23 or 25 hours on DST days)."""
    days = []
    day = aware(first).astimezone().replace(tzinfo=None).date()
    end = aware(last).astimezone().replace(tzinfo=None).date()
    while day <= end:
        start = datetime(day.year, day.month, day.day).astimezone(UTC)
        following = day + timedelta(days=1)
        stop = datetime(following.year, following.month, following.day).astimezone(UTC)
        days.append((day.isoformat(), stamp(start), stamp(stop)))
        day = following
    return days


_RELATIVE = re.compile(r"(\d{1,6})\s*(m|mins?|minutes?|h|hours?|d|days?|w|weeks?)", re.IGNORECASE)
_LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([+-]\d{2}:\d{2})?")
_RELATIVE_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`--since`: `30m`, `12h`, `7d`, `2w`, `today`, a local date (`2026-11-01`, from local midnight) or
    a local date and time (`2026-11-01T10:00`; an explicit offset or `Z` is honoured).

    Returns an aware UTC datetime. `m` is minutes (as in `sleep 30m`); months are not accepted.
    """
    now = aware(now or utcnow())
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        unit = _RELATIVE_UNITS[relative.group(2)[0].lower()]
        return (now - int(relative.group(1)) * unit).astimezone(UTC)
    if value.lower() == "today":
        return local_midnight(now)
    if value.lower() == "yesterday":
        return local_midnight(local_midnight(now) - timedelta(hours=1))
    iso = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
            moment = datetime.strptime(iso, "%Y-%m-%d")
        elif _LOCAL_TIME.fullmatch(iso):
            moment = datetime.fromisoformat(iso)
        else:
            raise ValueError(value)
        return aware(moment).astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            f"--since {text!r} is not a time flux2 understands",
            hint="use a span like 30m, 12h, 7d or 2w, 'today', a date like 2026-11-01 "
            "or a local time like 2026-11-01T10:00",
        ) from None
