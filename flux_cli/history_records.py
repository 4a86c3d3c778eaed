"""What `flux2 history` lists, as plain values: a ledger row or a group of rows as a flat record,
written as a JSON line or a CSV line; the one-line account of a `Summary`; the short texts a
table cell shows for a row. No typer, no rich: the command renders these.

Money stays integer micro-dollars in a record until it is written: JSON gets a number, CSV the
exact decimal text, never a float's digits.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flux_cli.ledger import Row, Summary, TotalRow

__all__ = [
    "GROUP_FIELDS",
    "ROW_FIELDS",
    "USD_FIELDS",
    "alias_of",
    "calls",
    "charged_text",
    "csv_header",
    "csv_line",
    "csv_lines",
    "file_name",
    "files_text",
    "group_fields",
    "group_name",
    "group_record",
    "json_line",
    "local_minute",
    "model_text",
    "row_record",
    "short_id",
    "size_text",
    "status_text",
    "summary_line",
    "utc_stamp",
]

ROW_FIELDS = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "api",
    "command",
    "model",
    "alias",
    "provider",
    "route",
    "seed",
    "width",
    "height",
    "output_mp",
    "reference_count",
    "reference_mp",
    "estimate_micros",
    "charged_micros",
    "counted_micros",
    "estimate_usd",
    "charged_usd",
    "counted_usd",
    "generation_id",
    "path",
    "sha256",
    "paths",
    "sha256s",
    "exit_code",
    "error",
    "elapsed_s",
    "prompt",
    "pid",
    "hostname",
    "host",
    "os_user",
    "run_id",
    "model_options",
)
GROUP_FIELDS = (
    "group",  # named for --by: day or model (see group_fields)
    "alias",
    "calls",
    "ok",
    "failed",
    "pending",
    "unknown",
    "estimate_micros",
    "charged_micros",
    "counted_micros",
    "estimate_usd",
    "charged_usd",
    "counted_usd",
)
#: Micro-dollars in a record, written as USD: a number in JSON, exact decimal text in CSV.
USD_FIELDS = ("estimate_usd", "charged_usd", "counted_usd")

_ALIAS_OF: dict[str, str] = {}


def alias_of(model_id: str) -> str | None:
    """The model's short name (`pro`), or None for a model without one."""
    if not _ALIAS_OF:
        from flux_cli.embedded_catalog import ALIASES

        for alias, known in reversed(ALIASES.items()):  # the first alias of a model wins
            _ALIAS_OF[known] = alias
    return _ALIAS_OF.get(model_id)


def calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def utc_stamp(moment: datetime) -> str:
    """`2026-12-06T16:51:03.123Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_minute(moment: datetime) -> str:
    """`2026-12-06 17:51` in the machine's time zone."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


# -- records ------------------------------------------------------------------------------------


def row_record(row: Row) -> dict[str, Any]:
    """Every column of a ledger row, money as integer micro-dollars (exact) and USD (`*_usd`)."""
    return {
        "id": row.id,
        "created_at": utc_stamp(row.created_at),
        "updated_at": utc_stamp(row.updated_at),
        "status": row.status,
        "api": row.api,
        "command": row.command,
        "model": row.model,
        "alias": alias_of(row.model),
        "provider": row.provider,
        "route": row.route,
        "seed": row.seed,
        "width": row.width,
        "height": row.height,
        "output_mp": row.output_mp,
        "reference_count": row.reference_count,
        "reference_mp": row.reference_mp,
        "estimate_micros": row.estimate_micros,
        "charged_micros": row.charged_micros,
        "counted_micros": row.counted_micros,
        "estimate_usd": row.estimate_micros,
        "charged_usd": row.charged_micros,
        "counted_usd": row.counted_micros,
        "generation_id": row.generation_id,
        "path": row.paths[0] if row.paths else None,  # as in generate --json
        "sha256": row.sha256s[0] if row.sha256s else None,
        "paths": list(row.paths),
        "sha256s": list(row.sha256s),
        "exit_code": row.exit_code,
        "error": row.error,
        "elapsed_s": None if row.elapsed_s is None else round(row.elapsed_s, 3),
        "prompt": row.prompt,
        "pid": row.pid,
        "hostname": row.hostname,
        "host": row.host,
        "os_user": row.os_user,
        "run_id": row.run_id,
        "model_options": row.options,  # CSV: the ledger's canonical JSON text
    }


def group_fields(by: str) -> tuple[str, ...]:
    """The group's field is named for what it groups by: `day`, `model`, `host` or `user`."""
    return (by, *GROUP_FIELDS[1:])


def group_record(group: TotalRow, by: str) -> dict[str, Any]:
    return {
        by: group.key,
        "alias": alias_of(group.key),
        "calls": group.count,
        "ok": group.ok_count,
        "failed": group.failed_count,
        "pending": group.pending_count,
        "unknown": group.unknown_count,
        "estimate_micros": group.estimate_micros,
        "charged_micros": group.charged_micros,
        "counted_micros": group.counted_micros,
        "estimate_usd": group.estimate_micros,
        "charged_usd": group.charged_micros,
        "counted_usd": group.counted_micros,
    }


