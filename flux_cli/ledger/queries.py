"""What `history` asks of the ledger: rows newest first (all at once or a page at a time), the
sums over them, and the sums per local day, model, host or OS user.

Sums come from the running totals (schema.py) where the filter allows: with no `--model` or
`--run`, `spend` (quarter hours) answers the summary and the days, `daily` (UTC days) the
models, hosts and users; `--since` adds the few rows between its time and the next boundary
from `calls`. Anything else is summed from `calls` through its covering index.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flux_cli.ledger.schema import ROW_COLUMNS, SUMS, counted
from flux_cli.ledger.times import local_days, parse_stamp, stamp
from flux_cli.ledger.types import (
    GROUPINGS,
    UNRESOLVED,
    Grouping,
    Row,
    Status,
    Summary,
    TotalRow,
    check_status,
)

if TYPE_CHECKING:
    from flux_cli.ledger.database import Database

PAGE_ROWS = 1000  # rows fetched at a time when streaming
_DAYS_PER_QUERY = 500
# Summary's fields, and TotalRow's, in the order of their SQL.
_SUMMARY_SUMS = (
    "calls_count",
    "failed_count",
    "pending_count",
    "unknown_count",
    "unpriced_count",
    "estimate_micros",
    "charged_micros",
    "unsettled_micros",
    "counted_micros",
)
_TOTAL_SUMS = (
    "calls_count",
    "ok_count",
    "failed_count",
    "pending_count",
    "unknown_count",
    "estimate_micros",
    "charged_micros",
    "counted_micros",
)
_GROUP_COLUMN = {"model": "model", "host": "host", "user": "os_user"}


class Filter:
    """The rows `history` selects: one API, and optionally since a time, a model, a run and
    some statuses; as SQL conditions with `:name` placeholders."""

    def __init__(
        self,
        api: str,
        since: datetime | None = None,
        model: str | None = None,
        run_id: str | None = None,
        statuses: Sequence[Status] | None = None,
    ) -> None:
        self.api, self.since, self.model, self.run_id = api, since, model, run_id
        self.where = ["api = :api"]
        self.params: dict[str, Any] = {"api": api}
        if since is not None:
            self.where.append("created_at >= :since")
            self.params["since"] = stamp(since)
        if model is not None:
            self.where.append("model = :model")
            self.params["model"] = model
        if run_id is not None:
            self.where.append("run_id = :run_id")
            self.params["run_id"] = run_id
        if statuses is not None:
            names = []
            for index, status in enumerate(statuses):
                check_status(status)
                names.append(f":status{index}")
                self.params[f"status{index}"] = status
            self.where.append(f"status IN ({', '.join(names) or 'NULL'})")
            if set(statuses) <= set(UNRESOLVED):
                # Spelled out so the planner can use the partial index `calls_unresolved`: it
                # cannot prove that placeholders fall inside the index's condition.
                self.where.append("status IN ('pending', 'unknown')")
        self.rollups = model is None and run_id is None and statuses is None

    @property
    def sql(self) -> str:
        return " AND ".join(self.where)

    def before(self, moment: str) -> tuple[str, dict[str, Any]]:
        """These conditions and `created_at < moment`: the edge rows the totals miss."""
        return f"{self.sql} AND created_at < :edge", {**self.params, "edge": moment}


def rows(db: Database, chosen: Filter, limit: int | None = None) -> list[Row]:
    """Newest first."""
    sql = f"SELECT {ROW_COLUMNS} FROM calls WHERE {chosen.sql} ORDER BY created_at DESC, id DESC"  # noqa: S608
    params = dict(chosen.params)
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = max(0, limit)
    with db.reading() as session:
        records = session.execute(sql, params).fetchall()
    return [to_row(r) for r in records]


def iter_rows(
    db: Database, chosen: Filter, limit: int | None = None, page: int = PAGE_ROWS
) -> Iterator[Row]:
    """`rows`, a page at a time. Each page is its own query, continuing after the last row of
    the one before, so no lock or cursor is held while the caller works on a row."""
    params = dict(chosen.params)
    left = limit
    after: tuple[str, int] | None = None
    while left is None or left > 0:
        where = chosen.sql
        if after is not None:
            # A row value: both databases bound the index range with it (an OR they may not).
            where += " AND (created_at, id) < (:after_at, :after_id)"
            params["after_at"], params["after_id"] = after
        params["page"] = page if left is None else min(page, left)
        sql = (
            f"SELECT {ROW_COLUMNS} FROM calls WHERE {where} "  # noqa: S608 - ours
            "ORDER BY created_at DESC, id DESC LIMIT :page"
        )
        with db.reading() as session:
            records = session.execute(sql, params).fetchall()
        for record in records:
            yield to_row(record)
        if len(records) < params["page"]:
            return
        if left is not None:
            left -= len(records)
        after = (records[-1][1], records[-1][0])


def _row_sums(db: Database, names: Sequence[str]) -> str:
    """SQL over `calls` for each of `names` (columns of SUMS), for rows not in the totals."""
    rule = counted(greatest=db.greatest)
    each = {
        "calls_count": "COUNT(*)",
        "ok_count": _count("status = 'ok'"),
        "failed_count": _count("status = 'failed'"),
        "pending_count": _count("status = 'pending'"),
        "unknown_count": _count("status = 'unknown'"),
        "unpriced_count": _count("status = 'ok' AND charged_micros IS NULL"),
        "estimate_micros": "COALESCE(SUM(estimate_micros), 0)",
        "charged_micros": "COALESCE(SUM(COALESCE(charged_micros, 0)), 0)",
        "counted_micros": f"COALESCE(SUM({rule}), 0)",
        "unsettled_micros": (
            f"COALESCE(SUM(CASE WHEN status IN ('pending', 'unknown') THEN {rule} END), 0)"
        ),
    }
    return ", ".join(each[name] for name in names)


def _total_sums(names: Sequence[str]) -> str:
    assert set(names) <= set(SUMS)
    return ", ".join(f"COALESCE(SUM({name}), 0)" for name in names)


def _quarter_after(moment: datetime) -> datetime:
    """The first quarter-hour boundary at or after `moment`."""
    moment = moment.astimezone(UTC)
    floor = moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=15)


def _day_after(moment: datetime) -> datetime:
    """The first UTC midnight at or after `moment`."""
    moment = moment.astimezone(UTC)
    floor = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(days=1)


def summary(db: Database, chosen: Filter) -> Summary:
    """Totals over every row the filter selects."""
    with db.reading() as session:
        if not chosen.rollups:
            sql = f"SELECT {_row_sums(db, _SUMMARY_SUMS)} FROM calls WHERE {chosen.sql}"  # noqa: S608
            return Summary(*(int(v) for v in session.execute(sql, chosen.params).fetchone()))
        sql = f"SELECT {_total_sums(_SUMMARY_SUMS)} FROM spend WHERE api = :api"  # noqa: S608
        params: dict[str, Any] = {"api": chosen.api}
        edge: list[int] = [0] * len(_SUMMARY_SUMS)
        if chosen.since is not None:
            boundary = stamp(_quarter_after(chosen.since))
            sql += " AND bucket >= :bucket"
            params["bucket"] = boundary[:16]
            where, edge_params = chosen.before(boundary)
            edge_sql = f"SELECT {_row_sums(db, _SUMMARY_SUMS)} FROM calls WHERE {where}"  # noqa: S608
            edge = [int(v) for v in session.execute(edge_sql, edge_params).fetchone()]
        found = session.execute(sql, params).fetchone()
    return Summary(*(int(a) + b for a, b in zip(found, edge, strict=True)))


def totals(db: Database, chosen: Filter, by: Grouping) -> list[TotalRow]:
    """Per local day (newest first), or per model, host or OS user (by name)."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    if by == "day":
        return _by_day(db, chosen)
    column = _GROUP_COLUMN[by]
    groups: list[TotalRow] = []
    with db.reading() as session:
        if chosen.rollups:
            where, params = "api = :api", {"api": chosen.api}
            if chosen.since is not None:
                boundary = _day_after(chosen.since)
                where += " AND day >= :day"
                params["day"] = boundary.strftime("%Y-%m-%d")
                edge_where, edge_params = chosen.before(stamp(boundary))
                groups += _grouped(db, session, column, edge_where, edge_params)
            sql = (
                f"SELECT {column}, {_total_sums(_TOTAL_SUMS)} FROM daily "  # noqa: S608
                f"WHERE {where} GROUP BY {column}"
            )
            groups += [_total(r) for r in session.execute(sql, params).fetchall()]
        else:
            groups += _grouped(db, session, column, chosen.sql, chosen.params)
    return sorted(_merged(groups), key=lambda t: t.key)


