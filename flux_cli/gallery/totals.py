"""What a set of calls cost, counted as `flux2 history` counts it: each group of the gallery
and the whole page."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flux_cli.pricing import format_usd

if TYPE_CHECKING:
    from flux_cli.ledger import Row


# -- totals -------------------------------------------------------------------------------------


@dataclass
class Totals:
    """What a set of calls cost, as `flux2 history` counts it."""

    count: int = 0
    images: int = 0
    ok: int = 0
    failed: int = 0
    pending: int = 0
    unknown: int = 0
    estimate_micros: int = 0
    charged_micros: int = 0  # what the server reported
    counted_micros: int = 0  # what the calls count for against a budget

    def add(self, row: Row) -> None:
        self.count += 1
        self.images += sum(1 for p in row.paths if p and p != "-")
        self.ok += row.status == "ok"
        self.failed += row.status == "failed"
        self.pending += row.status == "pending"
        self.unknown += row.status == "unknown"
        self.estimate_micros += row.estimate_micros
        self.charged_micros += row.charged_micros or 0
        self.counted_micros += row.counted_micros

    @classmethod
    def of(cls, rows: Iterable[Row]) -> Totals:
        totals = cls()
        for row in rows:
            totals.add(row)
        return totals

    def line(self) -> str:
        parts = [
            _plural(self.count, "call"),
            _plural(self.images, "image"),
            f"estimate {format_usd(self.estimate_micros)}",
            f"charged {format_usd(self.charged_micros)}",
        ]
        if self.failed:
            parts.append(f"{self.failed} failed (not billed)")
        unsettled = [
            (n, name) for n, name in ((self.pending, "pending"), (self.unknown, "unknown")) if n
        ]
        if unsettled:
            parts.append(
                " and ".join(f"{n} {name}" for n, name in unsettled) + " (may have been billed)"
            )
        parts.append(f"counts as {format_usd(self.counted_micros)}")
        return " · ".join(parts)

    def attributes(self) -> str:
        """The figures as data attributes, for scripts that read the page."""
        return (
            f'data-count="{self.count}" data-images="{self.images}" '
            f'data-estimate-micros="{self.estimate_micros}" '
            f'data-charged-micros="{self.charged_micros}" '
            f'data-counted-micros="{self.counted_micros}"'
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
