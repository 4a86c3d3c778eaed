"""`flux2 history`: what was generated and what it cost, from the ledger (README.md#budgets-and-the-ledger).

The listing (a table, JSON Lines or CSV) is the command's result, so it goes to stdout; hints,
reconcile reports and "nothing yet" go to stderr. Only the current API's rows are shown: the one
`FLUX2_BASE_URL` selects, or with `--sandbox` the in-process sandbox runs.

The database does the sums (`Ledger.summary`, `Ledger.totals`); only the rows shown are read,
and `--json`/`--csv` write them as they are read, a page at a time, so memory stays flat
whatever the size of the ledger. The query is `flux_cli.history_query`'s, the records and the
totals line `flux_cli.history_records`', the settling `flux_cli.reconcile`'s; this module renders.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flux_cli import history_records as records
from flux_cli.cli.flags import (
    LedgerSandboxOption,
    ModelFilterOption,
    RunFilterOption,
    SinceOption,
)
from flux_cli.history_query import BY_CHOICES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from datetime import datetime

    from flux_cli.cli.context import App
    from flux_cli.history_query import Query
    from flux_cli.ledger import Ledger, Row, Summary, TotalRow

PROMPT_CHARS = 40


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
    sandbox: LedgerSandboxOption = False,
) -> None:
    """List past calls and what they cost: estimate, charge, and what is still pending or unknown.

    Reads the ledger (the local file, or ledger.url) for the current API (FLUX2_BASE_URL, or
    --sandbox), e.g. flux2 history --since 7d --by model
    """
    from datetime import datetime

    from flux_cli.endpoints import SANDBOX, current_api
    from flux_cli.history_query import check_settle, nothing_recorded, open_rows_hint, parse_query
    from flux_cli.ledger import default_path
    from flux_cli.ledger.reading import open_existing

    app: App = ctx.obj
    now = datetime.now(UTC)
    query = parse_query(
        since=since,
        model=model,
        by=by,
        run_id=run_id,
        json_output=json_output,
        csv_output=csv_output,
        limit=limit,
        now=now,
    )
    label = SANDBOX if sandbox else current_api()[0]
    opened = open_existing("history")
    if opened is None:  # a read-only look creates nothing
        _say_nothing(app, nothing_recorded(label, default_path()), query)
        return
    with opened as ledger:
        check_settle(settle, charge)
        if settle is not None:
            from flux_cli.cli.settle import settle_by_hand

            settle_by_hand(app, ledger, label, settle[0], settle[1], charge)
        if reconcile:
            _reconcile(app, ledger, label, now)
        totals = query.summary(ledger, label)
        if not totals.count:
            what = (
                f"no calls match {query.given}"
                if ledger.rows(label, limit=1)
                else nothing_recorded(label, ledger.where, explain=True)
            )
            _say_nothing(app, what, query)
            return
        if reconcile:
            app.info(f"totals now: {records.summary_line(totals)}")
        if query.by is not None:
            _show_groups(app, query.groups(ledger, label), query, totals, label)
        else:
            _show_rows(app, query.rows(ledger, label), query, totals, label)
    hint = open_rows_hint(totals)  # where --reconcile can do something
    if query.output == "table" and hint is not None and not reconcile:
        app.info(hint)


def _say_nothing(app: App, what: str, query: Query) -> None:
    if query.output == "csv":  # a CSV with no rows is still a CSV: pipelines get the header
        app.display(records.csv_header(query.fields))
    app.info(what)


# -- rows ---------------------------------------------------------------------------------------


def _show_rows(app: App, rows: Iterable[Row], query: Query, totals: Summary, label: str) -> None:
    """`rows` are read as they are written (JSON Lines, CSV); the table holds at most the query's
    limit."""
    if query.output != "table":
        _write_records(app, map(records.row_record, rows), query)
        return
    shown = list(rows)
    app.show(_rows_table(app, shown, totals, label))
    if len(shown) < totals.count:
        app.info(
            f"showing the newest {len(shown)} of {totals.count} calls; --limit N shows more, "
            "--by day, model, host or user sums them up"
        )


def _write_records(app: App, found: Iterable[dict[str, Any]], query: Query) -> None:
    """JSON Lines or CSV on stdout, written as `found` is read; JSON stops once the reader has
    gone."""
    if query.output == "csv":
        for line in records.csv_lines(found, query.fields):
            app.display(line)
        return
    for record in found:
        app.display(records.json_line(record))
        if app.stdout_closed:
            return


ID_COLUMN_MIN_WIDTH = 120


def _rows_table(app: App, rows: Sequence[Row], totals: Summary, label: str) -> Any:
    from rich.text import Text

    from flux_cli.cli.tables import fit_columns, fitted, styled_table
    from flux_cli.endpoints import describe
    from flux_cli.pricing import format_usd
    from flux_cli.textsafe import strip_control

    table = styled_table(app.out, f"History · {describe(label)}")
    table.caption = records.summary_line(totals)
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
    whole = not fitted(app.out)  # a pipe or a log gets every value whole, one row a line
    stack = " · " if whole else "\n"
    for row in rows:
        what = Text(records.files_text(row, stack))
        if row.prompt:
            # Stored prompts only (history.store_prompts); one short line, never markup.
            what.append(stack)
            what.append(strip_control(" ".join(row.prompt.split()), PROMPT_CHARS), style="dim")
        cells: list[Text | str] = [
            records.local_minute(row.created_at),
            Text(records.model_text(row.model)),
            records.size_text(row),
            Text(records.status_text(row), style=_STATUS_STYLE.get(row.status, "")),
            format_usd(row.estimate_micros),
            records.charged_text(row),
        ]
        if with_id:
            gen = row.generation_id
            cells.append(Text(strip_control(gen or "—") if whole else records.short_id(gen)))
        table.add_row(*cells, what)
    fit_columns(app.out, table, ("size", "estimate"))
    return table


_STATUS_STYLE = {"failed": "red", "pending": "yellow", "unknown": "yellow"}


def _show_groups(
    app: App, groups: Sequence[TotalRow], query: Query, totals: Summary, label: str
) -> None:
    from flux_cli.history_query import page

    by = str(query.by)
    shown = page(groups, query.limit)
    if query.output != "table":
        _write_records(app, (records.group_record(g, by) for g in shown), query)
        return
    from rich.text import Text

    from flux_cli.cli.tables import fit_columns, styled_table
    from flux_cli.endpoints import describe
    from flux_cli.pricing import format_usd

    table = styled_table(app.out, f"History by {by} · {describe(label)}")
    table.caption = records.summary_line(totals)
    table.caption_justify = "left"
    table.add_column(by, no_wrap=True)  # a day or a model whole, never `2026-` / `12-06`
    for name in ("calls", "ok", "failed", "pending", "unknown"):
        table.add_column(name, justify="right", no_wrap=True)
    for name in ("estimate", "charged", "counts as"):
        table.add_column(name, justify="right", no_wrap=True)
    for group in shown:
        counts = (group.ok_count, group.failed_count, group.pending_count, group.unknown_count)
        table.add_row(
            Text(records.group_name(group.key, by)),
            *(str(count) for count in (group.count, *counts)),
            format_usd(group.estimate_micros),
            format_usd(group.charged_micros),
            format_usd(group.counted_micros),
        )
    fit_columns(app.out, table, ("estimate", "pending"))
    app.show(table)
    if len(shown) < len(groups):
        app.info(f"showing {len(shown)} of {len(groups)} groups; --limit N shows more")


# -- reconcile ----------------------------------------------------------------------------------


def _reconcile(app: App, ledger: Ledger, label: str, now: datetime) -> None:
    """Run flux_cli.reconcile and say what it did: one stderr line per changed row."""
    from flux_cli import reconcile
    from flux_cli.endpoints import SANDBOX

    def connect() -> tuple[reconcile.Lookup, Callable[[], None]]:
        from flux_cli.openrouter.client import Timeouts

        # The endpoint is resolved (the key read) only here: only a lookup needs the key.
        timeouts = Timeouts(attempt=reconcile.LOOKUP_ATTEMPT_S)
        client = app.make_client(app.endpoint, timeouts=timeouts)
        return reconcile.lookup_through(client), client.close

    outcome = reconcile.reconcile_api(ledger, label, now, connect, sandbox=label == SANDBOX)
    for note in outcome.notes:
        app.info(note)
    for row, why in outcome.skipped:
        app.warn(f"#{row.id}: {why}; skipped")
    for change in outcome.changes:
        app.info(change.line())
    summary = outcome.summary()
    if summary is not None:
        app.info(summary)
