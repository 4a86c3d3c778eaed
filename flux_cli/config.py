"""Settings from the config file and the environment (README.md#configuration-and-environment): flag > env > file > default.

The file is TOML at `config_dir()/config.toml`. Every key flux2 knows is declared once in `SCHEMA`,
with its type, default, environment variable and description; reading (`load_settings`,
`effective`), `flux2 config` and the README all follow it. Flags are the caller's business: a
command uses a flag when one was given and the value from here otherwise.

    settings = load_settings()            # every key, validated; UsageError (exit 2) if any is bad
    model = opts.model or settings.model
    value, source = effective("model")    # ("max", "env FLUX2_MODEL")

The API key is never a setting: it lives only in the key file (`flux_cli.keystore`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flux_cli import paths
from flux_cli.choices import (
    DEFAULT_CONCURRENCY,
    DEFAULT_NAME_TEMPLATE,
    FORMATS,
    MAX_CONCURRENCY,
    METADATA_LEVELS,
    MIN_CONCURRENCY,
    ROUTES,
)
from flux_cli.embedded_catalog import ALIASES, FLUX2_ASPECT_RATIOS, PriceRule
from flux_cli.errors import UsageError
from flux_cli.pricing import usd_to_micros

if TYPE_CHECKING:
    from flux_cli.ledger.location import LedgerUrl

BUDGET_DAILY_ENV = "FLUX2_BUDGET_DAILY_USD"
BUDGET_MONTHLY_ENV = "FLUX2_BUDGET_MONTHLY_USD"
DEFAULT_OUTPUT_TEMPLATE = DEFAULT_NAME_TEMPLATE
METADATA_MODES = METADATA_LEVELS

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# Compiled by `re` on first use, not at import (start-up).
_MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:~-]*"
_ASPECT_RATIO = r"([1-9][0-9]{0,2}):([1-9][0-9]{0,2})"


def config_path() -> Path:
    return paths.config_dir() / "config.toml"


class InvalidValue(ValueError):
    """A value a setting does not accept; the message says what it does accept."""


# -- parsers: each takes a string (flag, env, `config set`) or a TOML value (the file) -----------


def _text(raw: object) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("must be a string")
    text = raw.strip()
    if not text:
        raise InvalidValue("must not be empty")
    if not text.isprintable():
        raise InvalidValue("must not contain control characters")
    return text


def _choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Callable[[object], str]:
    def parse(raw: object) -> str:
        text = _text(raw).lower()
        text = (aliases or {}).get(text, text)
        if text not in choices:
            raise InvalidValue(f"must be one of {', '.join(choices)}")
        return text

    return parse


def _model(raw: object) -> str:
    text = _text(raw)
    if text.lower() in ALIASES:
        return text.lower()
    if re.fullmatch(_MODEL_ID, text):
        return text
    raise InvalidValue(
        f"must be {', '.join(ALIASES)} or an OpenRouter model id such as {ALIASES['pro']}"
    )


def _aspect_ratio(raw: object) -> str:
    text = _text(raw).lower()
    if text == "auto" or re.fullmatch(_ASPECT_RATIO, text):
        return text
    raise InvalidValue(
        f"must be auto or W:H, such as {' '.join(FLUX2_ASPECT_RATIOS)} (what FLUX.2 takes)"
    )


def _directory(raw: object) -> str:
    text = _text(raw)
    if "\x00" in text:
        raise InvalidValue("must be a directory path")
    return text


def _template(raw: object) -> str:
    from flux_cli.errors import Flux2Error
    from flux_cli.output import NameFields, render_name

    text = _text(raw)
    sample = NameFields(when=datetime(2000, 1, 1), model="flux.2-pro", seed=1, prompt="sample")
    try:
        render_name(text, sample)
    except Flux2Error as exc:
        raise InvalidValue(f"is not a usable name template: {exc.message} ({exc.hint})") from None
    return text


def _concurrency(raw: object) -> int:
    allowed = f"must be a whole number from {MIN_CONCURRENCY} to {MAX_CONCURRENCY}"
    if isinstance(raw, bool):
        raise InvalidValue(allowed)
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, str) and raw.strip().isdigit() and len(raw.strip()) <= 6:
        number = int(raw.strip())
    else:
        raise InvalidValue(allowed)
    if not MIN_CONCURRENCY <= number <= MAX_CONCURRENCY:
        raise InvalidValue(allowed)
    return number


def _usd(raw: object) -> Decimal:
    allowed = "must be an amount in USD of 0 or more, such as 5.00"
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, float, str)):
        raise InvalidValue(allowed)
    text = str(raw).strip()
    text = text[1:].strip() if text.startswith("$") else text
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidValue(allowed) from None
    if not amount.is_finite() or amount < 0 or amount.adjusted() > 9:
        raise InvalidValue(allowed)
    return amount


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    raise InvalidValue("must be true or false (also yes/no, on/off, 1/0)")


# -- the schema ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One key of the config file."""

    key: str  # `model`, or `table.name` for a key in a [table]
    kind: str  # the type, as `config show --json` and the README name it
    default: Any  # the value when neither the environment nor the file sets one (None: unset)
    env: str
    description: str
    parse: Callable[[object], Any] = field(repr=False)
    choices: tuple[str, ...] = ()  # what completion offers for `config set KEY`

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def validate(self, raw: object, where: str) -> Any:
        """The typed value, or a UsageError naming the key, `where` it came from and what fits."""
        try:
            return self.parse(raw)
        except InvalidValue as exc:
            shown = repr(raw) if isinstance(raw, str) else _toml_value(raw)
            raise UsageError(f"{self.key} {exc} (got {shown} from {where})") from None


