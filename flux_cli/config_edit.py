"""Editing the config file in place, for `flux2 config set` and `flux2 config unset`.

tomlkit keeps every other line, comment and blank as the user wrote them; it is imported only
here, inside the two functions, so no other command pays for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from flux_cli.config import lookup, read_document
from flux_cli.config_schema import Setting, setting
from flux_cli.errors import UsageError

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
    from flux_cli.config import config_path, display

    entry = setting(key)
    typed = entry.validate(value, "the command line")
    path = config_path()
    set_in_file(entry, file_value(typed), path)
    return Change(entry.key, path, done=True, shown=display(typed))


def unset_setting(key: str) -> Change:
    """Remove `key` from the config file (`done` False when it was not there), and say what
    its value is now."""
    from flux_cli.config import config_path, display, effective

    entry = setting(key)
    path = config_path()
    if not unset_in_file(entry, path):
        return Change(entry.key, path, done=False, shown="")
    value, source = effective(entry.key)
    return Change(entry.key, path, done=True, shown=display(value) or "unset", source=source)
