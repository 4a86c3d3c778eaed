"""The config file's keys, declared once: `SCHEMA`, with each key's type, default, environment
variable, description and parser (README.md#configuration-and-environment).

A parser takes a string (a flag, the environment, `flux2 config set`) or a TOML value (the file)
and returns the typed value, or raises `InvalidValue` saying what the key accepts; `Setting.validate`
turns that into a UsageError naming the key and where the value came from. Reading the settings is
`config.py`'s job, writing the file `config_edit.py`'s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from flux_cli.choices import (
    DEFAULT_CONCURRENCY,
    DEFAULT_NAME_TEMPLATE,
    FORMATS,
    MAX_CONCURRENCY,
    METADATA_LEVELS,
    MIN_CONCURRENCY,
    ROUTES,
)
from flux_cli.embedded_catalog import ALIASES, FLUX2_ASPECT_RATIOS
from flux_cli.errors import UsageError

BUDGET_DAILY_ENV = "FLUX2_BUDGET_DAILY_USD"
BUDGET_MONTHLY_ENV = "FLUX2_BUDGET_MONTHLY_USD"
DEFAULT_OUTPUT_TEMPLATE = DEFAULT_NAME_TEMPLATE
METADATA_MODES = METADATA_LEVELS

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
# Compiled by `re` on first use, not at import (start-up).
_MODEL_ID = r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._:~-]*"
_ASPECT_RATIO = r"([1-9][0-9]{0,2}):([1-9][0-9]{0,2})"


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
    from flux_cli.filenames import NameFields, render_name

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


def parse_usd(raw: object) -> Decimal:
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
        parse_usd,
    ),
    Setting(
        "budget.monthly_usd",
        "USD",
        None,
        BUDGET_MONTHLY_ENV,
        "spending limit per calendar month (unset: none)",
        parse_usd,
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
        parse_usd,
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