def _budget_zone_name(raw: object) -> str:
    """`budget.timezone`: UTC or an IANA name (Europe/Berlin), checked against the tz database."""
    from flux_cli.ledger.times import budget_zone

    text = _text(raw)
    try:
        budget_zone(text)
    except ValueError:
        raise InvalidValue("must be UTC or an IANA time zone such as Europe/Berlin") from None
    return "UTC" if text.upper() == "UTC" else text


def _ledger_url(raw: object) -> Any:
    """A `postgresql://` URL, shown masked; checked in `flux_cli.ledger.location`."""
    from flux_cli.ledger.location import parse_ledger_url

    return parse_ledger_url(_text(raw))


SCHEMA: tuple[Setting, ...] = (
    Setting(
        "model",
        "string",
        "pro",
        "FLUX2_MODEL",
        "model alias (pro, max, flex, klein) or OpenRouter model id",
        _model,
        choices=tuple(ALIASES),
    ),
    Setting(
        "aspect_ratio",
        "W:H or auto",
        None,
        "FLUX2_ASPECT_RATIO",
        "aspect ratio when neither --aspect-ratio nor --size is given (unset: 1:1, auto for edits)",
        _aspect_ratio,
        choices=FLUX2_ASPECT_RATIOS,
    ),
    Setting(
        "format",
        "png|jpeg|webp",
        None,
        "FLUX2_FORMAT",
        "image format to write (unset: what the model returns)",
        _choice(*FORMATS, aliases={"jpg": "jpeg"}),
        choices=FORMATS,
    ),
    Setting(
        "output_dir",
        "path",
        None,
        "FLUX2_OUTPUT_DIR",
        "directory for images when -o names none (unset: the current directory)",
        _directory,
    ),
    Setting(
        "output_template",
        "name template",
        DEFAULT_OUTPUT_TEMPLATE,
        "FLUX2_OUTPUT_TEMPLATE",
        "file name template for images",
        _template,
    ),
    Setting(
        "metadata",
        "full|minimal|none",
        "full",
        "FLUX2_METADATA",
        "what is embedded in each image",
        _choice(*METADATA_MODES),
        choices=METADATA_MODES,
    ),
    Setting(
        "route",
        "images|chat",
        "images",
        "FLUX2_API",
        "OpenRouter route (--api)",
        _choice(*ROUTES),
        choices=ROUTES,
    ),
    Setting(
        "concurrency",
        f"integer {MIN_CONCURRENCY}-{MAX_CONCURRENCY}",
        DEFAULT_CONCURRENCY,
        "FLUX2_CONCURRENCY",
        "parallel requests for -n and --batch",
        _concurrency,
    ),
    Setting(
        "budget.daily_usd",
        "USD",
        None,
        BUDGET_DAILY_ENV,
        "spending limit per day, from the local ledger (unset: none)",
        _usd,
    ),
    Setting(
        "budget.monthly_usd",
        "USD",
        None,
        BUDGET_MONTHLY_ENV,
        "spending limit per calendar month (unset: none)",
        _usd,
    ),
    Setting(
        "budget.timezone",
        "IANA time zone",
        "UTC",
        "FLUX2_BUDGET_TIMEZONE",
        "where budget days and months begin, the same for every process whatever its TZ",
        _budget_zone_name,
    ),
    Setting(
        "mcp.max_cost_per_call_usd",
        "USD",
        Decimal("0.50"),
        "FLUX2_MCP_MAX_COST_PER_CALL_USD",
        "flux2 mcp: refuse any call whose estimate is above this",
        _usd,
    ),
    Setting(
        "history.store_prompts",
        "boolean",
        True,
        "FLUX2_STORE_PROMPTS",
        "keep prompts in the local ledger",
        _bool,
        choices=("true", "false"),
    ),
    Setting(
        "preview.protocol",
        "auto|blocks|kitty|iterm|sixel",
        "auto",
        "FLUX2_PREVIEW_PROTOCOL",
        "how --preview draws (auto: what the terminal announces, else half-blocks)",
        _choice("auto", "blocks", "kitty", "iterm", "sixel"),
        choices=("auto", "blocks", "kitty", "iterm", "sixel"),
    ),
    Setting(
        "preview.tmux_passthrough",
        "boolean",
        False,
        "FLUX2_PREVIEW_TMUX_PASSTHROUGH",
        "inside tmux, pass graphics through (needs tmux's allow-passthrough on)",
        _bool,
        choices=("true", "false"),
    ),
    Setting(
        "ledger.url",
        "postgresql URL",
        None,
        "FLUX2_LEDGER_URL",
        "shared ledger database, e.g. postgresql://flux@db/flux2 (unset: the local SQLite file)",
        _ledger_url,
    ),
)
KEYS: dict[str, Setting] = {s.key: s for s in SCHEMA}
_NOT_SETTINGS = frozenset({"api_key", "key", "openrouter_api_key", "token", "auth.key"})