def json_line(record: dict[str, Any]) -> str:
    """One JSON object; the `*_usd` fields become numbers here (and `record` is changed so)."""
    import json

    from flux_cli.pricing import micros_to_usd

    for name in USD_FIELDS:  # micro-dollars until here; a float only on the wire
        micros = record[name]
        record[name] = None if micros is None else float(micros_to_usd(micros))
    return json.dumps(record, ensure_ascii=False)


def csv_header(fields: Sequence[str]) -> str:
    return _csv(fields)


def csv_lines(found: Iterable[dict[str, Any]], fields: Sequence[str]) -> Iterator[str]:
    """The header, then one line per record, made as they are asked for."""
    yield csv_header(fields)
    for record in found:
        yield csv_line(record, fields)


def csv_line(record: dict[str, Any], fields: Sequence[str]) -> str:
    """One CSV record: USD as exact decimal text, lists joined with `;`, and every value made
    safe for a spreadsheet (`textsafe.csv_safe`)."""
    from flux_cli.pricing import micros_to_usd
    from flux_cli.textsafe import csv_safe

    values = []
    for name in fields:
        value = record[name]
        if name in USD_FIELDS:
            value = "" if value is None else f"{micros_to_usd(value):f}"
        elif isinstance(value, list):
            value = ";".join(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True, separators=(",", ":"))
        values.append(csv_safe(value))
    return _csv(values)


def _csv(values: Sequence[Any]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().rstrip("\n")


# -- the sums -----------------------------------------------------------------------------------


def summary_line(summary: Summary) -> str:
    """`3 calls · estimate $0.090 · charged $0.060 · 1 unknown: … · counts as $0.090`."""
    from flux_cli.pricing import format_usd

    parts = [
        calls(summary.count),
        f"estimate {format_usd(summary.estimate_micros)}",
        f"charged {format_usd(summary.charged_micros)}",
    ]
    if summary.failed:
        parts.append(f"{summary.failed} failed (not billed)")
    if summary.pending + summary.unknown:
        states = " and ".join(
            f"{n} {name}"
            for n, name in ((summary.pending, "pending"), (summary.unknown, "unknown"))
            if n
        )
        parts.append(
            f"{states}: may have been billed, counted at {format_usd(summary.unsettled_micros)}"
        )
    if summary.ok_unpriced:
        parts.append(f"{summary.ok_unpriced} without a reported charge, counted at the estimate")
    parts.append(f"counts as {format_usd(summary.counted_micros)}")
    return " · ".join(parts)


# -- what a table cell says about a row ---------------------------------------------------------


def status_text(row: Row) -> str:
    from flux_cli.exit_codes import ExitCode

    if row.status == "failed" and row.exit_code == ExitCode.BUDGET:
        return "blocked"  # refused by a budget or --max-cost: nothing was sent
    return row.status


def charged_text(row: Row) -> str:
    from flux_cli.pricing import format_usd

    if row.charged_micros is not None:
        return format_usd(row.charged_micros)
    if row.status == "failed":
        return "—"  # not billed
    if row.status == "ok":
        return "not reported"
    return "?"  # pending or unknown: may have been billed


def short_id(generation_id: str | None) -> str:
    """The id's distinctive tail, for finding a row by eye (the records have the whole id)."""
    from flux_cli.textsafe import strip_control

    if not generation_id:
        return "—"
    text = strip_control(generation_id)
    return text if len(text) <= 14 else "…" + text[-13:]


def file_name(path: str) -> str:
    """The name only, for finding a file by eye (the records have the full path)."""
    return path.replace("\\", "/").rsplit("/", 1)[-1] or path


def files_text(row: Row, between: str) -> str:
    """The row's file names, `between` each (a line break on a terminal); "—" for none."""
    from flux_cli.textsafe import strip_control

    return strip_control(between.join(file_name(p) for p in row.paths) or "—")


def model_text(model_id: str) -> str:
    """A model as a person names it: its alias, else its id without control characters."""
    from flux_cli.textsafe import strip_control

    return alias_of(model_id) or strip_control(model_id)


def size_text(row: Row) -> str:
    """`1024×768`, with `+2 ref` for an edit's references; "—" when the size is not known."""
    size = f"{row.width}×{row.height}" if row.width and row.height else "—"
    if row.reference_count:
        size += f" +{row.reference_count} ref"
    return size


def group_name(key: str, by: str) -> str:
    """A group's name in the table: a model's alias, or the key (a host or user may be unknown)."""
    from flux_cli.textsafe import strip_control

    if by == "model":
        return model_text(key)
    return strip_control(key) or {"host": "unknown host", "user": "unknown user"}.get(by, "—")
