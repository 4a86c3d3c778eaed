"""Settings from the config file and the environment (README.md#configuration-and-environment): flag > env > file > default.

The file is TOML at `config_dir()/config.toml`. Every key flux2 knows is declared once in `SCHEMA`
(`config_schema.py`), with its type, default, environment variable and description; reading
(`load_settings`, `effective`, here), `flux2 config` and the README all follow it. Flags are the
caller's business: a command uses a flag when one was given and the value from here otherwise.
Writing the file (`flux2 config set/unset`) is `config_edit.py`'s job.

    settings = load_settings()            # every key, validated; UsageError (exit 2) if any is bad
    model = opts.model or settings.model
    value, source = effective("model")    # ("max", "env FLUX2_MODEL")

The API key is never a setting: it lives only in the key file (`flux_cli.keystore`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli import paths
from flux_cli.choices import DEFAULT_CONCURRENCY
from flux_cli.config_schema import (
    DEFAULT_OUTPUT_TEMPLATE,
    SCHEMA,
    InvalidValue,
    Setting,
    parse_usd,
    setting,
)
from flux_cli.embedded_catalog import PriceRule
from flux_cli.errors import UsageError
from flux_cli.pricing import usd_to_micros

if TYPE_CHECKING:
    from flux_cli.ledger.location import LedgerUrl


def config_path() -> Path:
    return paths.config_dir() / "config.toml"


# -- effective values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A key's effective value and where it came from."""

    setting: Setting
    value: Any
    source: str  # "default", "file" or "env"
    origin: str | None = None  # the file's path or the variable's name

    @property
    def label(self) -> str:
        """`default`, `file /path/config.toml` or `env FLUX2_MODEL`."""
        return self.source if self.origin is None else f"{self.source} {self.origin}"


def _env_value(entry: Setting, environ: Mapping[str, str]) -> Value | None:
    raw = environ.get(entry.env, "").strip()
    if not raw:  # an empty variable is the same as an unset one
        return None
    return Value(
        entry, entry.validate(raw, f"the environment variable {entry.env}"), "env", entry.env
    )


def _file_value(entry: Setting, document: Mapping[str, Any], path: Path) -> Value | None:
    found, raw = lookup(document, entry.path, path)
    if not found:
        return None
    return Value(entry, entry.validate(raw, str(path)), "file", str(path))


def _resolve(
    entry: Setting, document: Mapping[str, Any], path: Path, environ: Mapping[str, str]
) -> Value:
    return (
        _env_value(entry, environ)
        or _file_value(entry, document, path)
        or Value(entry, entry.default, "default")
    )


def load_values(environ: Mapping[str, str] | None = None) -> dict[str, Value]:
    """Every known key's effective value, in schema order. Reads the file once. A corrupt file or
    a bad value (in the file or the environment) is a UsageError naming where it is."""
    environ = os.environ if environ is None else environ
    path = config_path()
    document = read_document(path)
    return {entry.key: _resolve(entry, document, path, environ) for entry in SCHEMA}


def effective(key: str, environ: Mapping[str, str] | None = None) -> tuple[Any, str]:
    """(value, source label) of one key: ("max", "env FLUX2_MODEL"), (None, "default"), …

    Only this key is validated, so a bad value elsewhere in the file does not get in the way."""
    entry = setting(key)
    path = config_path()
    value = _resolve(entry, read_document(path), path, os.environ if environ is None else environ)
    return value.value, value.label


@dataclass(frozen=True)
class Settings:
    """What generate, edit and the budgets need, each from env > file > default.

    Flags win over all of it: `opts.model or settings.model`. `None` means "not set": no format
    conversion, the current directory, no budget, the model's own aspect ratio."""

    daily_budget_micros: int | None = None
    monthly_budget_micros: int | None = None
    store_prompts: bool = True
    source: dict[str, str] | None = None  # key → `default`, `file /path` or `env FLUX2_…`
    model: str = "pro"
    aspect_ratio: str | None = None
    image_format: str | None = None  # the `format` key
    output_dir: Path | None = None  # `~` expanded; relative paths are from the current directory
    output_template: str = DEFAULT_OUTPUT_TEMPLATE
    metadata: str = "full"
    route: str = "images"
    concurrency: int = DEFAULT_CONCURRENCY


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    values = load_values(environ)

    def get(key: str) -> Any:
        return values[key].value

    def micros(key: str) -> int | None:
        amount: Decimal | None = get(key)
        return None if amount is None else usd_to_micros(amount)

    output_dir: str | None = get("output_dir")
    return Settings(
        daily_budget_micros=micros("budget.daily_usd"),
        monthly_budget_micros=micros("budget.monthly_usd"),
        store_prompts=get("history.store_prompts"),
        source={key: value.label for key, value in values.items()},
        model=get("model"),
        aspect_ratio=get("aspect_ratio"),
        image_format=get("format"),
        output_dir=None if output_dir is None else Path(output_dir).expanduser(),
        output_template=get("output_template"),
        metadata=get("metadata"),
        route=get("route"),
        concurrency=get("concurrency"),
    )


