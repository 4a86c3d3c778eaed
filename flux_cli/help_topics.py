"""The pages of `flux2 help TOPIC`, built from the tables the code itself uses.

Exit codes come from `exit_codes`, template fields and names from `output`, prices and the worked
example from `models` and `pricing`: a page cannot say something the code does not do. Plain text
only (no typer, no rich); the CLI layer decides where it goes. The modules a page needs are imported
when the page is built, so importing this one stays cheap (shell completion of topic names).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flux_cli.exit_codes import ExitCode

__all__ = [
    "DEFAULT_WIDTH",
    "TEMPLATE_FIELD_HELP",
    "TOPICS",
    "Topic",
    "closest",
    "exit_code_advice",
    "exit_codes_page",
    "find_topic",
    "index_page",
    "page_width",
    "pricing_page",
    "templates_page",
]

DEFAULT_WIDTH = 80
MIN_WIDTH = 40
_INDENT = "  "
# Joins the words of a command in running text so a line break never splits it; turned back into
# a plain space after wrapping, so what is copied from the terminal still runs.
_GLUE = "\x1f"


def page_width(columns: int) -> int:
    """Pages are as wide as the terminal, but never wider than 80 columns nor narrower than 40."""
    return max(MIN_WIDTH, min(columns, DEFAULT_WIDTH))


# -- layout --------------------------------------------------------------------------------------


def _cmd(text: str) -> str:
    """`text` (a command, a flag with its value) kept on one line when wrapped."""
    return text.replace(" ", _GLUE)


def _fill(text: str, width: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """`text` wrapped to `width`; `_page` turns the glue back into spaces."""
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=indent,
        subsequent_indent=indent if subsequent is None else subsequent,
        break_long_words=False,
        break_on_hyphens=False,  # `--max-cost` and `exit-codes` stay whole
    ) or [indent.rstrip()]


def _paragraph(text: str, width: int) -> list[str]:
    return _fill(text, width)


def _bullets(items: Sequence[str], width: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        lines.extend(_fill(item, width, _INDENT + "- ", _INDENT + "  "))
    return lines


def _definitions(
    rows: Sequence[tuple[str, str]],
    width: int,
    *,
    max_term: int = 16,
    indent: str = _INDENT,
    column: int | None = None,
) -> list[str]:
    """A two-column list: terms padded to one column, descriptions wrapped beside them. A term
    longer than `max_term` gets its description on the next line (as click's help does)."""
    if column is None:
        column = min(max((len(term) for term, _ in rows), default=0), max_term)
    hang = indent + " " * (column + 2)
    lines: list[str] = []
    for term, text in rows:
        if len(term) > column:
            lines.append(indent + term)
            lines.extend(_fill(text, width, hang))
        else:
            lines.extend(_fill(text, width, indent + term.ljust(column + 2), hang))
    return lines


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: int = 1) -> list[str]:
    """Columns padded to their widest cell; columns from `right` on are right-aligned (money).
    Not wrapped: a table is read across."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i >= right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return (_INDENT + "  ".join(parts)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _page(blocks: Sequence[Sequence[str]]) -> str:
    """Blocks of lines separated by one blank line, ending with a newline; every page ends here."""
    text = "\n\n".join("\n".join(block) for block in blocks if block) + "\n"
    return text.replace(_GLUE, " ")


# -- the index -----------------------------------------------------------------------------------


def index_page(commands: Sequence[tuple[str, str]], width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help`: the topics, the commands (name, one-line summary) and how to get more."""
    topics = [(t.name, t.summary) for t in TOPICS]
    column = max(len(name) for name, _ in (*topics, *commands))
    return _page(
        [
            ["Topics:", *_definitions(topics, width, column=column)],
            ["Commands:", *_definitions(commands, width, column=column)],
            _paragraph(
                f"{_cmd('flux2 help TOPIC')} shows a topic. {_cmd('flux2 help COMMAND')}, or "
                f"{_cmd('flux2 COMMAND --help')}, shows a command's options "
                f"({_cmd('flux2 help config set')} for a sub-command). {_cmd('flux2 --help')} "
                "shows the global options.",
                width,
            ),
        ]
    )


# -- exit codes ----------------------------------------------------------------------------------


