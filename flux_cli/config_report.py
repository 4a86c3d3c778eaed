"""The config file as `flux2 config show` reports it: every setting with its effective value
and where that came from (as rows, or one JSON record), and whether the environment overrides
the file.

The keys, their types and their variables are declared once, in `flux_cli.config_schema.SCHEMA`.
"""

from __future__ import annotations

import os
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
    from flux_cli.config_schema import KEYS

    variable = KEYS[key].env
    return variable if os.environ.get(variable, "").strip() else None
