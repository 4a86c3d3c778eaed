"""`flux2 help templates`: the forms of -o, the name template fields, collisions and cleaning."""

from __future__ import annotations

from flux_cli.help_topics.layout import DEFAULT_WIDTH, cmd, definitions, fill, page, paragraph

# -- output names --------------------------------------------------------------------------------

# One line per field of `filenames.TEMPLATE_FIELDS`; a test fails when a field has no line here.
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

    from flux_cli.atomic_write import MAX_SUFFIX
    from flux_cli.filenames import (
        MAX_NAME_BYTES,
        TEMPLATE_FIELDS,
        NameFields,
        sanitize_component,
        slugify,
    )
    from flux_cli.output import DEFAULT_TEMPLATE, plan_outputs

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
    return page(
        [
            paragraph(
                "flux2 output names. -o takes a file, a directory, a name template, or -:", width
            ),
            definitions(
                [
                    (
                        "(no -o)",
                        f"the default name in the current directory: {named(None)}",
                    ),
                    ("out/", f"that directory, with the default name: {named('out/')}"),
                    ("fox.png", f"that file; with {cmd('-n 3')}: {numbered('fox.png', 3)}"),
                    (template, f"a template: {named(template)}"),
                    ("-", "the image bytes on stdout: one image only, refused on a terminal"),
                ],
                width,
                max_term=10,
            ),
            paragraph(
                "A path ending in / or naming an existing directory is a directory. Only the file "
                "name can be a template; the directories before it are used as given (a leading "
                "~ is expanded). The directory is created if needed and checked for writing "
                "before anything is sent.",
                width,
            ),
            [
                f"Template fields (the examples are image 2 of {cmd('-n 3')}):",
                *definitions(fields, width, max_term=8),
            ],
            paragraph(
                f"A field can take a format spec: {{index:03}} gives {sample.index:03}, "
                f"{{slug:.10}} gives {values['slug']!s:.10}. Write {{{{ and }}}} for literal "
                "braces. An unknown field is a usage error (exit 2) before anything is sent.",
                width,
            ),
            paragraph(
                f"The default name is {DEFAULT_TEMPLATE}, in the current directory. The "
                "output_template and output_dir settings (FLUX2_OUTPUT_TEMPLATE, FLUX2_OUTPUT_DIR; "
                f"see {cmd('flux2 config show')}) change them for runs without -o.",
                width,
            ),
            paragraph(
                "The extension always matches the image's bytes: {ext} is the real format's, and "
                f"a name without an image extension gets one ({cmd('-o fox')} gives "
                f"{named('fox')} for a JPEG). {cmd('-o fox.png')} asks for PNG, converting "
                "locally if the model returns JPEG.",
                width,
            ),
            paragraph(
                f"Existing files are never overwritten: when {taken.name} exists, the first free "
                f"name of {taken.stem}-1{taken.suffix}, {taken.stem}-2{taken.suffix} … "
                f"{taken.stem}-{MAX_SUFFIX}{taken.suffix} is used, and past that the run fails "
                "with exit 11. --force replaces an existing regular file instead (never a link, "
                "a directory or a FIFO). Each file is written under a temporary name in the same "
                "directory, synced, then linked into place, so no reader ever sees half an image.",
                width,
            ),
            [
                *fill(
                    "Names are cleaned into one safe file name: control and bidi characters are "
                    'dropped; / \\ < > : " | ? * become _; .. becomes .; no leading - . or space '
                    "and no trailing . or space; Windows device names (CON, NUL, COM1 …) get a "
                    f"leading _; a name is cut to {MAX_NAME_BYTES} bytes, keeping its extension.",
                    width,
                ),
                *definitions(cleaned, width, max_term=20),
            ],
            paragraph(
                "{slug} keeps only ASCII letters and digits, accents transliterated: "
                f"{accented!r} becomes {slugify(accented)!r}.",
                width,
            ),
        ]
    )


_UNSAFE_NAMES = ("../../etc/passwd", "CON.png", "a/b:c?.png")