def display(value: Any) -> str:
    """How `config get` and `config show` print a value: bare, as a script wants it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- the file ------------------------------------------------------------------------------------


def read_document(path: Path) -> dict[str, Any]:
    """The whole TOML document ({} when there is no file). Floats are read as Decimal, so money
    keeps its digits. UsageError (exit 2) naming the file if it cannot be read or parsed."""
    import tomllib

    try:
        with path.open("rb") as handle:
            data: dict[str, Any] = tomllib.load(handle, parse_float=Decimal)
    except FileNotFoundError:
        return {}
    except IsADirectoryError:
        raise UsageError(f"the config file {path} is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot read the config file {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"the config file {path} is not valid TOML ({exc})",
            hint=f"fix it, or move it away and start again with flux2 config set (it is {path})",
        ) from None
    return data


def lookup(document: Mapping[str, Any], key_path: tuple[str, ...], path: Path) -> tuple[bool, Any]:
    """(True, value) if the document holds `key_path`, (False, None) otherwise."""
    node: Any = document
    for depth, part in enumerate(key_path):
        if not isinstance(node, Mapping):
            table = ".".join(key_path[:depth])
            raise UsageError(f"{table} in {path} must be a table ([{table}])")
        if part not in node:
            return False, None
        node = node[part]
    return True, node


# -- prices the user writes down ------------------------------------------------------------------


def configured_price(model_id: str) -> PriceRule | None:
    """`[prices."<model id>"]` in the config file: a model's price when the catalog has none
    (README "What it costs"). Keys: `unit` (megapixel, token or image; megapixel by default),
    `output_usd` (per unit), `reference_usd` (per unit of a reference; the output price by
    default). None when the file has no such table; UsageError naming the file when it is wrong."""
    from flux_cli.embedded_catalog import PRICE_UNITS
    from flux_cli.pricing import TOKENS_PER_MEGAPIXEL

    path = config_path()
    document = read_document(path)
    prices = document.get("prices")
    if not isinstance(prices, Mapping):
        return None
    table = next((v for k, v in prices.items() if k.lower() == model_id.lower()), None)
    if table is None:
        return None
    where = f'prices."{model_id}" in {path}'
    if not isinstance(table, Mapping):
        raise UsageError(f"{where} must be a table")
    unit = table.get("unit", "megapixel")
    if unit not in PRICE_UNITS:
        raise UsageError(f"{where}: unit must be one of {', '.join(PRICE_UNITS)}, got {unit!r}")
    scale = TOKENS_PER_MEGAPIXEL if unit == "token" else 1

    def amount(name: str, default: int | None) -> int:
        raw = table.get(name)
        if raw is None and default is not None:
            return default
        if raw is None:
            raise UsageError(f"{where} needs {name} (USD per {unit})")
        try:
            value = parse_usd(raw)
        except InvalidValue as exc:
            raise UsageError(f"{where}: {name} {exc}") from None
        if value <= 0:
            raise UsageError(f"{where}: {name} must be more than 0")
        return usd_to_micros(value * scale)

    output = amount("output_usd", None)
    return PriceRule(
        first_output_mp=output,
        extra_output_mp=0 if unit == "image" else output,
        input_mp=amount("reference_usd", output),
        unit=str(unit),
    )


def configured_budget_zone() -> str:
    """`FLUX2_BUDGET_TIMEZONE` or `budget.timezone`: where budget days begin (UTC by default)."""
    value, _source = effective("budget.timezone")
    return str(value)


def configured_ledger_url() -> LedgerUrl | None:
    """`FLUX2_LEDGER_URL` or `ledger.url` from the config file; None: the local SQLite file."""
    from flux_cli.ledger.location import LedgerUrl

    value, _source = effective("ledger.url")
    return value if isinstance(value, LedgerUrl) else None
