"""The config file as `flux2 config` shows and changes it: every setting with its effective value
and where that came from (as rows, or one JSON record), one setting set or removed (checked
before anything is written), and whether the environment overrides the file.

The keys, their types and their variables are declared once, in `flux_cli.config.SCHEMA`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_cli.config import Value


def settings_record(path: Path, values: dict[str, Value]) -> dict[str, Any]:
    """`flux2 config show --json`: the file's path and every key's value, source, type,
    variable and default."""

    def plain(value: object) -> object:
        if isinstance(value, str):
            return str(value)  # a ledger URL prints masked
        return float(value) if isinstance(value, Decimal) else value

    return {
        "path": str(path),
        "settings": {
            key: {
                "value": plain(item.value),
                "source": item.label,
                "type": item.setting.kind,
                "env": item.setting.env,
                "default": plain(item.setting.default),
            }
            for key, item in values.items()
        },
    }


def settings_rows(values: dict[str, Value]) -> list[tuple[str, str, str]]:
    """Each key with its value as text (`-` when unset) and where it came from."""
    from flux_cli.config import display

    return [(key, display(item.value) or "-", item.label) for key, item in values.items()]


def overriding_variable(key: str) -> str | None:
    """The environment variable that wins over the file for `key`, when it is set."""
    from flux_cli.config import KEYS

    variable = KEYS[key].env
    return variable if os.environ.get(variable, "").strip() else None


@dataclass(frozen=True)
class Change:
    """What `config set` or `config unset` did to the file at `path`. `shown`: the value as
    text; `source`: where the effective value now comes from (after an unset)."""

    key: str
    path: Path
    done: bool
    shown: str
    source: str | None = None


def set_setting(key: str, value: str) -> Change:
    """Check `value` for `key` and write it to the config file, keeping the rest of it."""
    from flux_cli import config

    entry = config.setting(key)
    typed = entry.validate(value, "the command line")
    path = config.config_path()
    config.set_in_file(entry, config.file_value(typed), path)
    return Change(entry.key, path, done=True, shown=config.display(typed))


def unset_setting(key: str) -> Change:
    """Remove `key` from the config file (`done` False when it was not there), and say what
    its value is now."""
    from flux_cli import config

    entry = config.setting(key)
    path = config.config_path()
    if not config.unset_in_file(entry, path):
        return Change(entry.key, path, done=False, shown="")
    value, source = config.effective(entry.key)
    return Change(entry.key, path, done=True, shown=config.display(value) or "unset", source=source)
