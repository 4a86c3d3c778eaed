"""Rich renderings for people (stderr): the before and after cost tables (README.md#what-it-costs).

The rows come from `flux_cli.cost_rows`. Untrusted text (prompts, file names, server messages)
only ever enters as `Text`, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from flux_cli.cli.tables import facts_table, styled_table
from flux_cli.cost_rows import (
    Charged,
    charged_rows,
    charged_text,
    charged_total,
    difference_text,
    duration_text,
    estimate_rows,
    none_billed,
    reference_label,
    sum_line,
)
from flux_cli.pricing import format_usd

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from flux_cli.cli.context import App
    from flux_cli.generation import Plan
    from flux_cli.inputs import Reference
    from flux_cli.spending import Outcome

__all__ = ["charged_table", "estimate_table", "show_charged", "show_estimate", "styled_table"]


def estimate_table(
    console: Console,
    plan: Plan,
    *,
    seeds: Sequence[int],
    reference_labels: Sequence[str] = (),
    count: int | None = None,
    budget: str | None = None,
) -> Table:
    """The before-table: each priced image of `plan`, its total, and how the total is made."""
    from rich.text import Text

    estimate = plan.estimate
    table = styled_table(console, f"Estimate · {plan.model.alias} · {plan.model.id}")
    where = "images" if plan.route == "images" else "chat/completions"
    table.caption = f"prices: {plan.model.price_source} · route: /{where}"
    if len(estimate.lines) > 1:  # one price needs no sum
        table.caption = f"{sum_line(estimate)}\n{table.caption}"
    if budget:
        table.caption += f"\n{budget}"
    table.caption_justify = "left"
    table.add_column("image")
    table.add_column("size", justify="right")
    table.add_column("MP", justify="right")
    table.add_column("billed MP", justify="right")
    table.add_column("price", justify="right")
    for row in estimate_rows(estimate, seeds, reference_labels, count):
        table.add_row(Text(row.label), row.size, row.mp, row.billed_mp, row.price)
    table.show_footer = True
    table.columns[0].footer = Text("total", style="bold")
    table.columns[-1].footer = Text(format_usd(estimate.total_micros), style="bold")
    return table


def charged_table(console: Console, rows: Sequence[Charged]) -> Table:
    """The after-table: one block for a single image, one row each for several."""
    if len(rows) == 1:
        return _charged_block(console, rows[0])
    from rich.text import Text

    table = styled_table(console, "Charged")
    table.add_column("image")
    table.add_column("charged", justify="right")
    table.add_column("vs estimate", justify="right")
    table.add_column("time", justify="right")
    table.add_column("generation id", overflow="fold")
    table.add_column("file", overflow="fold")
    for row in rows:
        table.add_row(
            Text(row.label),
            charged_text(row.charged_micros, row.doubted),
            difference_text(row.charged_micros, row.estimate_micros),
            duration_text(row.elapsed_s),
            Text(row.generation_id or "—"),
            Text(row.path or row.status),
        )
    total_charged, charged_known = charged_total(rows)
    total_estimate = sum(row.estimate_micros for row in rows)
    table.show_footer = True
    table.columns[0].footer = Text("total", style="bold")
    table.columns[1].footer = Text(
        format_usd(total_charged) + ("" if charged_known else " + unknown"), style="bold"
    )
    table.columns[2].footer = difference_text(
        total_charged if charged_known else None, total_estimate
    )
    return table


def _charged_block(console: Console, row: Charged) -> Table:
    from rich.text import Text

    table = facts_table(console, f"Charged · {row.label}", no_wrap=False)
    difference = difference_text(row.charged_micros, row.estimate_micros)
    table.add_row("charged", charged_text(row.charged_micros, row.doubted))
    unknown = "charge not believed" if row.doubted else "charge unknown"
    table.add_row("estimate", f"{format_usd(row.estimate_micros)} ({difference or unknown})")
    table.add_row("generation id", Text(row.generation_id or "—"))
    table.add_row("provider", Text(row.provider or "—"))
    table.add_row("time", duration_text(row.elapsed_s))
    table.add_row("file", Text(row.path or row.status))
    return table


# -- generate and edit ------------------------------------------------------------------------


def show_estimate(app: App, plan: Plan, references: list[Reference], budget: str | None) -> None:
    """The estimate table on stderr, before anything is sent (not with --quiet)."""
    if app.quiet:
        return
    app.err.print(
        estimate_table(
            app.err,
            plan,
            seeds=plan.seeds if plan.sends_seed else (),  # no seed: nothing to reproduce
            reference_labels=[reference_label(r) for r in references],
            budget=budget,
        )
    )


def show_charged(app: App, plan: Plan, outcomes: list[Outcome]) -> None:
    """The charge table on stderr, once every request has been answered (not with --quiet)."""
    if app.quiet:
        return
    rows = charged_rows(plan, outcomes)
    nothing = none_billed(rows)
    if nothing is not None:
        app.info(nothing)
        return
    app.err.print()
    app.err.print(charged_table(app.err, rows))
