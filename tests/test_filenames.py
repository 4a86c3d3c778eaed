"""File names: slugs, sanitising, name templates and extensions that follow the format."""

from __future__ import annotations

import os
import unicodedata
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flux_cli.errors import UsageError
from flux_cli.filenames import (
    TEMPLATE_FIELDS,
    NameFields,
    render_name,
    sanitize_component,
    slugify,
    with_format_extension,
)
from flux_cli.output import DEFAULT_TEMPLATE

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "200"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None)

FIELDS = NameFields(
    when=datetime(2026, 3, 4, 5, 6, 7),
    model="black-forest-labs/flux.2-pro",
    seed=42,
    prompt="A red fox in the snow!",
    index=2,
    n=3,
    fmt="png",
    generation_id="gen-123",
)


# --- slugs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "slug"),
    [
        ("A red fox in the snow!", "a-red-fox-in-the-snow"),
        ("Crème brûlée, à la carte", "creme-brulee-a-la-carte"),
        ("Straße in Łódź, Ærø", "strasse-in-lodz-aero"),
        ("ＦＵＬＬ width ①", "full-width-1"),
        ("東京の夜", "image"),
        ("   ", "image"),
        ("", "image"),
        ("--a--b--", "a-b"),
        ("rm -rf / ; echo $HOME", "rm-rf-echo-home"),
        ("one two three four five six seven eight nine", "one-two-three-four-five-six-seven-eight"),
        ("x" * 100, "x" * 40),
    ],
)
def test_slugify(prompt: str, slug: str) -> None:
    assert slugify(prompt) == slug


@PROPERTY
@given(st.text(), st.integers(1, 80))
def test_slugify_is_always_a_short_clean_slug(prompt: str, max_len: int) -> None:
    slug = slugify(prompt, max_len=max_len)
    assert slug == "image" or (0 < len(slug) <= max_len)
    assert slug.isascii()
    assert all(part and part.isalnum() for part in slug.split("-"))


# --- sanitising ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "clean"),
    [
        ("fox.png", "fox.png"),
        ("black-forest-labs/flux.2-pro", "black-forest-labs_flux.2-pro"),
        ("..\\..\\windows\\system32", "_._windows_system32"),
        ("../../etc/passwd", "_._etc_passwd"),
        ("..", "image"),
        (".", "image"),
        ("", "image"),
        ("-rf.png", "rf.png"),
        (".hidden.png", "hidden.png"),
        ("--.-.-x", "x"),
        ("name. . ", "name"),
        ("a..b.png", "a.b.png"),
        ("a\nb\rc\td.png", "abcd.png"),
        ("a\x00b\x1b[31mc\x7f\x85.png", "ab[31mc.png"),
        ("\u202egnp.exe", "gnp.exe"),
        ("a\u2066b\u2069c\u200f.png", "abc.png"),
        ('what?<is>:this|"*.png', "what__is__this___.png"),
        ("CON", "_CON"),
        ("con.png", "_con.png"),
        ("Nul.tar.gz", "_Nul.tar.gz"),
        ("LPT9.txt", "_LPT9.txt"),
        ("COM1 .png", "_COM1.png"),
        ("com¹.png", "_com¹.png"),
        ("CONIN$", "_CONIN$"),
        ("CONSOLE.png", "CONSOLE.png"),
        ("COM10.png", "COM10.png"),
        ("e\u0301te\u0301.png", "été.png"),  # NFC
        ("\udcff\ud800x.png", "x.png"),  # lone surrogates
    ],
)
def test_sanitize_component(name: str, clean: str) -> None:
    assert sanitize_component(name) == clean


def test_sanitize_fallback() -> None:
    assert sanitize_component("...", fallback="gen-1.png") == "gen-1.png"
    assert sanitize_component("...", fallback="\x00") == "image"


@pytest.mark.parametrize(
    ("name", "ending"),
    [
        ("x" * 300 + ".png", ".png"),
        ("é" * 200 + ".webp", ".webp"),
        ("東" * 100 + ".jpg", ".jpg"),
        ("y" * 300, "y"),
        ("x" * 250 + "." + "z" * 100, "z"),
    ],
)
def test_sanitize_keeps_names_within_255_bytes(name: str, ending: str) -> None:
    clean = sanitize_component(name)
    assert len(clean.encode()) <= 255
    assert clean.endswith(ending)
    assert len(clean.encode()) > 240


