"""Settings: one schema, precedence env > file > default, validation, and the TOML writer."""

from __future__ import annotations

import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flux_cli import config_schema
from flux_cli.config import config_path, effective, load_settings, load_values, read_document
from flux_cli.config_edit import set_in_file, unset_in_file
from flux_cli.config_schema import KEYS, SCHEMA
from flux_cli.errors import UsageError
from flux_cli.output import DEFAULT_TEMPLATE


def write_config(text: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# -- the schema ----------------------------------------------------------------------------------


def test_every_key_is_declared_once_with_its_variable_and_a_valid_default() -> None:
    assert len(KEYS) == len(SCHEMA) == 16
    assert len({s.env for s in SCHEMA}) == len(SCHEMA)
    for entry in SCHEMA:
        assert entry.env.startswith("FLUX2_"), entry.key
        assert len(entry.description) > 10, entry.key
        if entry.default is not None:
            assert entry.parse(entry.default) == entry.default, entry.key
        for choice in entry.choices:
            entry.parse(choice)
    assert KEYS["route"].env == "FLUX2_API"


def test_the_default_template_is_the_one_output_uses() -> None:
    assert config_schema.DEFAULT_OUTPUT_TEMPLATE == DEFAULT_TEMPLATE


def test_defaults_when_nothing_is_set() -> None:
    loaded = load_settings()
    assert (loaded.model, loaded.aspect_ratio, loaded.image_format) == ("pro", None, None)
    assert (loaded.output_dir, loaded.output_template) == (None, DEFAULT_TEMPLATE)
    assert (loaded.metadata, loaded.route, loaded.concurrency) == ("full", "images", 4)
    assert (loaded.daily_budget_micros, loaded.monthly_budget_micros) == (None, None)
    assert loaded.store_prompts is True
    assert loaded.source is not None
    assert set(loaded.source.values()) == {"default"}


# -- values --------------------------------------------------------------------------------------

GOOD = [
    ("model", "MAX", "max"),
    ("model", "black-forest-labs/flux.2-pro", "black-forest-labs/flux.2-pro"),
    (
        "model",
        "google/gemini-2.5-flash-image-preview:free",
        "google/gemini-2.5-flash-image-preview:free",
    ),
    ("aspect_ratio", "16:9", "16:9"),
    ("aspect_ratio", " Auto ", "auto"),
    ("aspect_ratio", "5:4", "5:4"),
    ("format", "JPG", "jpeg"),
    ("format", "webp", "webp"),
    ("output_dir", "~/Pictures/flux", "~/Pictures/flux"),
    ("output_template", "{seed}-{slug}.{ext}", "{seed}-{slug}.{ext}"),
    ("metadata", "minimal", "minimal"),
    ("route", "chat", "chat"),
    ("concurrency", "1", 1),
    ("concurrency", 32, 32),
    ("budget.daily_usd", "$5.00", Decimal("5.00")),
    ("budget.daily_usd", "0", Decimal("0")),
    ("budget.monthly_usd", Decimal("0.1"), Decimal("0.1")),
    ("budget.monthly_usd", 20, Decimal("20")),
    ("history.store_prompts", "no", False),
    ("history.store_prompts", "ON", True),
    ("history.store_prompts", False, False),
]
BAD = [
    ("model", "", "must not be empty"),
    ("model", "not a model", "pro, max, flex, klein"),
    ("model", 5, "must be a string"),
    ("aspect_ratio", "wide", "auto or W:H"),
    ("aspect_ratio", "0:1", "1:1 4:3"),
    ("format", "gif", "png, jpeg, webp"),
    ("output_template", "{nope}.png", "unknown field"),
    ("output_template", "{seed", "name template"),
    ("metadata", "all", "full, minimal, none"),
    ("route", "responses", "images, chat"),
    ("concurrency", "0", "from 1 to 256"),
    ("concurrency", "257", "from 1 to 256"),
    ("concurrency", "four", "from 1 to 256"),
    ("concurrency", True, "from 1 to 256"),
    ("concurrency", 2.5, "from 1 to 256"),
    ("budget.daily_usd", "-1", "USD of 0 or more"),
    ("budget.daily_usd", "NaN", "USD of 0 or more"),
    ("budget.daily_usd", "Infinity", "USD of 0 or more"),
    ("budget.daily_usd", "five", "USD of 0 or more"),
    ("budget.daily_usd", True, "USD of 0 or more"),
    ("budget.monthly_usd", "1e400", "USD of 0 or more"),
    ("history.store_prompts", "maybe", "true or false"),
    ("history.store_prompts", 1, "true or false"),
]


@pytest.mark.parametrize(("key", "raw", "expected"), GOOD)
def test_good_values_are_normalised(key: str, raw: object, expected: object) -> None:
    assert KEYS[key].validate(raw, "test") == expected


@pytest.mark.parametrize(("key", "raw", "words"), BAD)
def test_bad_values_name_the_key_where_and_what_fits(key: str, raw: object, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        KEYS[key].validate(raw, "somewhere")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith(key + " ")
    assert words in caught.value.message
    assert "somewhere" in caught.value.message


def test_unknown_keys_list_the_known_ones_and_guess() -> None:
    with pytest.raises(UsageError) as caught:
        config_schema.setting("budget.daily")
    assert caught.value.hint is not None
    assert "did you mean budget.daily_usd?" in caught.value.hint
    assert "history.store_prompts" in caught.value.hint
    with pytest.raises(UsageError, match="kept only in the key file"):
        config_schema.setting("api_key")


# -- precedence ----------------------------------------------------------------------------------


def test_env_beats_file_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config('model = "max"\nconcurrency = 8\n[budget]\ndaily_usd = "2.50"\n')
    monkeypatch.setenv("FLUX2_MODEL", "klein")
    monkeypatch.setenv("FLUX2_BUDGET_MONTHLY_USD", "30")
    monkeypatch.setenv("FLUX2_CONCURRENCY", "  ")  # empty: as if unset
    values = load_values()
    assert (values["model"].value, values["model"].label) == ("klein", "env FLUX2_MODEL")
    assert (values["concurrency"].value, values["concurrency"].label) == (8, f"file {path}")
    assert values["budget.daily_usd"].value == Decimal("2.50")
    assert values["budget.monthly_usd"].label == "env FLUX2_BUDGET_MONTHLY_USD"
    assert (values["route"].value, values["route"].label) == ("images", "default")
    loaded = load_settings()
    assert loaded.model == "klein"
    assert loaded.concurrency == 8
    assert loaded.daily_budget_micros == 2_500_000
    assert loaded.monthly_budget_micros == 30_000_000
    assert loaded.source is not None
    assert loaded.source["model"] == "env FLUX2_MODEL"


FROM_ENV = {
    "model": ("flex", "flex"),
    "aspect_ratio": ("3:2", "3:2"),
    "format": ("png", "png"),
    "output_dir": ("out", "out"),
    "output_template": ("{slug}.{ext}", "{slug}.{ext}"),
    "metadata": ("none", "none"),
    "route": ("chat", "chat"),
    "concurrency": ("2", 2),
    "budget.daily_usd": ("1.25", Decimal("1.25")),
    "budget.monthly_usd": ("$40", Decimal("40")),
    "budget.timezone": ("Europe/Berlin", "Europe/Berlin"),
    "history.store_prompts": ("0", False),
    "mcp.max_cost_per_call_usd": ("0.20", Decimal("0.20")),
    "preview.protocol": ("Sixel", "sixel"),
    "preview.tmux_passthrough": ("yes", True),
    "ledger.url": ("postgresql://team@db.example/flux2", "postgresql://team@db.example/flux2"),
}


def test_every_key_follows_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert set(FROM_ENV) == set(KEYS)
    for key, (raw, expected) in FROM_ENV.items():
        monkeypatch.setenv(KEYS[key].env, raw)
        assert effective(key) == (expected, f"env {KEYS[key].env}")


def test_store_prompts_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    write_config("[history]\nstore_prompts = true\n")
    monkeypatch.setenv("FLUX2_STORE_PROMPTS", "false")
    assert load_settings().store_prompts is False


def test_output_dir_expands_the_home_directory() -> None:
    write_config('output_dir = "~/flux"\n')
    assert load_settings().output_dir == Path.home() / "flux"


def test_money_in_the_file_keeps_its_digits() -> None:
    write_config("[budget]\ndaily_usd = 0.1\nmonthly_usd = 3\n")
    loaded = load_settings()
    assert loaded.daily_budget_micros == 100_000
    assert loaded.monthly_budget_micros == 3_000_000


def test_a_bad_value_in_the_file_names_the_key_and_the_file() -> None:
    path = write_config('format = "gif"\n')
    with pytest.raises(UsageError) as caught:
        load_settings()
    assert "format must be one of png, jpeg, webp" in caught.value.message
    assert str(path) in caught.value.message


def test_a_bad_value_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX2_CONCURRENCY", "lots")
    with pytest.raises(UsageError, match="FLUX2_CONCURRENCY"):
        load_settings()
    assert effective("model") == ("pro", "default")  # one bad key does not block the others


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[budget\n", "not valid TOML"),
        ("budget = 5\n", "budget in"),
        ('model = "x"\nmodel = "y"\n', "not valid TOML"),
        (b"\xff\xfe".decode("latin-1"), "not valid TOML"),
    ],
)
def test_a_broken_file_is_a_usage_error_naming_it(text: str, words: str) -> None:
    path = write_config(text)
    with pytest.raises(UsageError) as caught:
        load_settings()
    assert words in caught.value.message
    assert str(path) in caught.value.message


def test_a_directory_in_place_of_the_file_is_a_usage_error() -> None:
    config_path().mkdir(parents=True)
    with pytest.raises(UsageError, match="is a directory"):
        read_document(config_path())


# -- editing and writing -------------------------------------------------------------------------


def test_setting_and_removing_keep_everything_else() -> None:
    path = write_config(
        'future_key = [1, 2]\n[budget]\ndaily_usd = "1"\nnote = "mine"\n[plugins.x]\non = true\n'
    )
    set_in_file(KEYS["budget.monthly_usd"], "9.50", path)
    assert read_document(path)["budget"] == {
        "daily_usd": "1",
        "note": "mine",
        "monthly_usd": "9.50",
    }
    assert not unset_in_file(KEYS["model"], path)  # not set: nothing to do
    assert unset_in_file(KEYS["budget.daily_usd"], path)
    assert read_document(path) == {
        "future_key": [1, 2],
        "budget": {"note": "mine", "monthly_usd": "9.50"},
        "plugins": {"x": {"on": True}},
    }
    empty = write_config("")
    set_in_file(KEYS["history.store_prompts"], False, empty)
    assert read_document(empty) == {"history": {"store_prompts": False}}
    assert unset_in_file(KEYS["history.store_prompts"], empty)
    assert read_document(empty) == {}  # no empty [history] left behind
    write_config("budget = 3\n")
    with pytest.raises(UsageError, match="must be a table"):
        set_in_file(KEYS["budget.daily_usd"], "1", config_path())
    assert config_path().read_text() == "budget = 3\n"


def test_written_file_is_private_and_reads_back(tmp_path: Path) -> None:
    directory = config_path().parent
    directory.mkdir(parents=True)
    directory.chmod(0o755)
    path = config_path()
    set_in_file(KEYS["model"], "max", path)
    set_in_file(KEYS["budget.daily_usd"], "5.00", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert read_document(path) == {"model": "max", "budget": {"daily_usd": "5.00"}}
    assert [p.name for p in directory.iterdir()] == ["config.toml"]  # no temp file left
    assert load_settings().daily_budget_micros == 5_000_000


_keys = st.text(min_size=1, max_size=12)
_scalars = st.one_of(
    st.text(max_size=20),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.dates(),
    st.times(),
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=3)
)
_documents = st.recursive(
    st.dictionaries(_keys, _values, max_size=4),
    lambda inner: st.dictionaries(_keys, inner | _values, max_size=4),
    max_leaves=12,
)


@given(_documents)
def test_setting_a_key_keeps_any_document_it_is_added_to(document: dict[str, Any]) -> None:
    import tomlkit

    document.pop("model", None)
    path = write_config(tomlkit.dumps(document))
    before = read_document(path)
    set_in_file(KEYS["model"], 'say "hi"\n\ttab\x01', path)
    assert read_document(path) == {**before, "model": 'say "hi"\n\ttab\x01'}
    assert unset_in_file(KEYS["model"], path)
    assert read_document(path) == before


def test_a_file_that_is_not_valid_toml_is_never_overwritten() -> None:
    path = write_config("model = [unclosed\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        set_in_file(KEYS["model"], "max", path)
    with pytest.raises(UsageError, match="not valid TOML"):
        unset_in_file(KEYS["model"], path)
    assert path.read_text() == "model = [unclosed\n"
