"""`flux2 config show | get | set | unset | path`."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from flux_cli.cli.registry import app
from flux_cli.config import config_path, load_settings, read_document
from flux_cli.config_schema import KEYS
from tests.cli.test_completions import _complete
from tests.conftest import CANARY_KEY
from tests.test_config import write_config

runner = CliRunner()
README = Path(__file__).parents[2] / "README.md"


def flux2(*args: str, env: dict[str, str] | None = None) -> Result:
    result = runner.invoke(app, ["config", *args], env=env)
    for text in (result.stdout, result.stderr):
        assert CANARY_KEY not in text
        assert CANARY_KEY[9:] not in text
        assert "Traceback" not in text
    return result


def said(result: Result) -> str:
    """stderr with line wrapping undone (messages wrap at the console width)."""
    return " ".join(result.stderr.split())


def test_show_lists_every_key_with_its_default() -> None:
    result = flux2("show", env={"OPENROUTER_API_KEY": CANARY_KEY})
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(KEYS)
    assert lines[0].split() == ["model", "pro", "default"]
    assert lines[1].split() == ["aspect_ratio", "-", "default"]
    assert result.stderr == ""
    assert not config_path().exists()  # looking creates nothing


def test_show_says_where_each_value_comes_from(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config('model = "max"\nformat = "png"\n[budget]\ndaily_usd = "2.00"\n')
    monkeypatch.setenv("FLUX2_MODEL", "klein")
    result = flux2("show")
    assert result.exit_code == 0, result.stderr
    rows = {line.split()[0]: line.split(None, 2)[1:] for line in result.stdout.splitlines()}
    assert rows["model"] == ["klein", "env FLUX2_MODEL"]
    assert rows["format"] == ["png", f"file {path}"]
    assert rows["budget.daily_usd"] == ["2.00", f"file {path}"]
    assert rows["route"] == ["images", "default"]


def test_show_json_is_one_object(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config("concurrency = 8\n[budget]\nmonthly_usd = 12.5\n")
    monkeypatch.setenv("FLUX2_STORE_PROMPTS", "off")
    result = flux2("show", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["path"] == str(path)
    assert list(data["settings"]) == list(KEYS)
    settings = data["settings"]
    assert settings["concurrency"] == {
        "value": 8,
        "source": f"file {path}",
        "type": "integer 1-256",
        "env": "FLUX2_CONCURRENCY",
        "default": 4,
    }
    assert settings["budget.monthly_usd"]["value"] == 12.5
    assert settings["history.store_prompts"]["value"] is False
    assert settings["history.store_prompts"]["source"] == "env FLUX2_STORE_PROMPTS"
    assert settings["aspect_ratio"]["value"] is None


def test_set_get_unset_round_trip() -> None:
    assert flux2("get", "model").stdout == "pro\n"
    result = flux2("set", "model", "MAX")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert f"set model = max in {config_path()}" in said(result)
    assert flux2("get", "model").stdout == "max\n"
    assert flux2("set", "budget.daily_usd", "$0.50").exit_code == 0
    assert flux2("set", "history.store_prompts", "no").exit_code == 0
    assert flux2("set", "format", "jpg").exit_code == 0
    assert flux2("get", "budget.daily_usd").stdout == "0.50\n"
    assert flux2("get", "history.store_prompts").stdout == "false\n"
    assert flux2("get", "format").stdout == "jpeg\n"
    assert read_document(config_path()) == {
        "model": "max",
        "format": "jpeg",
        "budget": {"daily_usd": "0.50"},
        "history": {"store_prompts": False},
    }
    loaded = load_settings()  # what generate and the budgets read
    assert (loaded.model, loaded.image_format, loaded.daily_budget_micros) == (
        "max",
        "jpeg",
        500_000,
    )
    assert loaded.store_prompts is False

    result = flux2("unset", "budget.daily_usd")
    assert result.exit_code == 0, result.stderr
    assert "removed budget.daily_usd" in result.stderr
    assert flux2("get", "budget.daily_usd").stdout == "\n"  # unset: an empty value
    assert "budget" not in read_document(config_path())
    again = flux2("unset", "budget.daily_usd")
    assert again.exit_code == 0
    assert "not set" in again.stderr


def test_set_keeps_other_keys_and_tables_it_does_not_know() -> None:
    write_config(
        '# mine\nmodel = "flex"\nfuture = [1, 2]\n[budget]\nmonthly_usd = "9"\n'
        "[plugins.x]\nenabled = true\n"
    )
    assert flux2("set", "budget.daily_usd", "1").exit_code == 0
    assert read_document(config_path()) == {
        "model": "flex",
        "future": [1, 2],
        "budget": {"monthly_usd": "9", "daily_usd": "1"},
        "plugins": {"x": {"enabled": True}},
    }


def test_set_and_unset_keep_the_users_comments_and_layout() -> None:
    original = (
        "# my flux2 settings\n"
        "\n"
        'model = "flex"   # the cheap one while I try things\n'
        "\n"
        "# money\n"
        "[budget]\n"
        'monthly_usd = "9"  # hard stop\n'
    )
    write_config(original)
    assert flux2("set", "model", "max").exit_code == 0
    assert flux2("set", "budget.daily_usd", "1").exit_code == 0
    text = config_path().read_text(encoding="utf-8")
    assert text.startswith('# my flux2 settings\n\nmodel = "max"   # the cheap one')
    assert '# money\n[budget]\nmonthly_usd = "9"  # hard stop\n' in text
    assert read_document(config_path())["budget"] == {"monthly_usd": "9", "daily_usd": "1"}
    assert flux2("unset", "budget.daily_usd").exit_code == 0
    assert flux2("set", "model", "flex").exit_code == 0
    assert config_path().read_text(encoding="utf-8") == original


def test_the_written_file_is_private() -> None:
    directory = config_path().parent
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    assert flux2("set", "route", "chat").exit_code == 0
    assert stat.S_IMODE(config_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("format", "gif", "format must be one of png, jpeg, webp"),
        ("concurrency", "0", "concurrency must be a whole number from 1 to 256"),
        ("budget.daily_usd", "-5", "budget.daily_usd must be an amount in USD"),
        ("history.store_prompts", "perhaps", "history.store_prompts must be true or false"),
        ("metadata", "everything", "full, minimal, none"),
        ("output_template", "{oops}.png", "unknown field {oops}"),
        ("model", "two words", "pro, max, flex, klein"),
    ],
)
def test_bad_values_are_refused_and_nothing_is_written(key: str, value: str, words: str) -> None:
    path = write_config('model = "max"\n')
    before = path.read_bytes()
    result = flux2("set", key, "--", value)
    assert result.exit_code == 2
    assert words in said(result)
    assert result.stdout == ""
    assert path.read_bytes() == before


def test_unknown_keys_are_usage_errors_listing_the_known_ones() -> None:
    for command in (["get", "colour"], ["set", "colour", "red"], ["unset", "colour"]):
        result = flux2(*command)
        assert result.exit_code == 2, command
        assert "unknown config key 'colour'" in result.stderr
        assert "known keys: model, aspect_ratio" in said(result)
    assert not config_path().exists()


def test_the_api_key_is_not_a_setting() -> None:
    result = flux2("set", "api_key", CANARY_KEY)
    assert result.exit_code == 2
    assert "flux2 auth login" in result.stderr
    assert not config_path().exists()


@pytest.mark.parametrize(
    "command",
    [["show"], ["show", "--json"], ["get", "model"], ["set", "model", "max"], ["unset", "model"]],
)
def test_a_corrupt_file_is_exit_2_naming_it_and_is_not_overwritten(command: list[str]) -> None:
    path = write_config('model = "max"\n[budget\n')
    result = flux2(*command)
    assert result.exit_code == 2
    assert f"the config file {path} is not valid TOML" in said(result)
    assert result.stdout == ""
    assert path.read_text() == 'model = "max"\n[budget\n'


def test_a_bad_value_in_the_file_can_still_be_fixed() -> None:
    path = write_config('format = "gif"\n')
    shown = flux2("show")
    assert shown.exit_code == 2
    assert f"format must be one of png, jpeg, webp (got 'gif' from {path})" in said(shown)
    assert flux2("get", "model").stdout == "pro\n"  # other keys still read
    assert flux2("set", "format", "png").exit_code == 0
    assert flux2("show").exit_code == 0


def test_the_environment_wins_and_set_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX2_API", "chat")
    result = flux2("set", "route", "images")
    assert result.exit_code == 0
    assert "FLUX2_API is set in the environment and wins over the file" in said(result)
    assert flux2("get", "route").stdout == "chat\n"
    monkeypatch.setenv("FLUX2_API", "smoke-signals")
    bad = flux2("get", "route")
    assert bad.exit_code == 2
    assert "FLUX2_API" in bad.stderr


def test_path_prints_the_file_path() -> None:
    result = flux2("path")
    assert result.exit_code == 0
    assert result.stdout == f"{config_path()}\n"
    assert Path(result.stdout.strip()) == Path(os.environ["FLUX2_CONFIG_DIR"]) / "config.toml"


# -- help, README, completion --------------------------------------------------------------------

SUBCOMMANDS = ["show", "get", "set", "unset", "path"]


def test_every_subcommand_has_help_and_a_readme_mention() -> None:
    readme = README.read_text(encoding="utf-8")
    assert "flux2 config" in readme
    top = runner.invoke(app, ["config", "--help"])
    assert top.exit_code == 0
    for name in SUBCOMMANDS:
        assert name in top.stdout
        result = runner.invoke(app, ["config", name, "--help"])
        assert result.exit_code == 0, name
        assert f"Usage: flux2 config {name}" in result.stdout
        body = result.stdout.split("\n\n", 2)[1].strip()
        assert len(body) > 20, name
        assert f"flux2 config {name}" in readme, name


def test_set_help_lists_every_key_and_the_readme_documents_them() -> None:
    result = runner.invoke(app, ["config", "set", "--help"], env={"COLUMNS": "200"})
    readme = README.read_text(encoding="utf-8")
    for key, entry in KEYS.items():
        assert key in result.stdout, key
        assert f"`{key}`" in readme, key
        assert entry.env in readme, entry.env


def test_tab_completes_keys_and_values() -> None:
    assert _complete("flux2 config set budget.") == [
        "budget.daily_usd",
        "budget.monthly_usd",
        "budget.timezone",
    ]
    assert _complete("flux2 config set format ") == ["png", "jpeg", "webp"]
