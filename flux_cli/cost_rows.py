"""The rows of the cost tables as plain text (README.md#what-it-costs): before a call, what each
priced image is and costs; after it, what each call was charged and how that differs from its
estimate. The command line lays them out; nothing here knows about terminals.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from flux_cli.pricing import Estimate, Line, format_usd, megapixels

if TYPE_CHECKING:
    from flux_cli.generation import Plan
    from flux_cli.inputs import Reference
    from flux_cli.spending import Outcome


@dataclass(frozen=True)
class EstimateRow:
    """One priced image of an estimate: its label, size, megapixels, billed megapixels, price."""

    label: str
    size: str
    mp: str
    billed_mp: str
    price: str


def numbered_lines(estimate: Estimate) -> Iterator[tuple[Line, int, int]]:
    """Each line of `estimate` with the number of its output (from 1) and, for a reference, its
    number among that output's references (from 1; 0 for the output itself)."""
    output_no = 0
    reference_no = 0
    for line in estimate.lines:
        if line.kind == "output":
            output_no += 1
            reference_no = 0
        else:
            reference_no += 1
        yield line, output_no, reference_no


def estimate_rows(
    estimate: Estimate,
    seeds: Sequence[int],
    reference_labels: Sequence[str] = (),
    count: int | None = None,
) -> list[EstimateRow]:
    """Each line of `estimate`: outputs numbered (with their seed) when there are several,
    the references of the first output named by `reference_labels`."""
    rows = []
    for line, output_no, reference_no in numbered_lines(estimate):
        if line.kind == "output":
            seed = seeds[output_no - 1] if output_no - 1 < len(seeds) else None
            label = f"output {output_no}" if max(len(seeds), count or 0) > 1 else "output"
            if seed is not None:
                label += f" (seed {seed})"
        else:
            label = f"  reference {reference_no}"
            if output_no == 1 and reference_no <= len(reference_labels):
                label += f": {reference_labels[reference_no - 1]}"
        rows.append(
            EstimateRow(
                label=label,
                size=f"{line.width}×{line.height}",
                mp=f"{megapixels(line.width, line.height).quantize(Decimal('0.01'))}",
                billed_mp=str(line.billed_mp),
                price=format_usd(line.micros),
            )
        )
    return rows


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


def reference_label(reference: Reference) -> str:
    """A reference as the estimate names it: its source, and what is sent of it."""
    if reference.remote:
        return f"{reference.source} (sent as a URL; size unknown, counted as 1 MP)"
    assert reference.original_size is not None
    assert reference.sent_bytes is not None
    w, h = reference.original_size
    kib = max(1, round(reference.sent_bytes / 1024))
    origin = "" if reference.original_size == reference.sent_size else f"from {w}×{h}, "
    return f"{reference.source} ({origin}{kib:,} KB {reference.sent_format} sent)"


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
    doubted: bool = False  # the answer reported a charge that was not believed


def charged_rows(plan: Plan, outcomes: Sequence[Outcome]) -> list[Charged]:
    """One row per answered request, each against its share of the estimate."""
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
                charged_micros=charge_of(outcome),
                generation_id=generation_id_of(outcome),
                provider=result.provider if result else None,
                elapsed_s=result.elapsed_s if result else None,
                status="not written" if outcome.error else "ok",
                doubted=outcome.charge_doubt is not None,
            )
        )
    return rows


def charge_of(outcome: Outcome) -> int | None:
    """What the call was charged: the answer's believed charge, or what its failure says
    (`spending.failed_charge`); None when unknown."""
    from flux_cli.spending import failed_charge

    result = outcome.result
    return result.cost_micros if result else failed_charge(outcome.error)


def generation_id_of(outcome: Outcome) -> str | None:
    """The call's generation id: from its answer, else from its error when that carries one."""
    result = outcome.result
    return result.generation_id if result else getattr(outcome.error, "generation_id", None)


def none_billed(rows: Sequence[Charged]) -> str | None:
    """When every call failed and none was billed, the sentence that says so (a "Charged"
    table of failures would only say it less plainly); None otherwise."""
    if not all(row.status != "ok" and row.charged_micros == 0 for row in rows):
        return None
    if len(rows) == 1:
        return "not charged: the call failed and was not billed"
    return f"not charged: all {len(rows)} calls failed and none was billed"


def charged_total(rows: Sequence[Charged]) -> tuple[int, bool]:
    """The sum of what is known to have been charged, and whether every charge is known."""
    known = [row.charged_micros for row in rows if row.charged_micros is not None]
    return sum(known), len(known) == len(rows)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


def charged_text(micros: int | None, doubted: bool = False) -> str:
    """A charge as the after-table shows it; one the answer reported but that was not believed
    counts at the estimate (docs/reliability.md#reported-charges)."""
    if doubted:
        return NOT_BELIEVED
    return "unknown (may have been billed)" if micros is None else format_usd(micros)


NOT_BELIEVED = "reported figure not believed; the call counts at its estimate"


def difference_text(charged: int | None, estimate: int) -> str:
    """How a charge differs from its estimate (`+$0.002`, `±$0.000`); empty when unknown."""
    if charged is None:
        return ""
    micros = charged - estimate
    if micros == 0:
        return "±$0.000"
    return ("+" if micros > 0 else "") + format_usd(micros)
