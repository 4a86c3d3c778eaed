"""`flux2 history`: what was generated and what it cost, from the ledger (README.md#budgets-and-the-ledger).

The listing (a table, JSON Lines or CSV) is the command's result, so it goes to stdout; hints,
reconcile reports and "nothing yet" go to stderr. Only the current API's rows are shown: the one
`FLUX2_BASE_URL` selects, or with `--sandbox` the in-process sandbox runs.

The database does the sums (`Ledger.summary`, `Ledger.totals`); only the rows shown are read,
and `--json`/`--csv` write them as they are read, a page at a time, so memory stays flat
whatever the size of the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_cli.cli.flags import ModelFilterOption, RunFilterOption, SinceOption

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from flux_cli.cli.context import App
    from flux_cli.ledger import Ledger, Row, Summary, TotalRow

DEFAULT_TABLE_LIMIT = 50
#: OpenRouter's /generation knows a call within minutes; after this long a 404 means not billed.
PROMPT_CHARS = 40


BY_CHOICES = ("day", "model", "host", "user")


def _complete_by(incomplete: str) -> list[str]:
    return [b for b in BY_CHOICES if b.startswith(incomplete)]


def history(
    ctx: typer.Context,
    since: SinceOption = None,
    model: ModelFilterOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            metavar="day|model|host|user",
            help="Totals per local day, model, host or OS user instead of one line per call.",
            autocompletion=_complete_by,
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="One JSON object per call (per group with --by) on stdout (JSON Lines)."
        ),
    ] = False,
    csv_output: Annotated[
        bool, typer.Option("--csv", help="CSV with a header line on stdout.")
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            metavar="N",
            help="At most N lines, newest first (default: 50 in the table, all with --json/--csv).",
            min=1,
            show_default=False,
        ),
    ] = None,
    run_id: RunFilterOption = None,
    reconcile: Annotated[
        bool,
        typer.Option(
            "--reconcile",
            help="First settle pending and unknown calls: look their generation ids up on the API "
            "(needs the key) and mark calls whose process is gone as unknown.",
        ),
    ] = False,
    settle: Annotated[
        tuple[int, str] | None,
        typer.Option(
            "--settle",
            metavar="ID failed|ok",
            help="Settle a pending or unknown call by hand (id from --json), after checking "
            "OpenRouter's activity page; recorded as settled by hand.",
            show_default=False,
        ),
    ] = None,
    charge: Annotated[
        str | None,
        typer.Option(
            "--charge",
            metavar="USD",
            help="With --settle: what the call was billed (default: its estimate for ok, 0 for failed).",
            show_default=False,
        ),
    ] = None,
    sandbox: Annotated[
        bool,
        typer.Option(
            "--sandbox", help="Show the calls made with --sandbox instead of the current API's."
        ),
    ] = False,
) -> None:
    """List past calls and what they cost: estimate, charge, and what is still pending or unknown.

    Reads the ledger (the local file, or ledger.url) for the current API (FLUX2_BASE_URL, or
    --sandbox), e.g. flux2 history --since 7d --by model
    """
    run_history(
        ctx.obj,
        since=since,
        model=model,
        by=by,
        run_id=run_id,
        json_output=json_output,
        csv_output=csv_output,
        limit=limit,
        reconcile=reconcile,
        sandbox=sandbox,
        settle=settle,
        charge=charge,
    )


# -- the run ------------------------------------------------------------------------------------


def run_history(
    app: App,
    *,
    since: str | None,
    model: str | None,
    by: str | None,
    json_output: bool,
    csv_output: bool,
    limit: int | None,
    reconcile: bool,
    sandbox: bool,
    settle: tuple[int, str] | None = None,
    charge: str | None = None,
    run_id: str | None = None,
) -> None:
    from datetime import datetime

    from flux_cli import ledger as ledger_module
    from flux_cli.embedded_catalog import resolve_model_id
    from flux_cli.endpoints import SANDBOX, current_api, describe
    from flux_cli.errors import UsageError

    if json_output and csv_output:
        raise UsageError("--json and --csv both choose the output; give one of them")
    if by is not None and by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    now = datetime.now(UTC)
    since_at = ledger_module.parse_since(since, now) if since is not None else None
    model_id = resolve_model_id(model) if model is not None else None
    label, base_url = (SANDBOX, "") if sandbox else current_api()
    machine = json_output or csv_output
    shown_limit = limit if limit is not None or machine else DEFAULT_TABLE_LIMIT

    from flux_cli.config import configured_ledger_url

    url = configured_ledger_url()
    path = ledger_module.default_path()
    if url is None and not path.exists():  # a read-only look creates nothing
        _say_nothing(app, f"no calls recorded yet for {describe(label)} in {path}", csv_output, by)
        return
    if charge is not None and settle is None:
        raise UsageError("--charge goes with --settle ID failed|ok")
    try:
        opened = (
            ledger_module.Ledger.open(path) if url is None else ledger_module.Ledger.open(url=url)
        )
    except ledger_module.LedgerError as exc:
        exc.message = f"history could not read the ledger: {exc.message}"
        raise
    with opened as ledger:
        if settle is not None:
            from flux_cli.cli.settle import settle_by_hand

            settle_by_hand(app, ledger, label, settle[0], settle[1], charge)
        if reconcile:
            _reconcile(app, ledger, label, base_url, now)
        totals = Totals.of(ledger.summary(label, since=since_at, model=model_id, run_id=run_id))
        if not totals.count:
            anything = ledger.rows(label, limit=1)
            given = " ".join(
                f"{flag} {value}"
                for flag, value in (("--since", since), ("--model", model), ("--run", run_id))
                if value
            )
            what = (
                f"no calls match {given}"
                if anything
                else f"no calls recorded yet for {describe(label)} in {ledger.where} (history "
                "shows one API at a time: --sandbox for the --sandbox runs, FLUX2_BASE_URL for "
                "another)"
            )
            _say_nothing(app, what, csv_output, by)
            return
        if reconcile:
            app.info(f"totals now: {totals.line()}")
        if by is not None:
            grouping: ledger_module.Grouping = by  # type: ignore[assignment]
            groups = ledger.totals(
                label, since=since_at, model=model_id, run_id=run_id, by=grouping
            )
            _show_groups(app, groups, by, totals, label, shown_limit, json_output, csv_output)
        else:
            rows = ledger.iter_rows(
                label, since=since_at, model=model_id, run_id=run_id, limit=shown_limit
            )
            _show_rows(app, rows, totals, label, shown_limit, json_output, csv_output)
    # Only where --reconcile can do something: a pending row, or an unknown one (the summary
    # cannot tell which unknown rows carry a generation id; --reconcile says so when none does).
    open_rows = totals.pending + totals.unknown
    if not machine and open_rows and not reconcile:
        app.info(
            f"{_calls(open_rows)} still pending or of unknown outcome; "
            "flux2 history --reconcile settles what it can"
        )


def _say_nothing(app: App, what: str, csv_output: bool, by: str | None) -> None:
    if csv_output:  # a CSV with no rows is still a CSV: pipelines get the header
        app.display(",".join(group_fields(by) if by else ROW_FIELDS))
    app.info(what)


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


# -- totals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Totals:
    count: int
    failed: int
    pending: int
    unknown: int
    ok_unpriced: int  # ok, but the server reported no charge: counted at the estimate
    estimate_micros: int
    charged_micros: int  # what the server reported
    unsettled_micros: int  # what the pending and unknown calls count for
    counted_micros: int  # what everything counts for against a budget

    @classmethod
    def of(cls, summary: Summary) -> Totals:
        """The ledger's sums over the selected rows (computed by the database)."""
        return cls(
            count=summary.count,
            failed=summary.failed,
            pending=summary.pending,
            unknown=summary.unknown,
            ok_unpriced=summary.ok_unpriced,
            estimate_micros=summary.estimate_micros,
            charged_micros=summary.charged_micros,
            unsettled_micros=summary.unsettled_micros,
            counted_micros=summary.counted_micros,
        )

    @property
    def unsettled(self) -> int:
        return self.pending + self.unknown

    def line(self) -> str:
        """`3 calls · estimate $0.090 · charged $0.060 · 1 unknown … · counts as $0.090`."""
        from flux_cli.pricing import format_usd

        parts = [
            _calls(self.count),
            f"estimate {format_usd(self.estimate_micros)}",
            f"charged {format_usd(self.charged_micros)}",
        ]
        if self.failed:
            parts.append(f"{self.failed} failed (not billed)")
        if self.unsettled:
            states = " and ".join(
                f"{n} {name}"
                for n, name in ((self.pending, "pending"), (self.unknown, "unknown"))
                if n
            )
            parts.append(
                f"{states}: may have been billed, counted at {format_usd(self.unsettled_micros)}"
            )
        if self.ok_unpriced:
            parts.append(f"{self.ok_unpriced} without a reported charge, counted at the estimate")
        parts.append(f"counts as {format_usd(self.counted_micros)}")
        return " · ".join(parts)