def _grouped(
    db: Database, session: Any, column: str, where: str, params: dict[str, Any]
) -> list[TotalRow]:
    sql = (
        f"SELECT COALESCE({column}, ''), {_row_sums(db, _TOTAL_SUMS)} FROM calls "  # noqa: S608
        f"WHERE {where} GROUP BY COALESCE({column}, '')"
    )
    return [_total(r) for r in session.execute(sql, params).fetchall()]


def _by_day(db: Database, chosen: Filter) -> list[TotalRow]:
    """Local days are the machine's time zone, which the database does not know: the days are
    made here (each from its local midnight to the next) and joined on the time, one index
    range per day, over the quarter-hour totals where every day starts on a quarter hour."""
    with db.reading() as session:
        # Two queries: each is one step down the index, where MIN and MAX together scan it.
        ends = [
            session.execute(sql, {"api": chosen.api}).fetchone()[0]
            for sql in (
                "SELECT MIN(created_at) FROM calls WHERE api = :api",
                "SELECT MAX(created_at) FROM calls WHERE api = :api",
            )
        ]
    first, last = ends
    if first is None:
        return []
    start = parse_stamp(first) if chosen.since is None else max(parse_stamp(first), chosen.since)
    days = local_days(start, parse_stamp(last))
    aligned = all(
        int(begin[14:16]) % 15 == 0 and begin[17:] == "00.000000Z" for _, begin, _ in days
    )
    groups: list[TotalRow] = []
    edge_where, edge_params = chosen.sql, chosen.params
    use_totals = chosen.rollups and aligned
    if use_totals and chosen.since is not None:
        boundary = stamp(_quarter_after(chosen.since))
        edge_where, edge_params = chosen.before(boundary)
        groups += _days_from(db, days, "calls", "created_at", edge_where, edge_params)
        groups += _days_from(
            db, days, "spend", "bucket", "api = :api AND bucket >= :bucket",
            {"api": chosen.api, "bucket": boundary[:16]},
        )  # fmt: skip
    elif use_totals:
        groups += _days_from(db, days, "spend", "bucket", "api = :api", {"api": chosen.api})
    else:
        groups += _days_from(db, days, "calls", "created_at", chosen.sql, chosen.params)
    return sorted(_merged(groups), key=lambda t: t.key, reverse=True)