def exit_code_advice() -> dict[ExitCode, str]:
    """What a script or cron job should do after each code. A test checks every code has one."""
    from flux_cli.exit_codes import ExitCode as C

    reconcile = _cmd("flux2 history --reconcile")
    return {
        C.OK: "Done: the written paths (or --json lines) are on stdout.",
        C.INTERNAL: "A bug in flux2. Do not loop on it: run once more with --debug and report "
        "the traceback.",
        C.USAGE: "Fix the command or its input; nothing was billed, and the same command fails "
        "the same way again.",
        C.PARTIAL: "Some images were written and some not: the message lists which (with --json, "
        "each line has its status and exit_code). Run again only the failed ones, after reading "
        "their own codes below. A --batch in which nothing was written ends with the first "
        "failure's own code instead.",
        C.AUTH: f"Fix the key ({_cmd('flux2 auth status')} says what is wrong); retrying will "
        "not help.",
        C.CREDITS: f"Add credits or raise the key's limit ({_cmd('flux2 balance')} shows both), "
        "then run again.",
        C.MODERATION: "The prompt or an image was refused; change it rather than retrying.",
        C.BUDGET: "Nothing was sent. Run again once the day or month turns over, or raise "
        "budget.daily_usd, budget.monthly_usd or --max-cost; until then every run is refused "
        f"the same way ({_cmd('flux2 history')} shows the spending).",
        C.UNAVAILABLE: "Safe to retry later: nothing was billed. flux2 has already retried with "
        f"backoff ({_cmd('--retries N')}, default 2), so wait minutes rather than seconds. A run "
        "that found its --lock held by another run also exits 8, at once.",
        C.OUTCOME_UNKNOWN: f"May have been billed: do not simply run again. {reconcile} asks "
        "OpenRouter what became of the call: retry only if it is now failed (not billed); ok "
        "means it was billed although the image was lost; if it is still unknown, reconcile "
        "again later (OpenRouter's record can take minutes to appear). --retry-ambiguous lets "
        "flux2 itself try once more.",
        C.BAD_RESPONSE: "The answer held no usable image, and it may have been billed: run "
        f"{reconcile} before running again, and retry at most once. When paths are on stdout, "
        "every image was written but the charge an answer reported was not believed (huge, "
        "negative, not a number): do not run again; the ledger counts those calls at their "
        "estimates.",
        C.OUTPUT: "The image was paid for but could not be written (disk full, permissions, a "
        "name taken): its bytes are in the rescue directory the message names. Fix the "
        "destination and copy them from there; running again pays again.",
        C.INTERRUPTED: f"Stopped by Ctrl-C: a call in flight may have been billed, so run "
        f"{reconcile} before running again.",
        C.TERMINATED: f"Stopped by SIGTERM (kill, a cron or systemd time limit): as for 130, "
        f"run {reconcile} before running again.",
    }


