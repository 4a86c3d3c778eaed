"""`flux2 help pricing`: the megapixel rule, the embedded prices and a worked example."""

from __future__ import annotations

from flux_cli.help_topics.layout import (
    DEFAULT_WIDTH,
    INDENT,
    bullets,
    cmd,
    definitions,
    page,
    paragraph,
    text_table,
)

# -- pricing -------------------------------------------------------------------------------------


def pricing_page(width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help pricing`: the rule, the embedded prices per model, and a worked example priced
    by the same functions `flux2 cost` uses."""
    from decimal import Decimal

    from flux_cli.embedded_catalog import ASPECT_RATIO_SIZES, MODELS
    from flux_cli.pricing import (
        MEGAPIXEL,
        billed_megapixels,
        estimate,
        format_usd,
        megapixels,
        output_cost,
    )
    from flux_cli.sizes import MAX_PIXELS

    cent = Decimal("0.01")
    max_mp = MAX_PIXELS // MEGAPIXEL
    big = (2048, 2048) if billed_megapixels(2048, 2048) <= max_mp else (1024, 1024)
    big_label = f"{big[0]}×{big[1]}"
    rows = [
        (
            f"{m.alias} ({m.slug})",
            format_usd(m.price.first_output_mp),
            format_usd(m.price.extra_output_mp),
            format_usd(m.price.input_mp),
            format_usd(output_cost(m.price, *big)),
        )
        for m in MODELS
    ]
    table = text_table(
        ("model", "first MP", "further MP", "reference MP", big_label), rows, right=1
    )

    example_model = next((m for m in MODELS if m.alias == "max"), MODELS[0])
    rule = example_model.price
    output = (2048, 2048)
    references = [(1024, 1024), (1536, 1024)]
    worked = estimate(rule, output, references)
    command = f"flux2 cost -m {example_model.alias} --size {output[0]}x{output[1]}" + "".join(
        f" -i {w}x{h}" for w, h in references
    )
    example_rows: list[tuple[str, str, str, str]] = []
    number = 0
    for line in worked.lines:
        size = (
            f"{line.width}×{line.height} = {megapixels(line.width, line.height).quantize(cent)} MP"
        )
        if line.kind == "output":
            label = "output"
            sum_text = format_usd(rule.first_output_mp)
            if line.billed_mp > 1:
                sum_text += f" + {line.billed_mp - 1} × {format_usd(rule.extra_output_mp)}"
        else:
            number += 1
            label = f"reference {number}"
            sum_text = f"{line.billed_mp} × {format_usd(rule.input_mp)}"
        example_rows.append(
            (label, size, f"billed {line.billed_mp}", f"{sum_text} = {format_usd(line.micros)}")
        )
    example_rows.append(("total", "", "", format_usd(worked.total_micros)))
    example = text_table(("", "size", "", "price"), example_rows, right=3)[1:]

    ratio_mps = {billed_megapixels(w, h) for w, h in ASPECT_RATIO_SIZES.values()}
    ratio_note = (
        " Every -a aspect ratio asks for at most 1 MP, so an image made with -a costs the "
        "first-MP price."
        if ratio_mps == {1}
        else ""
    )
    return page(
        [
            paragraph(
                "flux2 pricing. FLUX.2 is billed by the megapixel (MP), and flux2 prints the "
                "estimate before every call and the charge after it.",
                width,
            ),
            [
                "The rule:",
                *bullets(
                    [
                        f"1 MP = 1024×1024 = {MEGAPIXEL:,} pixels.",
                        "Each output image's megapixels are rounded up to a whole number, at "
                        "least 1: the first MP costs the model's first-MP price, each further MP "
                        f"the further-MP price. An image can have at most {max_mp} MP.{ratio_note}",
                        f"Each reference image ({cmd('flux2 edit -i')}) is billed on its own, "
                        "rounded up, at least 1 MP, at the reference price, at the size flux2 "
                        f"sends: turned upright and shrunk to at most {max_mp} MP "
                        "(--max-input-mp for less). A URL reference that is not downloaded "
                        "counts as 1 MP.",
                        f"{cmd('-n N')} is N calls: each pays for its output and for the "
                        "references again.",
                    ],
                    width,
                ),
            ],
            ["Prices (embedded table, USD):", *table],
            ["Worked example:", f"{INDENT}$ {command}", *example],
            paragraph(
                "Where prices come from: the table above is built into flux2 (from OpenRouter's "
                "model pages) and works offline. generate, edit and models use OpenRouter's live "
                "catalog, cached for 24 hours per API; cost uses the cached copy, or fetches it "
                "with --refresh. A live price is used where its pricing lines map onto this "
                "rule, the built-in one otherwise, and every estimate says which (embedded "
                "table, or live catalog and its age). After a call, the charge shown is what "
                "OpenRouter reports, with its difference from the estimate. Money is counted "
                "in whole micro-dollars, never in binary floating point.",
                width,
            ),
            [
                "See also:",
                *definitions(
                    [
                        (
                            "flux2 cost",
                            "what a planned call would cost, offline, e.g. "
                            + cmd("flux2 cost -m pro -a 16:9 -n 4"),
                        ),
                        ("flux2 models", "every model's current prices and where they came from"),
                    ],
                    width,
                ),
            ],
        ]
    )