def _days_from(
    db: Database,
    days: list[tuple[str, str, str]],
    table: str,
    column: str,
    where: str,
    params: dict[str, Any],
) -> list[TotalRow]:
    sums = _total_sums(_TOTAL_SUMS) if table == "spend" else _row_sums(db, _TOTAL_SUMS)
    width = 16 if table == "spend" else 27  # a bucket is a stamp cut after the minutes
    found: list[TotalRow] = []
    for start in range(0, len(days), _DAYS_PER_QUERY):
        chunk = days[start : start + _DAYS_PER_QUERY]
        values = ", ".join(f"(:d{i}, :s{i}, :e{i})" for i in range(len(chunk)))
        chunk_params = dict(params)
        for i, (day, begin, end) in enumerate(chunk):
            chunk_params.update({f"d{i}": day, f"s{i}": begin[:width], f"e{i}": end[:width]})
        if db.kind == "postgresql":
            # One index range per day, whatever the planner's statistics say (without them it
            # may scan the whole table once per day).
            sql = f"""
                WITH days (day, day_start, day_end) AS (VALUES {values})
                SELECT days.day, t.* FROM days CROSS JOIN LATERAL (
                    SELECT {sums} FROM {table}
                    WHERE {where} AND {column} >= days.day_start AND {column} < days.day_end
                ) AS t
            """  # noqa: S608 - ours; the days' columns are named apart from the tables'
        else:
            sql = f"""
                WITH days (day, day_start, day_end) AS (VALUES {values})
                SELECT days.day, {sums}
                FROM days JOIN {table}
                  ON {table}.{column} >= days.day_start AND {table}.{column} < days.day_end
                WHERE {where}
                GROUP BY days.day
            """  # noqa: S608 - ours; the days' columns are named apart from the tables'
        with db.reading() as session:
            found.extend(_total(r) for r in session.execute(sql, chunk_params).fetchall())
    return found


def _merged(groups: list[TotalRow]) -> list[TotalRow]:
    """Groups with the same key added up (the totals' part and the edge rows' part)."""
    merged: dict[str, TotalRow] = {}
    for group in groups:
        if group.count == 0:
            continue
        before = merged.get(group.key)
        if before is None:
            merged[group.key] = group
            continue
        merged[group.key] = TotalRow(
            group.key,
            *(
                getattr(before, name) + getattr(group, name)
                for name in (
                    "count",
                    "ok_count",
                    "failed_count",
                    "pending_count",
                    "unknown_count",
                    "estimate_micros",
                    "charged_micros",
                    "counted_micros",
                )
            ),
        )
    return list(merged.values())


def _count(condition: str) -> str:
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


def _total(record: Sequence[Any]) -> TotalRow:
    key, *numbers = record
    return TotalRow(str(key or ""), *(int(n) for n in numbers))


def _strings(text: str | None) -> tuple[str, ...]:
    return () if not text or text == "[]" else tuple(json.loads(text))


def to_row(record: Sequence[Any]) -> Row:
    (
        row_id, created_at, updated_at, status, api, command, model, provider, route, seed,
        width, height, output_mp, reference_count, reference_mp, estimate_micros,
        charged_micros, generation_id, paths, sha256s, exit_code, prompt, pid, hostname, error,
        elapsed_s, run_id, host, os_user, fingerprint, model_options,
    ) = record  # fmt: skip
    return Row(
        id=row_id,
        created_at=parse_stamp(created_at),
        updated_at=parse_stamp(updated_at),
        status=status,
        api=api,
        command=command,
        model=model,
        provider=provider,
        route=route,
        seed=seed,
        width=width,
        height=height,
        output_mp=output_mp,
        reference_count=reference_count,
        reference_mp=reference_mp,
        estimate_micros=estimate_micros,
        charged_micros=charged_micros,
        generation_id=generation_id,
        paths=_strings(paths),
        sha256s=_strings(sha256s),
        exit_code=exit_code,
        prompt=prompt,
        pid=pid,
        hostname=hostname,
        error=error,
        elapsed_s=elapsed_s,
        run_id=run_id,
        host=host,
        os_user=os_user,
        fingerprint=fingerprint,
        model_options=model_options,
    )
