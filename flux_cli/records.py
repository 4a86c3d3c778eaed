"""The JSON vocabulary every `--json` output shares (described in docs/schema/).

Money is written twice: `<name>_micros`, an integer number of micro-dollars that sums exactly
(`jq -s 'map(.charged_micros // 0) | add'`), and `<name>_usd`, the same amount in dollars as a
JSON number for people and for tools that only want a figure. Durations are seconds rounded to the
millisecond (`elapsed_s`). Times are UTC, ISO 8601 with milliseconds and a `Z`.
"""

from __future__ import annotations

from typing import Any

from flux_cli.pricing import micros_to_usd


def usd(micros: int | None) -> float | None:
    """Dollars as a JSON number: the exact micro-dollar amount written as the shortest float."""
    return None if micros is None else float(micros_to_usd(micros))


def money(name: str, micros: int | None) -> dict[str, Any]:
    """`{"<name>_usd": 0.03, "<name>_micros": 30000}` (both null when unknown)."""
    return {f"{name}_usd": usd(micros), f"{name}_micros": micros}


def seconds(value: float | None) -> float | None:
    """A duration in seconds, to the millisecond."""
    return None if value is None else round(value, 3)


def micros_from_text(text: object) -> int | None:
    """Micro-dollars from an exact decimal text such as a recipe's `"0.03"`; None otherwise."""
    from decimal import Decimal, InvalidOperation

    from flux_cli.pricing import usd_to_micros

    if not isinstance(text, str):
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return usd_to_micros(amount) if amount.is_finite() else None