@PROPERTY
@given(st.text())
def test_sanitized_names_are_one_safe_component(name: str) -> None:
    check_safe_component(name)


@PROPERTY
@given(st.text(alphabet=st.sampled_from("./\\-. aCON\x00\n\u202e1é"), max_size=30))
def test_sanitized_names_from_a_hostile_alphabet(name: str) -> None:
    check_safe_component(name)


def check_safe_component(name: str) -> None:
    clean = sanitize_component(name)
    assert clean
    assert clean not in (".", "..")
    assert len(clean.encode("utf-8")) <= 255  # also proves there is no lone surrogate
    assert not any(ch in clean for ch in "/\\\x00\n\r")
    assert not any(unicodedata.category(ch) == "Cc" for ch in clean)
    assert not any("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069" for ch in clean)
    assert not clean.startswith(("-", ".", " "))
    assert not clean.endswith((".", " "))
    assert ".." not in clean
    assert clean.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}
    directory = "/srv/out"
    joined = os.path.join(directory, clean)
    assert os.path.dirname(joined) == directory
    assert os.path.normpath(joined) == joined
    assert sanitize_component(clean) == clean


# --- templates ----------------------------------------------------------------------------------


def test_default_template() -> None:
    assert DEFAULT_TEMPLATE == "{date}-{time}-{model}-{seed}-{slug}.{ext}"
    assert render_name(DEFAULT_TEMPLATE, FIELDS) == (
        "2026-03-04-050607-flux.2-pro-42-a-red-fox-in-the-snow.png"
    )


@pytest.mark.parametrize(
    ("template", "name"),
    [
        ("{seed}-{index}-of-{n}.{ext}", "42-2-of-3.png"),
        ("{index:03}_{slug:.5}.{ext}", "002_a-red.png"),
        ("{id}.{ext}", "gen-123.png"),
        ("{model}", "flux.2-pro"),
        ("{{literal}}-{seed}", "{literal}-42"),
        ("{date}/{time}", "2026-03-04_050607"),
        ("../{seed}", "_42"),
        ("{ext}", "png"),
    ],
)
def test_render_name(template: str, name: str) -> None:
    assert render_name(template, FIELDS) == name


def test_render_name_sanitises_field_values() -> None:
    hostile = NameFields(
        when=datetime(2026, 1, 1),
        model="x",
        seed=1,
        prompt="p",
        generation_id="../../etc/\u202epasswd\n",
    )
    assert render_name("{id}", hostile) == "_._etc_passwd"
    assert render_name("{id}", NameFields(datetime(2026, 1, 1), "x", 1, "p")) == "unknown"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{bogus}.png", "unknown field {bogus}"),
        ("{Seed}", "unknown field {Seed}"),
        ("{date.year}", "unknown field {date.year}"),
        ("{seed[0]}", "unknown field {seed[0]}"),
        ("{}", "empty field"),
        ("{0}", "unknown field {0}"),
        ("{seed", "expected '}'"),
        ("seed}", "Single '}'"),
        ("{seed!r}", "unsupported conversion"),
        ("{index:{n}}", "unsupported conversion"),
        ("{slug:d}", "Unknown format code"),
    ],
)
def test_bad_templates(template: str, problem: str) -> None:
    with pytest.raises(UsageError) as caught:
        render_name(template, FIELDS)
    assert problem in caught.value.message
    assert template in caught.value.message
    assert caught.value.hint is not None
    for field in TEMPLATE_FIELDS:
        assert "{" + field + "}" in caught.value.hint


@pytest.mark.parametrize(
    ("name", "fmt", "result"),
    [
        ("fox.png", "png", "fox.png"),
        ("fox.PNG", "png", "fox.PNG"),
        ("fox.png", "jpeg", "fox.jpg"),
        ("fox.jpeg", "jpeg", "fox.jpeg"),
        ("fox.JPG", "webp", "fox.webp"),
        ("fox", "webp", "fox.webp"),
        ("fox.v2", "png", "fox.v2.png"),
        ("fox.gif", "png", "fox.gif.png"),
    ],
)
def test_with_format_extension(name: str, fmt: str, result: str) -> None:
    assert with_format_extension(name, fmt) == result


def test_with_format_extension_refuses_unknown_formats() -> None:
    with pytest.raises(ValueError, match="gif"):
        with_format_extension("fox.png", "gif")
