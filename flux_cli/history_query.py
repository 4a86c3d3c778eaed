"""Which calls `flux2 history` lists: its flags checked and turned into the ledger's filters, and how
many lines are shown.

    query = parse_query(since="7d", model="pro", by=None, run_id=None, json_output=False,
                        csv_output=False, limit=None, now=now)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar, cast

if TYPE_CHECKING:
    from datetime import datetime

    from flux_cli.ledger import Grouping, Ledger, Row, Summary, TotalRow

__all__ = [
    "BY_CHOICES",
    "DEFAULT_TABLE_LIMIT",
    "Query",
    "check_settle",
    "nothing_recorded",
    "open_rows_hint",
    "page",
    "parse_query",
]

BY_CHOICES = ("day", "model", "host", "user")
#: A table is read by a person: the newest calls only, unless --limit says otherwise.
DEFAULT_TABLE_LIMIT = 50

T = TypeVar("T")
Output = Literal["table", "json", "csv"]


@dataclass(frozen=True)
class Query:
    """The rows to list (the ledger's filters) and how many of them."""

    since: datetime | None
    model: str | None  # a model id (an alias is resolved)
    run_id: str | None
    by: Grouping | None
    limit: int | None  # None: every row
    given: str  # the filters as given, to name them when nothing matches
    output: Output = "table"

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields of a record: a row's, or a group's (named for `by`)."""
        from flux_cli.history_records import ROW_FIELDS, group_fields

        return group_fields(self.by) if self.by else ROW_FIELDS

    def summary(self, ledger: Ledger, api: str) -> Summary:
        """The sums over every selected row (not only the rows shown)."""
        return ledger.summary(api, since=self.since, model=self.model, run_id=self.run_id)

    def rows(self, ledger: Ledger, api: str) -> Iterator[Row]:
        """The rows to list, newest first, read a page at a time."""
        return ledger.iter_rows(
            api, since=self.since, model=self.model, run_id=self.run_id, limit=self.limit
        )

    def groups(self, ledger: Ledger, api: str) -> list[TotalRow]:
        """The sums per group (`by`), every group: `page` cuts them to the limit."""
        assert self.by is not None
        return ledger.totals(
            api, since=self.since, model=self.model, run_id=self.run_id, by=self.by
        )


def parse_query(
    *,
    since: str | None,
    model: str | None,
    by: str | None,
    run_id: str | None,
    json_output: bool,
    csv_output: bool,
    limit: int | None,
    now: datetime,
) -> Query:
    """The flags as a `Query`; UsageError for a bad combination or value."""
    from flux_cli.embedded_catalog import resolve_model_id
    from flux_cli.errors import UsageError
    from flux_cli.ledger import parse_since

    if json_output and csv_output:
        raise UsageError("--json and --csv both choose the output; give one of them")
    if by is not None and by not in BY_CHOICES:
        raise UsageError(f"--by must be one of {', '.join(BY_CHOICES)}, got {by!r}")
    since_at = parse_since(since, now) if since is not None else None
    model_id = resolve_model_id(model) if model is not None else None
    machine = json_output or csv_output
    given = " ".join(
        f"{flag} {value}"
        for flag, value in (("--since", since), ("--model", model), ("--run", run_id))
        if value
    )
    return Query(
        since=since_at,
        model=model_id,
        run_id=run_id,
        by=cast("Grouping | None", by),
        limit=limit if limit is not None or machine else DEFAULT_TABLE_LIMIT,
        given=given,
        output="json" if json_output else "csv" if csv_output else "table",
    )


def page(items: Sequence[T], limit: int | None) -> Sequence[T]:
    """The first `limit` of `items` (all of them for None)."""
    return items[:limit] if limit is not None else items


def check_settle(settle: tuple[int, str] | None, charge: str | None) -> None:
    """UsageError for `--charge` without the `--settle` it goes with."""
    from flux_cli.errors import UsageError

    if charge is not None and settle is None:
        raise UsageError("--charge goes with --settle ID failed|ok")


def nothing_recorded(label: str, where: object, *, explain: bool = False) -> str:
    """The note for an API with no calls in the ledger at `where`; `explain`: say that history
    shows one API at a time, and how to pick another."""
    from flux_cli.endpoints import describe

    note = f"no calls recorded yet for {describe(label)} in {where}"
    if explain:
        note += (
            " (history shows one API at a time: --sandbox for the --sandbox runs, "
            "FLUX2_BASE_URL for another)"
        )
    return note


def open_rows_hint(summary: Summary) -> str | None:
    """The hint under a table with calls still pending or of unknown outcome, which only
    `--reconcile` can settle (the summary cannot tell which unknown rows carry a generation id;
    --reconcile says so when none does)."""
    from flux_cli.history_records import calls

    open_rows = summary.pending + summary.unknown
    if not open_rows:
        return None
    return (
        f"{calls(open_rows)} still pending or of unknown outcome; "
        "flux2 history --reconcile settles what it can"
    )