def exit_codes_page(width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help exit-codes`: every code with its meaning, then what a script should do."""
    from flux_cli.exit_codes import EXIT_CODE_MEANINGS, ExitCode

    def meaning(code: ExitCode) -> str:
        return EXIT_CODE_MEANINGS.get(code, code.name.lower().replace("_", " "))

    advice = exit_code_advice()
    codes = sorted(ExitCode)
    return _page(
        [
            _paragraph(
                "flux2 exit codes. Every command ends with one of these; they never change "
                "meaning.",
                width,
            ),
            _definitions([(str(int(code)), meaning(code)) for code in codes], width),
            [
                "In scripts and cron jobs:",
                *_definitions(
                    [(str(int(code)), advice[code]) for code in codes if code in advice], width
                ),
            ],
            [
                "For example, in a cron job:",
                "",
                *(
                    _INDENT + line
                    for line in (
                        "flux2 generate --batch prompts.txt --lock nightly -o renders/",
                        "case $? in",
                        "  0) ;;                                   # everything was written",
                        "  3) echo 'some items failed: see above' ;;",
                        "  8) echo 'busy or unavailable: try again later' ;;",
                        "  9|10|130|143) flux2 history --reconcile ;;  # may have been billed",
                        "  *) echo 'needs a fix: see flux2 help exit-codes' ;;",
                        "esac",
                    )
                ),
            ],
        ]
    )


# -- output names --------------------------------------------------------------------------------

# One line per field of `output.TEMPLATE_FIELDS`; a test fails when a field has no line here.
TEMPLATE_FIELD_HELP: dict[str, str] = {
    "date": "the local date the image was saved, YYYY-MM-DD",
    "time": "the local time it was saved, HHMMSS",
    "model": "the model's alias (pro, max, flex, klein), or the last part of its id",
    "seed": "the image's seed (picked and reported when --seed is absent)",
    "slug": "the prompt as lower-case ASCII words joined by -, at most 40 characters",
    "index": "the image's number in an -n run, from 1 (in a --batch, its line number)",
    "n": "how many images the -n run makes (1 in a --batch)",
    "ext": "the extension of the image's real format: png, jpg or webp",
    "id": "OpenRouter's generation id, or unknown when none came back",
}


def templates_page(width: int = DEFAULT_WIDTH) -> str:
    """`flux2 help templates`: the forms of -o, the fields, the default name, collisions, cleaning.
    Every example is rendered by the code that names the files."""
    from dataclasses import replace
    from datetime import datetime
    from pathlib import Path

    from flux_cli.output import (
        DEFAULT_TEMPLATE,
        MAX_NAME_BYTES,
        MAX_SUFFIX,
        TEMPLATE_FIELDS,
        NameFields,
        plan_outputs,
        sanitize_component,
        slugify,
    )

    sample = NameFields(
        when=datetime(2026, 11, 21, 14, 57, 55),
        model="pro",
        seed=42,
        prompt="A red fox in the snow",
        index=2,
        n=3,
        fmt="jpeg",
        generation_id="gen-img-1795273075-UInzkEjTkHSpikOuZ2r2",
    )
    values = sample.values()
    jpeg = replace(sample, index=1, n=1)
    png = replace(jpeg, fmt="png")

    def named(spec: str | None, fields: NameFields = jpeg, count: int = 1) -> str:
        plan = plan_outputs(spec, count=count, default_dir=Path("."))
        assert plan.directory is not None
        return str(plan.directory / plan.name_for(fields))

    def numbered(spec: str, count: int) -> str:
        return ", ".join(
            named(spec, replace(png, index=i, n=count), count) for i in range(1, count + 1)
        )

    template = "renders/{model}-{seed}.{ext}"
    fields = [
        (
            "{" + field + "}",
            f"{TEMPLATE_FIELD_HELP.get(field, 'see the README')}; e.g. {values[field]}",
        )
        for field in TEMPLATE_FIELDS
    ]
    taken = Path(named("fox.png", png))
    cleaned = [(repr(name), f"becomes {sanitize_component(name)!r}") for name in _UNSAFE_NAMES]
    accented = "Ein Fuß über Café!"
    return _page(
        [
            _paragraph(
                "flux2 output names. -o takes a file, a directory, a name template, or -:", width
            ),
            _definitions(
                [
                    (
                        "(no -o)",
                        f"the default name in the current directory: {named(None)}",
                    ),
                    ("out/", f"that directory, with the default name: {named('out/')}"),
                    ("fox.png", f"that file; with {_cmd('-n 3')}: {numbered('fox.png', 3)}"),
                    (template, f"a template: {named(template)}"),
                    ("-", "the image bytes on stdout: one image only, refused on a terminal"),
                ],
                width,
                max_term=10,
            ),
            _paragraph(
                "A path ending in / or naming an existing directory is a directory. Only the file "
                "name can be a template; the directories before it are used as given (a leading "
                "~ is expanded). The directory is created if needed and checked for writing "
                "before anything is sent.",
                width,
            ),
            [
                f"Template fields (the examples are image 2 of {_cmd('-n 3')}):",
                *_definitions(fields, width, max_term=8),
            ],
            _paragraph(
                f"A field can take a format spec: {{index:03}} gives {sample.index:03}, "
                f"{{slug:.10}} gives {values['slug']!s:.10}. Write {{{{ and }}}} for literal "
                "braces. An unknown field is a usage error (exit 2) before anything is sent.",
                width,
            ),
            _paragraph(
                f"The default name is {DEFAULT_TEMPLATE}, in the current directory. The "
                "output_template and output_dir settings (FLUX2_OUTPUT_TEMPLATE, FLUX2_OUTPUT_DIR; "
                f"see {_cmd('flux2 config show')}) change them for runs without -o.",
                width,
            ),
            _paragraph(
                "The extension always matches the image's bytes: {ext} is the real format's, and "
                f"a name without an image extension gets one ({_cmd('-o fox')} gives "
                f"{named('fox')} for a JPEG). {_cmd('-o fox.png')} asks for PNG, converting "
                "locally if the model returns JPEG.",
                width,
            ),
            _paragraph(
                f"Existing files are never overwritten: when {taken.name} exists, the first free "
                f"name of {taken.stem}-1{taken.suffix}, {taken.stem}-2{taken.suffix} … "
                f"{taken.stem}-{MAX_SUFFIX}{taken.suffix} is used, and past that the run fails "
                "with exit 11. --force replaces an existing regular file instead (never a link, "
                "a directory or a FIFO). Each file is written under a temporary name in the same "
                "directory, synced, then linked into place, so no reader ever sees half an image.",
                width,
            ),
            [
                *_fill(
                    "Names are cleaned into one safe file name: control and bidi characters are "
                    'dropped; / \\ < > : " | ? * become _; .. becomes .; no leading - . or space '
                    "and no trailing . or space; Windows device names (CON, NUL, COM1 …) get a "
                    f"leading _; a name is cut to {MAX_NAME_BYTES} bytes, keeping its extension.",
                    width,
                ),
                *_definitions(cleaned, width, max_term=20),
            ],
            _paragraph(
                "{slug} keeps only ASCII letters and digits, accents transliterated: "
                f"{accented!r} becomes {slugify(accented)!r}.",
                width,
            ),
        ]
    )


_UNSAFE_NAMES = ("../../etc/passwd", "CON.png", "a/b:c?.png")


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
    table = _table(("model", "first MP", "further MP", "reference MP", big_label), rows, right=1)

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
    example = _table(("", "size", "", "price"), example_rows, right=3)[1:]

    ratio_mps = {billed_megapixels(w, h) for w, h in ASPECT_RATIO_SIZES.values()}
    ratio_note = (
        " Every -a aspect ratio asks for at most 1 MP, so an image made with -a costs the "
        "first-MP price."
        if ratio_mps == {1}
        else ""
    )
    return _page(
        [
            _paragraph(
                "flux2 pricing. FLUX.2 is billed by the megapixel (MP), and flux2 prints the "
                "estimate before every call and the charge after it.",
                width,
            ),
            [
                "The rule:",
                *_bullets(
                    [
                        f"1 MP = 1024×1024 = {MEGAPIXEL:,} pixels.",
                        "Each output image's megapixels are rounded up to a whole number, at "
                        "least 1: the first MP costs the model's first-MP price, each further MP "
                        f"the further-MP price. An image can have at most {max_mp} MP.{ratio_note}",
                        f"Each reference image ({_cmd('flux2 edit -i')}) is billed on its own, "
                        "rounded up, at least 1 MP, at the reference price, at the size flux2 "
                        f"sends: turned upright and shrunk to at most {max_mp} MP "
                        "(--max-input-mp for less). A URL reference that is not downloaded "
                        "counts as 1 MP.",
                        f"{_cmd('-n N')} is N calls: each pays for its output and for the "
                        "references again.",
                    ],
                    width,
                ),
            ],
            ["Prices (embedded table, USD):", *table],
            ["Worked example:", f"{_INDENT}$ {command}", *example],
            _paragraph(
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
                *_definitions(
                    [
                        (
                            "flux2 cost",
                            "what a planned call would cost, offline, e.g. "
                            + _cmd("flux2 cost -m pro -a 16:9 -n 4"),
                        ),
                        ("flux2 models", "every model's current prices and where they came from"),
                    ],
                    width,
                ),
            ],
        ]
    )


# -- topics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Topic:
    name: str
    summary: str
    aliases: tuple[str, ...]
    render: Callable[[int], str]


TOPICS: tuple[Topic, ...] = (
    Topic(
        "exit-codes",
        "What each exit code means, and which ones a script should retry.",
        ("exit", "codes", "exit-code", "exitcodes"),
        exit_codes_page,
    ),
    Topic(
        "templates",
        "-o forms, name template fields, the default name, collisions.",
        ("template", "output", "names", "filenames"),
        templates_page,
    ),
    Topic(
        "pricing",
        "How a call is priced by the megapixel; each model's prices.",
        ("price", "prices"),
        pricing_page,
    ),
)


def _normal(word: str) -> str:
    return word.strip().lower().replace("_", "-")


def find_topic(word: str) -> Topic | None:
    """A topic by its name or an alias, ignoring case (`exit_codes` works too)."""
    wanted = _normal(word)
    return next((t for t in TOPICS if wanted == t.name or wanted in t.aliases), None)


def closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate a typo most likely meant, or None when none is close."""
    import difflib

    matches = difflib.get_close_matches(_normal(word), list(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