# -- rows ---------------------------------------------------------------------------------------

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


_ALIAS_OF: dict[str, str] = {}


def _alias(model_id: str) -> str | None:
    if not _ALIAS_OF:
        from flux_cli.embedded_catalog import ALIASES

        for alias, known in reversed(ALIASES.items()):  # the first alias of a model wins
            _ALIAS_OF[known] = alias
    return _ALIAS_OF.get(model_id)


def _iso(moment: datetime) -> str:

    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _local(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def _usd_number(micros: int | None) -> float | None:
    from flux_cli.pricing import micros_to_usd

    return None if micros is None else float(micros_to_usd(micros))


def _usd_text(micros: int | None) -> str:
    from flux_cli.pricing import micros_to_usd

    return "" if micros is None else f"{micros_to_usd(micros):f}"


def row_record(row: Row) -> dict[str, Any]:
    """Every column of a ledger row, money as integer micro-dollars (exact) and USD (`*_usd`)."""
    return {
        "id": row.id,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
        "status": row.status,
        "api": row.api,
        "command": row.command,
        "model": row.model,
        "alias": _alias(row.model),
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
    }


def group_fields(by: str) -> tuple[str, ...]:
    """The group's field is named for what it groups by: `day` or `model`."""
    return (by, *GROUP_FIELDS[1:])


def group_record(group: TotalRow, by: str) -> dict[str, Any]:
    return {
        by: group.key,
        "alias": _alias(group.key),
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


_USD_FIELDS = ("estimate_usd", "charged_usd", "counted_usd")


def _json_line(record: dict[str, Any]) -> str:
    import json

    for name in _USD_FIELDS:  # micro-dollars until here; a float only on the wire
        record[name] = _usd_number(record[name])
    return json.dumps(record, ensure_ascii=False)


def _emit_csv(app: App, records: Iterable[dict[str, Any]], fields: Sequence[str]) -> None:
    import csv
    import io

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    app.display(buffer.getvalue().rstrip("\n"))
    for record in records:
        buffer = io.StringIO()
        _write_csv_record(buffer, record, fields)
        app.display(buffer.getvalue().rstrip("\n"))


def _write_csv_record(buffer: Any, record: dict[str, Any], fields: Sequence[str]) -> None:
    import csv

    from flux_cli.textsafe import csv_safe

    values = []
    for name in fields:
        value = record[name]
        if name in _USD_FIELDS:
            value = _usd_text(value)  # exact decimal text, never a float
        elif isinstance(value, list):
            value = ";".join(value)
        values.append(csv_safe(value))
    csv.writer(buffer, lineterminator="\n").writerow(values)


def _show_rows(
    app: App,
    rows: Iterable[Row],
    totals: Totals,
    label: str,
    limit: int | None,
    json_output: bool,
    csv_output: bool,
) -> None:
    """`rows` are read as they are written (JSON Lines, CSV); the table holds at most `limit`."""
    if json_output:
        for row in rows:
            app.display(_json_line(row_record(row)))
            if app.stdout_closed:
                return
        return
    if csv_output:
        _emit_csv(app, (row_record(r) for r in rows), ROW_FIELDS)
        return
    shown = list(rows)
    _print(app, _rows_table(app, shown, totals, label))
    if len(shown) < totals.count:
        app.info(
            f"showing the newest {len(shown)} of {totals.count} calls; --limit N shows more, "
            "--by day, model, host or user sums them up"
        )


ID_COLUMN_MIN_WIDTH = 120


def _rows_table(app: App, rows: Sequence[Row], totals: Totals, label: str) -> Any:
    from rich.text import Text

    from flux_cli.cli.render import styled_table
    from flux_cli.cli.tables import fitted
    from flux_cli.endpoints import describe
    from flux_cli.pricing import format_usd
    from flux_cli.textsafe import strip_control

    table = styled_table(app.out, f"History · {describe(label)}")
    table.caption = totals.line()
    table.caption_justify = "left"
    with_prompt = any(r.prompt for r in rows)
    # The id's tail is for finding a row by eye (--json has it whole); below 120 columns it
    # gives its room to the file and prompt, which would otherwise be cut to a few letters.
    with_id = app.out.width >= ID_COLUMN_MIN_WIDTH
    table.add_column("time", no_wrap=True)
    table.add_column("model", overflow="fold")
    table.add_column("size", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("estimate", justify="right", no_wrap=True)
    table.add_column("charged", justify="right", no_wrap=True)
    if with_id:
        table.add_column("generation id", no_wrap=True)
    table.add_column("file · prompt" if with_prompt else "file", overflow="fold")
    for row in rows:
        size = f"{row.width}×{row.height}" if row.width and row.height else "—"
        if row.reference_count:
            size += f" +{row.reference_count} ref"
        stack = "\n" if fitted(app.out) else " · "  # unless laid out for a width: one line
        what = Text(strip_control(stack.join(_file_name(p) for p in row.paths) or "—"))
        if row.prompt:
            # Stored prompts only (history.store_prompts); one short line, never markup.
            what.append(stack)
            what.append(strip_control(" ".join(row.prompt.split()), PROMPT_CHARS), style="dim")
        cells: list[Text | str] = [
            _local(row.created_at),
            Text(_alias(row.model) or strip_control(row.model)),
            size,
            Text(_status_text(row), style=_STATUS_STYLE.get(row.status, "")),
            format_usd(row.estimate_micros),
            _charged_cell(row),
        ]
        if with_id:
            whole = not fitted(app.out)  # a pipe or a log gets every value whole
            cells.append(
                Text(
                    strip_control(row.generation_id or "—")
                    if whole
                    else _short_id(row.generation_id)
                )
            )
        table.add_row(*cells, what)
    from flux_cli.cli.tables import fit_columns

    fit_columns(app.out, table, ("size", "estimate"))
    return table


def _short_id(generation_id: str | None) -> str:
    """The id's distinctive tail; the table is for finding a row by eye, --json has the whole id."""
    from flux_cli.textsafe import strip_control

    if not generation_id:
        return "—"
    text = strip_control(generation_id)
    return text if len(text) <= 14 else "…" + text[-13:]


def _status_text(row: Row) -> str:
    from flux_cli.exit_codes import ExitCode

    if row.status == "failed" and row.exit_code == ExitCode.BUDGET:
        return "blocked"  # refused by a budget or --max-cost: nothing was sent
    return row.status


def _file_name(path: str) -> str:
    """The name only: the table is for finding a file by eye; --json has the full path."""
    return path.replace("\\", "/").rsplit("/", 1)[-1] or path


_STATUS_STYLE = {"failed": "red", "pending": "yellow", "unknown": "yellow"}


def _charged_cell(row: Row) -> str:
    from flux_cli.pricing import format_usd

    if row.charged_micros is not None:
        return format_usd(row.charged_micros)
    if row.status == "failed":
        return "—"  # not billed
    if row.status == "ok":
        return "not reported"
    return "?"  # pending or unknown: may have been billed


def _show_groups(
    app: App,
    groups: Sequence[TotalRow],
    by: str,
    totals: Totals,
    label: str,
    limit: int | None,
    json_output: bool,
    csv_output: bool,
) -> None:
    shown = groups[:limit] if limit is not None else groups
    if json_output:
        for group in shown:
            app.display(_json_line(group_record(group, by)))
        return
    if csv_output:
        _emit_csv(app, [group_record(g, by) for g in shown], group_fields(by))
        return
    from rich.text import Text

    from flux_cli.cli.render import styled_table
    from flux_cli.endpoints import describe
    from flux_cli.pricing import format_usd
    from flux_cli.textsafe import strip_control

    table = styled_table(app.out, f"History by {by} · {describe(label)}")
    unnamed = {"host": "unknown host", "user": "unknown user"}.get(by, "—")
    table.caption = totals.line()
    table.caption_justify = "left"
    table.add_column(by, no_wrap=True)  # a day or a model whole, never `2026-` / `12-06`
    for name in ("calls", "ok", "failed", "pending", "unknown"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("estimate", "charged", "counts as"):
        table.add_column(name, justify="right", no_wrap=True)
    for group in shown:
        key = group.key
        if by == "model":
            alias = _alias(key)
            key = alias or strip_control(key)
        else:
            key = strip_control(key) or unnamed
        table.add_row(
            Text(key),
            str(group.count),
            str(group.ok_count),
            str(group.failed_count),
            str(group.pending_count),
            str(group.unknown_count),
            format_usd(group.estimate_micros),
            format_usd(group.charged_micros),
            format_usd(group.counted_micros),
        )
    from flux_cli.cli.tables import fit_columns

    fit_columns(app.out, table, ("estimate", "pending"))
    _print(app, table)
    if len(shown) < len(groups):
        app.info(f"showing {len(shown)} of {len(groups)} groups; --limit N shows more")


def _print(app: App, renderable: Any) -> None:
    try:
        app.out.print(renderable)
    except BrokenPipeError:
        app.stdout_closed = True


# -- reconcile ----------------------------------------------------------------------------------


def _reconcile(app: App, ledger: Ledger, label: str, base_url: str, now: datetime) -> None:
    """Run flux_cli.reconcile and say what it did: one stderr line per changed row."""
    from flux_cli import reconcile
    from flux_cli.endpoints import SANDBOX

    lookup = close = None
    if label != SANDBOX and _has_lookups(ledger, label, now):
        from flux_cli.credentials import resolve_key

        lookup, close = reconcile.generation_lookup(base_url, resolve_key())
    try:
        outcome = reconcile.reconcile(ledger, label, now, lookup, sandbox=label == SANDBOX)
    finally:
        if close is not None:
            close()
    for note in outcome.notes:
        app.info(note)
    for row, why in outcome.skipped:
        app.warn(f"#{row.id}: {why}; skipped")
    for change in outcome.changes:
        _report(app, change.row, change.status, change.detail, flagged=change.flagged)
    if outcome.nothing_to_do:
        return
    summary = f"reconciled {_calls(outcome.changed)}"
    flagged = sum(c.flagged for c in outcome.changes)
    if flagged:
        summary += f"; {flagged} flagged (a /generation record not believed)"
    if outcome.still_unknown:
        summary += (
            f"; {outcome.still_unknown} still unknown (OpenRouter does not know the id yet: "
            "run --reconcile again in a few minutes)"
        )
    app.info(summary)


def _has_lookups(ledger: Ledger, label: str, now: datetime) -> bool:
    """Whether any row has an id to look up (only then is the key needed)."""
    from flux_cli.reconcile import GRACE

    rows = (
        *ledger.rows(label, statuses=("unknown",)),
        *ledger.stale_pending(label, now=now, older_than=GRACE),
    )
    return any(r.generation_id for r in rows)


def _report(app: App, row: Row, status: str, detail: str, *, flagged: bool = False) -> None:
    from flux_cli.textsafe import strip_control

    what = _alias(row.model) or strip_control(row.model, 60)
    gen = strip_control(row.generation_id or "no generation id", 80)
    change = f"{row.status} (flagged)" if flagged else f"{row.status} → {status}"
    app.info(f"#{row.id} {_local(row.created_at)} {what} {gen}: {change}: {detail}")
