"""`flux2 help [TOPIC | COMMAND]`: pages built from the code's own tables, on stdout, plain text."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flux_cli.cli.registry import app
from flux_cli.embedded_catalog import MODELS
from flux_cli.exit_codes import EXIT_CODE_MEANINGS, ExitCode
from flux_cli.filenames import TEMPLATE_FIELDS, NameFields
from flux_cli.help_topics import (
    TEMPLATE_FIELD_HELP,
    TOPICS,
    exit_code_advice,
    find_topic,
)
from flux_cli.output import DEFAULT_TEMPLATE

runner = CliRunner()
_INSTALLED = Path(sys.executable).parent / "flux2"
FLUX2 = [str(_INSTALLED)] if _INSTALLED.exists() else [sys.executable, "-m", "flux_cli"]
ANSI = re.compile(r"\x1b[\[\]()]")


def flux2(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it (stdout and stderr are pipes)."""
    return subprocess.run(
        [*FLUX2, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
        check=False,
    )


def page(*args: str) -> str:
    result = flux2("help", *args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def flat(text: str) -> str:
    """The text with its line wrapping undone, to look for sentences in it."""
    return " ".join(text.split())


def command_names() -> list[str]:
    names = [c.name for c in app.registered_commands if c.name and c.name != "help"]
    names += [g.name for g in app.registered_groups if g.name]
    return names


# -- flux2 help ----------------------------------------------------------------------------------


def test_index_lists_every_topic_and_command_then_how_to_get_more() -> None:
    text = page()
    lines = text.splitlines()
    for topic in TOPICS:
        assert any(line.split()[:1] == [topic.name] for line in lines), topic.name
        assert topic.summary in flat(text)
    for name in command_names():
        assert any(line.split()[:1] == [name] for line in lines), name
    tail = flat(text.split("Commands:", 1)[1])
    assert "flux2 help TOPIC" in tail
    assert "flux2 COMMAND --help" in tail


def test_help_is_a_command_with_its_own_help() -> None:
    listing = flux2("--help")
    assert re.search(r"^\s+help\s+\S", listing.stdout, re.MULTILINE)
    own = flux2("help", "--help")
    assert own.returncode == 0
    assert own.stdout.startswith("Usage: flux2 help ")


# -- exit codes ----------------------------------------------------------------------------------


def test_every_exit_code_has_a_meaning_and_advice() -> None:
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)
    assert set(exit_code_advice()) == set(ExitCode)


def test_exit_codes_page_lists_every_code_with_its_meaning() -> None:
    text = page("exit-codes")
    table = text.split("In scripts and cron jobs:", 1)[0]
    for code in ExitCode:
        match = re.search(rf"^  {int(code)} +(.+(?:\n {{4,}}\S.*)*)", table, re.MULTILINE)
        assert match is not None, code
        assert flat(match.group(1)) == EXIT_CODE_MEANINGS[code]


def test_exit_codes_page_says_what_a_script_should_retry() -> None:
    advice_text = page("exit-codes").split("In scripts and cron jobs:", 1)[1]

    def advice(code: int) -> str:
        match = re.search(rf"^  {code} +(.+(?:\n {{4,}}\S.*)*)", advice_text, re.MULTILINE)
        assert match is not None, code
        return flat(match.group(1))

    assert "Safe to retry later" in advice(8)
    assert "nothing was billed" in advice(8)
    assert "--lock" in advice(8)
    assert "May have been billed" in advice(9)
    assert "flux2 history --reconcile" in advice(9)
    assert "Nothing was sent" in advice(7)
    assert "flux2 auth status" in advice(4)
    for code in (10, 130, 143):
        assert "flux2 history --reconcile" in advice(code), code
    assert "rescue" in advice(11)


@pytest.mark.parametrize("alias", ["exit", "codes", "EXIT_CODES", "exit-code"])
def test_topic_aliases_show_the_same_page(alias: str) -> None:
    canonical = runner.invoke(app, ["help", "exit-codes"])
    aliased = runner.invoke(app, ["help", alias])
    assert aliased.exit_code == 0
    assert aliased.stdout == canonical.stdout
    assert find_topic(alias) is find_topic("exit-codes")


# -- templates -----------------------------------------------------------------------------------


def test_the_expander_and_the_page_use_the_same_fields() -> None:
    sample = NameFields(when=datetime(2026, 1, 2, 3, 4, 5), model="pro", seed=1, prompt="x")
    assert tuple(sample.values()) == TEMPLATE_FIELDS
    assert set(TEMPLATE_FIELD_HELP) == set(TEMPLATE_FIELDS)


def test_templates_page_explains_every_field_and_the_rules() -> None:
    text = page("templates")
    for field in TEMPLATE_FIELDS:
        match = re.search(rf"^  \{{{field}\}} +(.+(?:\n {{4,}}\S.*)*)", text, re.MULTILINE)
        assert match is not None, field
        described = flat(match.group(1))
        assert described.startswith(TEMPLATE_FIELD_HELP[field]), field
        assert "e.g. " in described, field
    prose = flat(text)
    assert DEFAULT_TEMPLATE in prose
    for form in ("(no -o)", "out/", "fox.png", "-"):
        assert re.search(rf"^  {re.escape(form)} ", text, re.MULTILINE), form
    assert "fox-1.png, fox-2.png" in prose  # collisions, and -n with a file name
    assert "--force" in prose
    assert "'CON.png' becomes '_CON.png'" in prose


# -- pricing -------------------------------------------------------------------------------------


def cost(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["cost", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def total(*args: str) -> Decimal:
    return Decimal(str(cost(*args)["total_usd"]))


def usd(text: str) -> Decimal:
    return Decimal(text.removeprefix("$"))


def test_pricing_page_prices_are_what_flux2_cost_computes() -> None:
    text = page("pricing")
    rows = {
        m.group(1): [usd(v) for v in m.group(2, 3, 4, 5)]
        for m in re.finditer(
            r"^  (\w+) \(\S+\) +(\$\S+) +(\$\S+) +(\$\S+) +(\$\S+)$", text, re.MULTILINE
        )
    }
    assert set(rows) == {m.alias for m in MODELS}
    for alias, (first, further, reference, big) in rows.items():
        one = total("-m", alias)  # the default size, 1024×1024: one megapixel
        assert first == one, alias
        assert further == total("-m", alias, "--size", "2048x1024") - one, alias
        assert reference == total("-m", alias, "-i", "1024x1024") - one, alias
        assert big == total("-m", alias, "--size", "2048x2048"), alias


def test_pricing_worked_example_is_what_flux2_cost_computes() -> None:
    text = page("pricing")
    command = re.search(r"^  \$ (flux2 cost .+)$", text, re.MULTILINE)
    assert command is not None
    data = cost(*shlex.split(command.group(1))[2:])
    example = text.split(command.group(0), 1)[1].split("\n\n", 1)[0]
    prices = [usd(line.split()[-1]) for line in example.strip().splitlines()]
    lines = data["lines"]
    assert isinstance(lines, list)
    assert prices[:-1] == [Decimal(str(line["usd"])) for line in lines]
    assert prices[-1] == Decimal(str(data["total_usd"]))


def test_pricing_page_states_the_rule_and_where_prices_come_from() -> None:
    prose = flat(page("pricing"))
    assert "1 MP = 1024×1024 = 1,048,576 pixels" in prose
    assert "rounded up" in prose
    assert "at least 1" in prose
    assert "embedded" in prose
    assert "live catalog" in prose
    assert "flux2 cost" in prose
    assert "flux2 models" in prose


# -- commands, errors, output --------------------------------------------------------------------


def test_help_command_is_the_commands_own_help() -> None:
    assert page("generate") == flux2("generate", "--help").stdout


@pytest.mark.parametrize("words", [["edit"], ["cost"], ["config"], ["config", "set"], ["auth"]])
def test_help_for_commands_and_sub_commands(words: list[str]) -> None:
    via_help = runner.invoke(app, ["help", *words])
    direct = runner.invoke(app, [*words, "--help"])
    assert via_help.exit_code == direct.exit_code == 0
    assert via_help.stdout == direct.stdout


@pytest.mark.parametrize(
    ("words", "suggestion"),
    [
        (["pricng"], "pricing"),
        (["exit-cods"], "exit-codes"),
        (["genrate"], "generate"),
        (["zz"], None),
    ],
)
def test_unknown_topic_is_a_usage_error_naming_the_topics(
    words: list[str], suggestion: str | None
) -> None:
    result = flux2("help", *words)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("flux2: error: ")
    for topic in TOPICS:
        assert topic.name in result.stderr
    if suggestion:
        assert f"did you mean {suggestion!r}?" in result.stderr
    else:
        assert "did you mean" not in result.stderr


def test_unknown_sub_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["help", "config", "nope"])
    assert result.exit_code == 2
    assert result.stdout == ""


@pytest.mark.parametrize("args", [[], ["exit-codes"], ["templates"], ["pricing"], ["generate"]])
def test_pages_are_plain_text_when_piped_even_with_colour_allowed(args: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    result = subprocess.run(
        [*FLUX2, "help", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stdout.strip()
    assert not ANSI.search(result.stdout)
    # no control characters at all: neither escapes nor the wrapper's word glue (\x1f)
    assert all(char == "\n" or char.isprintable() for char in result.stdout)
    assert result.stderr == ""


@pytest.mark.parametrize("columns", ["200", "60"])
def test_topic_prose_is_wrapped_to_the_terminal_at_most_80_columns(columns: str) -> None:
    width = min(int(columns), 80)
    for topic in TOPICS:
        result = runner.invoke(app, ["help", topic.name], env={"COLUMNS": columns})
        assert result.exit_code == 0
        blocks = result.stdout.split("\n\n")
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, topic.name
        # Prose (blocks with no two-space-indented rows: not tables or code) fits the terminal.
        for block in blocks:
            if not any(line.startswith("  ") for line in block.splitlines()):
                assert max(len(line) for line in block.splitlines()) <= width, (topic.name, block)


def test_the_pages_do_not_need_typer_or_rich() -> None:
    code = (
        "import sys\n"
        "from flux_cli import help_topics as h\n"
        "for t in h.TOPICS: t.render(80)\n"
        "h.index_page([('generate', 'Generate images.')])\n"
        "heavy = {'typer', 'rich', 'PIL', 'httpx', 'sqlite3'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- completion ----------------------------------------------------------------------------------


def _complete(words: str) -> list[str]:
    env = {
        **os.environ,
        "_FLUX2_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split(" ")) - 1),
    }
    result = subprocess.run(FLUX2, env=env, capture_output=True, text=True, check=False, timeout=30)
    return result.stdout.split()


def test_tab_completes_topics_commands_and_sub_commands() -> None:
    offered = _complete("flux2 help ")
    assert [t.name for t in TOPICS] == offered[: len(TOPICS)]
    assert set(command_names()) <= set(offered)
    assert _complete("flux2 help pr") == ["pricing"]
    assert _complete("flux2 help ex") == ["exit-codes"]
    assert _complete("flux2 help te") == ["templates"]
    assert set(_complete("flux2 help config ")) >= {"show", "get", "set", "unset", "path"}
    assert "help" in _complete("flux2 he")


def test_command_summaries_get_what_the_index_leaves_and_at_least_20_columns() -> None:
    from flux_cli.help_topics import TOPICS, summary_width

    longest = max(len(topic.name) for topic in TOPICS)
    assert summary_width(["cost"], 80) == 80 - longest - 4
    assert summary_width(["a-very-long-command-name-indeed"], 80) == 80 - 31 - 4
    assert summary_width(["cost"], 30) == 20
