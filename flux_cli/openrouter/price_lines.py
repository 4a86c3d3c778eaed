"""An endpoint's `pricing[]` lines as a price rule, or None when the mapping is not certain
(docs/openrouter.md#pricing-lines, docs/openrouter.md#price-units).

Pure functions over plain data: the lines come from the server and are untrusted, so an amount that
is not finite, negative or absurd, a unit or variant flux2 does not know, or a duplicate line gives
no rule rather than a guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation

from flux_cli.embedded_catalog import PRICE_UNITS, PriceRule
from flux_cli.pricing import MICROS_PER_USD, TOKENS_PER_MEGAPIXEL

__all__ = ["MAX_USD_PER_LINE", "price_rule_from_lines"]

#: No image model costs more per megapixel than this; a bigger number is a misreading.
MAX_USD_PER_LINE = Decimal(1000)

_OUTPUT_LINE = "output_image"
_INPUT_LINES = frozenset({"input_reference", "input_image"})


def _line_amount(value: object) -> Decimal | None:
    """A line's `cost_usd` as a Decimal, or None unless it is finite, ≥ 0 and sane."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ArithmeticError, ValueError):
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_USD_PER_LINE:
        return None
    return amount


def _line_micros(value: object) -> int | None:
    """A line's `cost_usd` in whole micro-dollars, or None unless it is exact, finite and sane."""
    amount = _line_amount(value)
    if amount is None:
        return None
    micros = amount * MICROS_PER_USD
    if micros != micros.to_integral_value():
        return None  # finer than a micro-dollar: the integer model cannot hold it exactly
    return int(micros)


def _ceil_micros(amount: Decimal) -> int:
    return int((amount * MICROS_PER_USD).to_integral_value(rounding="ROUND_CEILING"))


def price_rule_from_lines(
    lines: object, *, accepts_references: bool = True, embedded: PriceRule | None = None
) -> PriceRule | None:
    """An endpoint's `pricing[]` as a price rule, or None when the mapping is not certain
    (docs/openrouter.md#pricing-lines, docs/openrouter.md#price-units).

    Mapped:
      * output: `output_image` lines in one unit (`megapixel`, `token`, `image`): a single line
        without a variant (every megapixel, token-megapixel or image costs the same), or the
        variants `first` and `additional` (one each). A token price counts 4,096 tokens per
        megapixel, rounded up to a micro-dollar. A single megapixel line equal to the embedded
        first-megapixel price confirms the embedded rule (the model page's further-megapixel and
        input prices; docs/openrouter-flux2.md#prices-on-openrouter).
      * references: at most one `input_reference` or `input_image` line, in the output's unit.
        Without one, the embedded input price, or for another model the output rate (an upper
        bound); nothing when the model takes no references.
      * `input_text` per token prices the prompt; any other line is ignored only when it is $0.
    None for: other units, unknown variants (`2k`, `4k`), duplicates, several input lines, mixed
    units, non-numeric, negative, NaN or absurd amounts.
    """
    if not isinstance(lines, Sequence) or isinstance(lines, (str, bytes)) or not lines:
        return None
    outputs: dict[str | None, list[Decimal]] = {}
    inputs: list[Decimal] = []
    units: set[str] = set()
    prompt_token = 0
    for line in lines:
        if not isinstance(line, Mapping):
            return None
        billable, unit, variant = line.get("billable"), line.get("unit"), line.get("variant")
        amount = _line_amount(line.get("cost_usd"))
        if amount is None or not isinstance(billable, str) or not isinstance(unit, str):
            return None
        if variant is not None and not isinstance(variant, str):
            return None
        if billable == "input_text" and unit == "token" and variant is None:
            prompt_token = _ceil_micros(amount)
            continue
        if billable != _OUTPUT_LINE and billable not in _INPUT_LINES:
            if amount == 0:
                continue  # free fonts and the like change nothing
            return None
        if unit not in PRICE_UNITS:
            return None
        units.add(unit)
        if billable == _OUTPUT_LINE:
            outputs.setdefault(variant, []).append(amount)
        elif variant is not None:
            return None
        else:
            inputs.append(amount)
    if len(units) != 1 or any(len(costs) != 1 for costs in outputs.values()):
        return None
    (unit,) = units

    def micros(amount: Decimal) -> int | None:
        if unit == "token":
            return _ceil_micros(amount * TOKENS_PER_MEGAPIXEL)
        return _line_micros(amount)

    if set(outputs) == {None}:
        first = extra = micros(outputs[None][0])
    elif set(outputs) == {"first", "additional"}:
        first, extra = micros(outputs["first"][0]), micros(outputs["additional"][0])
    else:
        return None
    if first is None or extra is None or len(inputs) > 1:
        return None
    if unit == "image":
        extra = 0
    if (
        embedded is not None
        and unit == embedded.unit == "megapixel"
        and not inputs
        and set(outputs) == {None}
        and first == embedded.first_output_mp
    ):
        return embedded
    input_mp: int | None
    if inputs:
        input_mp = micros(inputs[0])
    elif not accepts_references:
        input_mp = 0
    elif embedded is not None and embedded.unit == unit:
        input_mp = embedded.input_mp
    else:
        input_mp = first  # no input line: references at the output rate, an upper bound
    if input_mp is None:
        return None
    return PriceRule(
        first_output_mp=first,
        extra_output_mp=extra,
        input_mp=input_mp,
        unit=unit,
        prompt_token=prompt_token,
    )
