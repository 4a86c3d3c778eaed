"""The cost model (README "What it costs"). Pure functions over integer micro-dollars.

1 MP = 1024 × 1024 px. Output megapixels round up to a whole number, at least 1; the first costs
`first_output_mp`, each further one `extra_output_mp`. Each reference image is billed on its own,
rounded up, at least 1, at `input_mp` (docs/openrouter-flux2.md#megapixels). Token prices are
turned into megapixel prices at 4,096 tokens per megapixel; image prices ignore the size
(docs/openrouter.md#price-units).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from flux_cli.embedded_catalog import PriceRule

MEGAPIXEL = 1024 * 1024
MICROS_PER_USD = 1_000_000
TOKENS_PER_MEGAPIXEL = 4096  # one token per 16×16 patch (docs/openrouter.md#price-units)


def billed_megapixels(width: int, height: int) -> int:
    if width <= 0 or height <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    return max(1, -(-(width * height) // MEGAPIXEL))


def megapixels(width: int, height: int) -> Decimal:
    """Exact megapixels, for display."""
    return Decimal(width * height) / Decimal(MEGAPIXEL)


def output_cost(rule: PriceRule, width: int, height: int) -> int:
    mp = billed_megapixels(width, height)
    if rule.unit == "image":
        return rule.first_output_mp
    return rule.first_output_mp + rule.extra_output_mp * (mp - 1)


def reference_cost(rule: PriceRule, width: int, height: int) -> int:
    if rule.unit == "image":
        return rule.input_mp
    return rule.input_mp * billed_megapixels(width, height)


def prompt_cost(rule: PriceRule, prompt: str) -> int:
    """At most one token per UTF-8 byte of the prompt (docs/openrouter.md#price-units)."""
    return rule.prompt_token * len(prompt.encode("utf-8"))


def unit_text(rule: PriceRule) -> str:
    """What the prices count, for the cost table: `per megapixel`, `per token (…)`, `per image`."""
    if rule.unit == "token":
        return f"per token, {TOKENS_PER_MEGAPIXEL:,} tokens per megapixel"
    if rule.unit == "image":
        return "per image"
    return "per megapixel"


@dataclass(frozen=True)
class Line:
    """One priced image in an estimate."""

    kind: str  # "output" or "reference"
    width: int
    height: int
    billed_mp: int
    micros: int


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]

    @property
    def total_micros(self) -> int:
        return sum(line.micros for line in self.lines)

    @property
    def output_micros(self) -> int:
        return sum(line.micros for line in self.lines if line.kind == "output")

    @property
    def reference_micros(self) -> int:
        return sum(line.micros for line in self.lines if line.kind == "reference")


def estimate(
    rule: PriceRule,
    output: tuple[int, int],
    references: Sequence[tuple[int, int]] = (),
    count: int = 1,
    prompt: str = "",
) -> Estimate:
    """The price of `count` separate calls, each producing `output` from the same `references`.
    A priced prompt (an `input_text` line) is counted in each output line."""
    lines: list[Line] = []
    text = prompt_cost(rule, prompt)
    for _ in range(count):
        w, h = output
        lines.append(Line("output", w, h, billed_megapixels(w, h), output_cost(rule, w, h) + text))
        for rw, rh in references:
            lines.append(
                Line("reference", rw, rh, billed_megapixels(rw, rh), reference_cost(rule, rw, rh))
            )
    return Estimate(tuple(lines))


def image_tokens(width: int, height: int) -> int:
    """What OpenRouter reports as tokens for an image: 4096 per billed megapixel."""
    return TOKENS_PER_MEGAPIXEL * billed_megapixels(width, height)


def micros_to_usd(micros: int) -> Decimal:
    return Decimal(micros) / Decimal(MICROS_PER_USD)


def usd_to_micros(value: Decimal | int | str) -> int:
    """A dollar amount (as reported by the server, parsed as Decimal) in whole micro-dollars."""
    try:
        amount = Decimal(value) * MICROS_PER_USD
        if not amount.is_finite():
            raise ValueError(f"not a finite amount: {value!r}")
        return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (
        ArithmeticError,
        ValueError,
    ) as exc:  # decimal.Overflow/InvalidOperation are ArithmeticErrors
        raise ValueError(f"not a usable amount: {value!r}") from exc


def format_usd(micros: int, places: int = 3) -> str:
    """`$0.045`: three places by default (FLUX prices are whole tenths of a cent)."""
    value = micros_to_usd(micros)
    exp = Decimal(1).scaleb(-places)
    if value != value.quantize(exp):
        exp = Decimal(1).scaleb(-6)
        text = f"{value.quantize(exp):f}".rstrip("0")
    else:
        text = f"{value.quantize(exp):f}"
    sign = "-" if micros < 0 else ""
    return f"{sign}${text.lstrip('-')}"