def setting(key: str) -> Setting:
    """The schema entry for `key`; an unknown key is a UsageError listing the known ones."""
    try:
        return KEYS[key.strip().lower()]
    except KeyError:
        pass
    if key.strip().lower().replace("-", "_") in _NOT_SETTINGS:
        raise UsageError(
            f"{key!r} is not a config key: the API key is kept only in the key file",
            hint="store it with: flux2 auth login",
        )
    import difflib

    close = difflib.get_close_matches(key.strip().lower(), KEYS, n=1)
    guess = f"did you mean {close[0]}? " if close else ""
    raise UsageError(f"unknown config key {key!r}", hint=f"{guess}known keys: {', '.join(KEYS)}")


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


HEADER = "# flux2 settings: see `flux2 config show`; `flux2 config set` keeps your comments.\n"


def set_in_file(entry: Setting, value: Any, path: Path) -> None:
    """Set `entry` in the file at `path`, keeping every other line, comment and blank as it is
    (tomlkit edits the document in place). The file is checked first with `read_document`."""
    import tomlkit

    from flux_cli.keystore import write_private_file

    read_document(path)  # a file that is not valid TOML is refused with a clear message
    document = tomlkit.parse(_file_text(path) or HEADER)
    node: Any = document
    for depth, part in enumerate(entry.path[:-1]):
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
        if not isinstance(node, Mapping):
            table = ".".join(entry.path[: depth + 1])
            raise UsageError(f"{table} in {path} must be a table ([{table}])")
    if isinstance(value, str) and type(value) is not str:
        value = str.__str__(value)  # a value that prints masked (a ledger URL) is kept whole
    node[entry.path[-1]] = value
    write_private_file(path, tomlkit.dumps(document).encode("utf-8"))


def unset_in_file(entry: Setting, path: Path) -> bool:
    """Remove `entry` from the file (and a table it leaves empty), keeping the rest as it is;
    False when the file does not set it."""
    import tomlkit

    from flux_cli.keystore import write_private_file

    found, _ = lookup(read_document(path), entry.path, path)
    if not found:
        return False
    document = tomlkit.parse(_file_text(path))
    parents: list[Any] = [document]
    for part in entry.path[:-1]:
        parents.append(parents[-1][part])
    del parents[-1][entry.path[-1]]
    for depth in range(len(entry.path) - 1, 0, -1):
        if not parents[depth]:
            del parents[depth - 1][entry.path[depth - 1]]
    write_private_file(path, tomlkit.dumps(document).encode("utf-8"))
    return True


def _file_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def file_value(value: Any) -> Any:
    """How a typed value is stored: money as a quoted decimal string, so no digit is lost."""
    return str(value) if isinstance(value, Decimal) else value


# -- how a value read from the file is shown in a message --------------------------------------

_BARE_KEY = r"[A-Za-z0-9_-]+"
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_key(key: str) -> str:
    return key if re.fullmatch(_BARE_KEY, key) else _toml_string(key)


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (float, Decimal)):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value) if isinstance(value, float) else str(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        pairs = (f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + ", ".join(pairs) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


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
            value = _usd(raw)
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
