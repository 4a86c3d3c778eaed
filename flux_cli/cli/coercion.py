"""Plain-Python coercion of option values, so a command run does not import pydantic.

Typer (0.29, as installed here) converts every non-flag value through a pydantic `TypeAdapter`,
built on first use. Importing pydantic costs more than typer itself (see `python -m benchmarks`,
start-up), and flux2's options are only `str`, `bool`, `int`, `float`, `Path` and `list[str]`.
`install()` gives each such parameter a converter with the same contract (typer's
`RuntimeParam`: same `None` and multi-value handling, errors as `BadParameter`, so usage errors
still exit 2 under the command's usage line). Anything else (choices, parsers, clamps, files,
tuples, dates) keeps typer's own converter.

This leans on two typer internals, `typer._coercion.RuntimeParam` and the parameter's
`_runtime_param` slot. When a typer release renames them, `install()` does nothing and typer's
own path runs: slower, never wrong. A test fails when that happens, so it does not go unnoticed.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

try:
    from typer._coercion import RuntimeParam
    from typer._param_types import coerce_cli_path
except ImportError:  # pragma: no cover - a typer without the adapter layer needs nothing here
    RuntimeParam = None  # type: ignore[assignment,misc]
    coerce_cli_path = None  # type: ignore[assignment]

# False when this typer has no adapter layer to bypass (or renamed its internals).
INSTALLABLE = RuntimeParam is not None

_SCALARS: tuple[type, ...] = (str, bool, int, float, Path)
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"", "0", "false", "f", "no", "n", "off"})
_MARK = "_flux2_coercion_installed"


def install(command: Any) -> None:
    """Give every simple parameter of `command` and its sub-commands the plain converter."""
    if RuntimeParam is None or getattr(command, _MARK, False):
        return
    _install(command)
    setattr(command, _MARK, True)


def _install(command: Any) -> None:
    for param in getattr(command, "params", ()):
        _give(param)
    # The -h/--help option is made on first use, per command: give it the converter then.
    made = getattr(command, "get_help_option", None)
    if made is not None:

        def get_help_option(ctx: Any, _made: Any = made) -> Any:
            option = _made(ctx)
            if option is not None:
                _give(option)
            return option

        command.get_help_option = get_help_option
    for sub in getattr(command, "commands", {}).values():
        _install(sub)


def _give(param: Any) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None or getattr(param, "_runtime_param", True) is not None:
        return
    parts = _tuple_parts(descriptor)
    kind = tuple if parts else _kind(descriptor)
    if kind is not None:
        param._runtime_param = _Plain(
            parameter_info=descriptor.parameter_info,
            annotation=descriptor.annotation,
            kind=kind,
            is_list=bool(descriptor.is_list),
            parts=parts,
        )


def _tuple_parts(descriptor: Any) -> tuple[type, ...]:
    """`tuple[int, str]` (`--settle ID OUTCOME`): the types of its parts, when all are plain."""
    if not getattr(descriptor, "is_tuple", False) or descriptor.parameter_info.parser is not None:
        return ()
    args: tuple[Any, ...] = getattr(descriptor.annotation, "__args__", ())
    return args if args and all(arg in (str, int) for arg in args) else ()


def _kind(descriptor: Any) -> type | None:
    """The scalar type this converter handles for `descriptor`, or None to leave it to typer."""
    info = descriptor.parameter_info
    if info.parser is not None or getattr(info, "click_type", None) is not None:
        return None
    if descriptor.file_annotation is not None or descriptor.is_choice:
        return None
    annotation = descriptor.annotation
    if descriptor.is_list:
        args: tuple[Any, ...] = getattr(annotation, "__args__", ())
        if len(args) == 1 and args[0] is str:
            return str
        return None
    if annotation not in _SCALARS:
        return None
    if annotation in (int, float) and getattr(info, "clamp", False):
        return None
    if annotation is Path and (getattr(info, "path_type", None) is not None):
        return None
    return annotation  # type: ignore[no-any-return]


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _Plain(RuntimeParam):
        kind: type = str
        is_list: bool = False
        parts: tuple[type, ...] = ()

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            if self.parts:
                return tuple(
                    _text(item) if part is str else _number(item, part)
                    for part, item in zip(self.parts, value, strict=True)
                )
            if self.is_list:
                items = value if isinstance(value, (list, tuple)) else [value]
                return [_text(item) for item in items]
            if self.kind is str:
                return _text(value)
            if self.kind is bool:
                return _flag(value)
            if self.kind is Path:
                path = value if isinstance(value, Path) else Path(os.fspath(_text(value)))
                assert coerce_cli_path is not None
                return coerce_cli_path(
                    path, self.parameter_info, path_type=Path, param=param, ctx=ctx
                )
            number = _number(value, self.kind)
            _check_range(number, self.parameter_info)
            return number


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise typer.BadParameter(f"{_text(value)!r} is not a boolean (true or false).")


def _number(value: Any, kind: type) -> int | float:
    if isinstance(value, (int, float)) and isinstance(value, kind) and not isinstance(value, bool):
        number: int | float = value
    else:
        text = _text(value).strip()
        try:
            number = int(text, 10) if kind is int else float(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise typer.BadParameter(f"{_text(value)!r} is not {what}.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise typer.BadParameter(f"{_text(value)!r} is not a finite number.")
    return number


def _check_range(number: int | float, info: Any) -> None:
    low, high = info.min, info.max
    if low is not None and high is not None and not low <= number <= high:
        raise typer.BadParameter(f"{number} is not between {low} and {high}.")
    if low is not None and number < low:
        raise typer.BadParameter(f"{number} is less than the minimum, {low}.")
    if high is not None and number > high:
        raise typer.BadParameter(f"{number} is more than the maximum, {high}.")
