"""Rich renderings for people (stderr): the before and after cost tables (README.md#what-it-costs).

Untrusted text (prompts, file names, server messages) only ever enters as `Text`, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from flux_cli.pricing import Estimate, format_usd, megapixels

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from flux_cli.cli.context import App
    from flux_cli.generation import Plan
    from flux_cli.inputs import Reference
    from flux_cli.spending import Outcome


@dataclass(frozen=True)
class Charged:
    """One finished (or failed) image, for the after-table."""

    label: str
    path: str | None
    estimate_micros: int
    charged_micros: int | None
    generation_id: str | None
    provider: str | None
    elapsed_s: float | None
    status: str = "ok"


def _box(console: Console) -> object:
    from rich import box

    encoding = (console.encoding or "").lower().replace("-", "")
    return box.SIMPLE if encoding.startswith("utf") else box.ASCII2


def styled_table(console: Console, title: str) -> Table:
    from rich.table import Table

    return Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=_box(console),  # type: ignore[arg-type]
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        safe_box=True,
    )


def _mp(width: int, height: int) -> str:
    return f"{megapixels(width, height).quantize(Decimal('0.01'))}"


def estimate_table(
    console: Console,
    *,
    model_id: str,
    alias: str,
    route: str,
    price_source: str,
    estimate: Estimate,
    seeds: Sequence[int],
    provider: str | None = None,
    reference_labels: Sequence[str] = (),
    count: int | None = None,
    budget: str | None = None,
) -> Table:
    from rich.text import Text

    who = f"{alias} · {model_id}" + (f" · {provider}" if provider else "")
    table = styled_table(console, f"Estimate · {who}")
    where = "images" if route == "images" else "chat/completions"
    table.caption = f"prices: {price_source} · route: /{where}"
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
    output_no = 0
    reference_no = 0
    for line in estimate.lines:
        if line.kind == "output":
            output_no += 1
            reference_no = 0
            seed = seeds[output_no - 1] if output_no - 1 < len(seeds) else None
            label = f"output {output_no}" if max(len(seeds), count or 0) > 1 else "output"
            if seed is not None:
                label += f" (seed {seed})"
        else:
            reference_no += 1
            label = f"  reference {reference_no}"
            if output_no == 1 and reference_no <= len(reference_labels):
                label += f": {reference_labels[reference_no - 1]}"
        table.add_row(
            Text(label),
            f"{line.width}×{line.height}",
            _mp(line.width, line.height),
            str(line.billed_mp),
            format_usd(line.micros),
        )
    table.show_footer = True
    table.columns[0].footer = Text("total", style="bold")
    table.columns[-1].footer = Text(format_usd(estimate.total_micros), style="bold")
    return table


def sum_line(estimate: Estimate) -> str:
    """`$0.16 output + $0.03 + $0.06 = $0.25`: how the total is made, per call."""
    calls = sum(1 for line in estimate.lines if line.kind == "output")
    per_call = estimate.lines[: len(estimate.lines) // max(calls, 1)]
    parts = [
        f"{format_usd(line.micros, 2)}{' output' if line.kind == 'output' else ''}"
        for line in per_call
    ]
    expression = " + ".join(parts)
    if calls > 1:
        expression = f"{calls} × ({expression})"
    return f"{expression} = {format_usd(estimate.total_micros, 2)}"


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
    total_charged = 0
    total_estimate = 0
    charged_known = True
    for row in rows:
        total_estimate += row.estimate_micros
        if row.charged_micros is None:
            charged_known = False
        else:
            total_charged += row.charged_micros
        table.add_row(
            Text(row.label),
            _charged(row.charged_micros),
            _difference(row.charged_micros, row.estimate_micros),
            _duration(row.elapsed_s),
            Text(row.generation_id or "—"),
            Text(row.path or row.status),
        )
    table.show_footer = True
    table.columns[0].footer = Text("total", style="bold")
    table.columns[1].footer = Text(
        format_usd(total_charged) + ("" if charged_known else " + unknown"), style="bold"
    )
    table.columns[2].footer = _difference(total_charged if charged_known else None, total_estimate)
    return table


def _charged_block(console: Console, row: Charged) -> Table:
    from rich.text import Text

    table = styled_table(console, f"Charged · {row.label}")
    table.show_header = False
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("charged", _charged(row.charged_micros))
    table.add_row(
        "estimate",
        f"{format_usd(row.estimate_micros)} ({_difference(row.charged_micros, row.estimate_micros) or 'charge unknown'})",
    )
    table.add_row("generation id", Text(row.generation_id or "—"))
    table.add_row("provider", Text(row.provider or "—"))
    table.add_row("time", _duration(row.elapsed_s))
    table.add_row("file", Text(row.path or row.status))
    return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def _charged(micros: int | None) -> str:
    return "unknown (may have been billed)" if micros is None else format_usd(micros)


def _difference(charged: int | None, estimate: int) -> str:
    if charged is None:
        return ""
    micros = charged - estimate
    if micros == 0:
        return "±$0.000"
    return ("+" if micros > 0 else "") + format_usd(micros)


# -- generate and edit ------------------------------------------------------------------------


def _reference_label(reference: Reference) -> str:
    if reference.remote:
        return f"{reference.source} (sent as a URL; size unknown, counted as 1 MP)"
    assert reference.original_size is not None
    assert reference.sent_bytes is not None
    w, h = reference.original_size
    kib = max(1, round(reference.sent_bytes / 1024))
    origin = "" if reference.original_size == reference.sent_size else f"from {w}×{h}, "
    return f"{reference.source} ({origin}{kib:,} KB {reference.sent_format} sent)"


def show_estimate(app: App, plan: Plan, references: list[Reference], budget: str | None) -> None:
    """The estimate table on stderr, before anything is sent (not with --quiet)."""
    if app.quiet:
        return
    app.err.print(
        estimate_table(
            app.err,
            model_id=plan.model.id,
            alias=plan.model.alias,
            route=plan.route,
            price_source=plan.model.price_source,
            estimate=plan.estimate,
            seeds=plan.seeds if plan.sends_seed else (),  # no seed: nothing to reproduce
            reference_labels=[_reference_label(r) for r in references],
            budget=budget,
        )
    )


def show_charged(app: App, plan: Plan, outcomes: list[Outcome]) -> None:
    """The charge table on stderr, once every request has been answered (not with --quiet)."""
    from flux_cli.spending import failed_charge

    if app.quiet:
        return
    per_call = plan.estimate.total_micros // plan.count
    rows = []
    for outcome in outcomes:
        result = outcome.result
        label = f"output {outcome.index + 1}" if plan.count > 1 else "output"
        if outcome.converted_from:
            label += f" ({outcome.converted_from}→{outcome.fmt})"
        if outcome.credentials == "dropped":
            label += ", content credentials dropped"
        rows.append(
            Charged(
                label=label,
                path=outcome.path if outcome.error is None else None,
                estimate_micros=per_call,
                charged_micros=result.cost_micros if result else failed_charge(outcome.error),
                generation_id=result.generation_id
                if result
                else getattr(outcome.error, "generation_id", None),
                provider=result.provider if result else None,
                elapsed_s=result.elapsed_s if result else None,
                status="not written" if outcome.error else "ok",
            )
        )
    if all(row.status != "ok" and row.charged_micros == 0 for row in rows):
        # Nothing was billed: a "Charged" table of failures would only say so less plainly.
        app.info(
            "not charged: the call failed and was not billed"
            if len(rows) == 1
            else f"not charged: all {len(rows)} calls failed and none was billed"
        )
        return
    app.err.print()
    app.err.print(charged_table(app.err, rows))
