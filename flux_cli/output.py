"""Where images go: the `-o/--output` plan, a directory and a name template, or stdout.

The flow for a run (README.md#commands `-o/--output`, docs/reliability.md#security):

1. `plan_outputs(spec, count=…, default_dir=…)` turns `-o` into an `OutputPlan`, before anything
   is sent: stdout, or a directory plus a name template. Template errors are UsageErrors here.
2. `atomic_write.preflight(plan.directory)` creates the directory if needed and proves it is
   writable, still before the paid request.
3. After each image arrives, `plan.name_for(fields)` renders its file name (`filenames.py`; the
   extension always follows the image's real format) and `atomic_write.write_atomic(plan.directory,
   name, data)` publishes it without clobbering anything. If that fails,
   `atomic_write.rescue(data, name_hint=name)` keeps the paid bytes.

Only the final path component is ever generated or sanitised; the directories in a user-given
path are the user's choice and are used as given. Names are never longer than 255 bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from flux_cli.choices import DEFAULT_NAME_TEMPLATE
from flux_cli.errors import UsageError
from flux_cli.filenames import (
    SAMPLE_FIELDS,
    NameFields,
    render_name,
    sanitize_component,
    split_extension,
    with_format_extension,
)
from flux_cli.images import format_from_extension

DEFAULT_TEMPLATE = DEFAULT_NAME_TEMPLATE  # the one definition is in flux_cli.choices

# Extensions of image formats flux2 cannot write: `-o fox.gif` is refused rather than guessed at.
_UNWRITABLE_EXTENSIONS = frozenset(
    {".gif", ".bmp", ".tif", ".tiff", ".avif", ".heic", ".heif", ".jxl", ".svg", ".ico", ".psd"}
)


@dataclass(frozen=True)
class OutputPlan:
    """Where a run's images go: stdout (`directory is None`) or `directory` + a name `template`.

    `requested_format` is the format the user's own extension asked for (`-o fox.png` → "png",
    `-o "{seed}.webp"` → "webp"), None when they named none; the caller decides what to do with it
    (e.g. pick it when --format is absent, refuse a conflict)."""

    directory: Path | None
    template: str = DEFAULT_TEMPLATE
    requested_format: str | None = None

    @property
    def to_stdout(self) -> bool:
        return self.directory is None

    def name_for(self, fields: NameFields) -> str:
        """The file name for one image; its extension always matches `fields.fmt`."""
        name = with_format_extension(render_name(self.template, fields), fields.fmt)
        return sanitize_component(name)


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _requested_format(final_component: str) -> str | None:
    _, ext = os.path.splitext(final_component)
    if "{" in ext or "}" in ext:
        return None
    if ext.lower() in _UNWRITABLE_EXTENSIONS:
        raise UsageError(
            f"flux2 writes PNG, JPEG or WebP files, not {ext.lstrip('.').upper()} ({final_component})",
            hint="use a .png, .jpg or .webp name, or pick the format with --format",
        )
    return format_from_extension(final_component)


def plan_outputs(spec: str | None, *, count: int, default_dir: Path) -> OutputPlan:
    """Interpret `-o/--output` for a run of `count` images.

    - None: `default_dir` with DEFAULT_TEMPLATE.
    - `-`: stdout (count must be 1).
    - an existing directory, or a path ending in `/`: that directory with DEFAULT_TEMPLATE.
    - a path whose file name contains `{`: a template in that file name's directory (braces in
      the directory part are refused).
    - any other path: that file; with count > 1, `-{index}` goes before the extension.

    A leading `~` is expanded. Relative paths stay relative (to the working directory). The
    template is checked now, so a bad one fails before anything is paid for. The directory is
    neither created nor probed here: that is `preflight`'s job."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if spec is None:
        return OutputPlan(directory=default_dir)
    if spec == "-":
        if count != 1:
            raise UsageError(
                f"-o - writes a single image to stdout, but {count} were asked for",
                hint="use a directory or a name template such as -o 'out/{seed}-{index}.{ext}'",
            )
        return OutputPlan(directory=None)
    if not spec.strip():
        raise UsageError("the output path is empty")
    if "\x00" in spec:
        raise UsageError("the output path contains a NUL character")
    path = os.path.expanduser(spec)
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        if "{" in path:
            raise UsageError(f"braces are only allowed in the file name, not in {spec!r}")
        return OutputPlan(directory=Path(path))
    head, tail = os.path.split(path)
    if "{" in head:
        raise UsageError(
            f"only the file name can be a template, not the directories in {spec!r}",
            hint="make the directory first, or use a fixed directory with a templated name",
        )
    directory = Path(head) if head else Path(".")
    if tail in (".", ".."):
        return OutputPlan(directory=Path(path))
    requested = _requested_format(tail)
    if "{" in tail:
        template = tail
    else:
        stem, ext = split_extension(tail)
        template = _escape_braces(stem) + ("-{index}" if count > 1 else "") + _escape_braces(ext)
    render_name(template, replace(SAMPLE_FIELDS, n=count))  # a bad template fails now
    return OutputPlan(directory=directory, template=template, requested_format=requested)
