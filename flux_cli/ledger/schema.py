"""The ledger's tables, one list of migrations per database, and the SQL they share.

Each migration is a tuple of statements run in order inside one transaction. Never edit a
migration that has shipped; append a new one instead. SQLite keeps its version in
`PRAGMA user_version`, PostgreSQL in the one-row table `flux2_schema`.

Running totals, kept by triggers in the same transaction as every insert, settle and delete:

- `spend`: per API and quarter hour of `created_at` (UTC), what the rows count for against a
  budget, and the sums `history` shows. The budget check adds up at most a month of quarter
  hours (about 3,000 small rows) however long the ledger grows. Every time zone in use today is
  a whole number of quarter hours from UTC, so a local midnight is always a bucket boundary;
  where one is not, `Ledger` sums `calls` instead.
- `daily`: per API, UTC day, model, host and OS user, the same sums, for `history --by model`,
  `--by host` and `--by user`.

`--since` adds the rows between the given time and the next boundary from `calls` itself.
"""

from __future__ import annotations

from flux_cli.ledger.types import DISTRUSTED_CHARGE, MAX_CHARGE_MICROS

# The columns of a row, in the order `Row` is built from.
ROW_COLUMNS = (
    "id, created_at, updated_at, status, api, command, model, provider, route, seed, width, "
    "height, output_mp, reference_count, reference_mp, estimate_micros, charged_micros, "
    "generation_id, paths, sha256s, exit_code, prompt, pid, hostname, error, elapsed_s, "
    "run_id, host, os_user, fingerprint, model_options"
)
# Every column `ledger migrate` copies (all but the id, which each database numbers itself).
COPY_COLUMNS = (
    "created_at",
    "updated_at",
    "status",
    "api",
    "command",
    "model",
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
    "generation_id",
    "paths",
    "sha256s",
    "exit_code",
    "prompt",
    "pid",
    "hostname",
    "error",
    "elapsed_s",
    "run_id",
    "host",
    "os_user",
    "uid",
    "fingerprint",
    "model_options",
)


def counted(prefix: str = "", greatest: str = "MAX") -> str:
    """What a row counts for against a budget (see the package docstring), as SQL."""
    p = prefix
    return f"""
    CASE {p}status
        WHEN 'ok' THEN COALESCE({p}charged_micros, {p}estimate_micros)
        WHEN 'failed' THEN COALESCE({p}charged_micros, 0)
        ELSE {greatest}({p}estimate_micros, COALESCE({p}charged_micros, 0))
    END"""


# The sums both running-total tables hold, and how a row adds to each (`r` is the row).
SUMS = (
    "calls_count",
    "ok_count",
    "failed_count",
    "pending_count",
    "unknown_count",
    "unpriced_count",
    "estimate_micros",
    "charged_micros",
    "counted_micros",
    "unsettled_micros",
)


def _deltas(r: str, greatest: str, flag: str) -> tuple[str, ...]:
    """What one row adds to each of SUMS; `flag` turns a condition into 0/1 for the dialect."""
    rule = counted(r, greatest)
    return (
        "1",
        flag.format(f"{r}status = 'ok'"),
        flag.format(f"{r}status = 'failed'"),
        flag.format(f"{r}status = 'pending'"),
        flag.format(f"{r}status = 'unknown'"),
        flag.format(f"{r}status = 'ok' AND {r}charged_micros IS NULL"),
        f"{r}estimate_micros",
        f"COALESCE({r}charged_micros, 0)",
        rule,
        f"CASE WHEN {r}status IN ('pending', 'unknown') THEN {rule} ELSE 0 END",
    )


def _rollup_table(name: str, keys: tuple[str, ...], integer: str, suffix: str = "") -> str:
    key_columns = "".join(f"{key} TEXT NOT NULL, " for key in keys)
    sums = ", ".join(f"{column} {integer} NOT NULL" for column in SUMS)
    return f"CREATE TABLE {name} ({key_columns}{sums}, PRIMARY KEY ({', '.join(keys)})){suffix}"


SPEND_KEYS = ("api", "bucket")
DAILY_KEYS = ("api", "day", "model", "host", "os_user")


def _sqlite_keys(r: str) -> dict[str, str]:
    minute = f"CAST(substr({r}created_at, 15, 2) AS INTEGER)"
    return {
        "api": f"{r}api",
        "bucket": f"substr({r}created_at, 1, 14) || printf('%02d', {minute} / 15 * 15)",
        "day": f"substr({r}created_at, 1, 10)",
        "model": f"{r}model",
        "host": f"COALESCE({r}host, '')",
        "os_user": f"COALESCE({r}os_user, '')",
    }


def _upsert(
    table: str,
    keys: tuple[str, ...],
    key_sql: dict[str, str],
    deltas: tuple[str, ...],
    sign: str,
    alias: str = "",
) -> str:
    columns = ", ".join((*keys, *SUMS))
    values = ", ".join((*(key_sql[k] for k in keys), *(f"{sign}({d})" for d in deltas)))
    target = f"{table} AS {alias}" if alias else table
    old = f"{alias}." if alias else ""
    updates = ", ".join(f"{c} = {old}{c} + excluded.{c}" for c in SUMS)
    conflict = f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    return f"INSERT INTO {target} ({columns}) VALUES ({values}) {conflict}"  # noqa: S608 - ours


def _sqlite_rollups(row: str, sign: str) -> str:
    keys, deltas = _sqlite_keys(row + "."), _deltas(row + ".", "MAX", "({})")
    return "".join(
        _upsert(table, table_keys, keys, deltas, sign) + "; "
        for table, table_keys in (("spend", SPEND_KEYS), ("daily", DAILY_KEYS))
    )


def _sqlite_backfill(table: str, keys: tuple[str, ...]) -> str:
    return _backfill(table, keys, _sqlite_keys(""), _deltas("", "MAX", "({})"))


def _postgres_backfill(table: str, keys: tuple[str, ...]) -> str:
    return _backfill(table, keys, _postgres_keys(""), _deltas("", "GREATEST", "({})::int"))


def _backfill(
    table: str, keys: tuple[str, ...], key_sql: dict[str, str], deltas: tuple[str, ...]
) -> str:
    """Fill `table` with the sums of every row of `calls`, as its triggers would have."""
    selected = ", ".join((*(key_sql[k] for k in keys), *(f"SUM({d})" for d in deltas)))
    groups = ", ".join(str(i + 1) for i in range(len(keys)))
    columns = ", ".join((*keys, *SUMS))
    return f"INSERT INTO {table} ({columns}) SELECT {selected} FROM calls GROUP BY {groups}"  # noqa: S608


def _postgres_keys(r: str) -> dict[str, str]:
    minute = f"substr({r}created_at, 15, 2)::int"
    return {
        "api": f"{r}api",
        "bucket": f"substr({r}created_at, 1, 14) || lpad(({minute} / 15 * 15)::text, 2, '0')",
        "day": f"substr({r}created_at, 1, 10)",
        "model": f"{r}model",
        "host": f"COALESCE({r}host, '')",
        "os_user": f"COALESCE({r}os_user, '')",
    }


# The request a row was for, as `flux_cli.resume.fingerprint` reduces it: `generate --batch
# --resume` finds the newest row of each line of a batch in one indexed query.
_FINGERPRINT = (
    "ALTER TABLE calls ADD COLUMN fingerprint TEXT",
    "CREATE INDEX calls_fingerprint ON calls (fingerprint, id) WHERE fingerprint IS NOT NULL",
)

# The provider options a call was sent with (`--steps`, `--guidance`, …), as canonical JSON
# (`flux_cli.ledger.types.canonical_options`); NULL for a call sent without any.
_MODEL_OPTIONS = ("ALTER TABLE calls ADD COLUMN model_options TEXT",)

# Ledgers written before charges were checked (docs/reliability.md#reported-charges) may hold a
# charge no call can have (`usage.cost` 1e15, a negative `/generation` total), and two of them
# overflow the 64-bit sums: every later budget check failed. Such a row counts at its estimate
# from now on, the figure kept as text in its `error` (as `ledger migrate` copies one), and the
# running totals are summed again from the rows.
_PREFIX, _SUFFIX = (part.replace("'", "''") for part in DISTRUSTED_CHARGE.split("{}"))
_NOTE = f"'{_PREFIX}' || CAST(charged_micros AS TEXT) || '{_SUFFIX}'"
_OUT_OF_RANGE = f"charged_micros < 0 OR charged_micros > {MAX_CHARGE_MICROS}"
_NULLED = f"charged_micros = NULL, error = {_NOTE}"
_DISTRUST_CHARGES = f"UPDATE calls SET {_NULLED} WHERE {_OUT_OF_RANGE}"  # noqa: S608 - ours
_EMPTY_TOTALS = ("DELETE FROM spend", "DELETE FROM daily")

SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE calls (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at      TEXT    NOT NULL,
            updated_at      TEXT    NOT NULL,
            status          TEXT    NOT NULL
                            CHECK (status IN ('pending', 'ok', 'failed', 'unknown')),
            api             TEXT    NOT NULL,
            command         TEXT    NOT NULL,
            model           TEXT    NOT NULL,
            provider        TEXT,
            route           TEXT,
            seed            INTEGER,
            width           INTEGER,
            height          INTEGER,
            output_mp       INTEGER,
            reference_count INTEGER NOT NULL DEFAULT 0,
            reference_mp    INTEGER NOT NULL DEFAULT 0,
            estimate_micros INTEGER NOT NULL CHECK (estimate_micros >= 0),
            charged_micros  INTEGER,
            generation_id   TEXT,
            paths           TEXT    NOT NULL DEFAULT '[]',
            sha256s         TEXT    NOT NULL DEFAULT '[]',
            exit_code       INTEGER,
            prompt          TEXT,
            pid             INTEGER,
            hostname        TEXT,
            error           TEXT,
            elapsed_s       REAL
        )
        """,
        "CREATE INDEX calls_api_created ON calls (api, created_at)",
        "CREATE INDEX calls_unresolved ON calls (api, status) "
        "WHERE status IN ('pending', 'unknown')",
    ),
    (
        # Who and which batch run; `uid` is the row's identity across ledgers (`ledger migrate`).
        "ALTER TABLE calls ADD COLUMN run_id TEXT",
        "ALTER TABLE calls ADD COLUMN host TEXT",
        "ALTER TABLE calls ADD COLUMN os_user TEXT",
        "ALTER TABLE calls ADD COLUMN uid TEXT",
        "UPDATE calls SET host = hostname, uid = lower(hex(randomblob(16)))",
        "CREATE UNIQUE INDEX calls_uid ON calls (uid)",
        "CREATE INDEX calls_run ON calls (run_id) WHERE run_id IS NOT NULL",
        # One index for the newest-first listing (created_at, id) that also covers the totals,
        # so `history`'s sums read the index alone.
        # The unsettled rows in listing order: `stale_pending` and reconcile read them without
        # a sort, and the planner picks this small index over the big one.
        "DROP INDEX calls_unresolved",
        "CREATE INDEX calls_unresolved ON calls (api, created_at, id) "
        "WHERE status IN ('pending', 'unknown')",
        "DROP INDEX calls_api_created",
        "CREATE INDEX calls_api_created ON calls "
        "(api, created_at, id, status, estimate_micros, charged_micros, model)",
        _rollup_table("spend", SPEND_KEYS, "INTEGER", " WITHOUT ROWID"),
        _rollup_table("daily", DAILY_KEYS, "INTEGER", " WITHOUT ROWID"),
        _sqlite_backfill("spend", SPEND_KEYS),
        _sqlite_backfill("daily", DAILY_KEYS),
        f"CREATE TRIGGER calls_rollup_insert AFTER INSERT ON calls BEGIN "
        f"{_sqlite_rollups('NEW', '+')} END",
        f"CREATE TRIGGER calls_rollup_update AFTER UPDATE OF "
        f"status, charged_micros, estimate_micros, api, created_at, model, host, os_user "
        f"ON calls BEGIN {_sqlite_rollups('OLD', '-')} {_sqlite_rollups('NEW', '+')} END",
        f"CREATE TRIGGER calls_rollup_delete AFTER DELETE ON calls BEGIN "
        f"{_sqlite_rollups('OLD', '-')} END",
    ),
    _FINGERPRINT,  # 3
    _MODEL_OPTIONS,  # 4
    (  # 5
        # The update trigger may meet the overflowed totals: SQLite's integer arithmetic turns
        # to floating point there rather than fail, and the totals are replaced anyway.
        _DISTRUST_CHARGES,
        *_EMPTY_TOTALS,
        _sqlite_backfill("spend", SPEND_KEYS),
        _sqlite_backfill("daily", DAILY_KEYS),
    ),
)

POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE calls (
            id              BIGINT  GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            created_at      TEXT    NOT NULL,
            updated_at      TEXT    NOT NULL,
            status          TEXT    NOT NULL
                            CHECK (status IN ('pending', 'ok', 'failed', 'unknown')),
            api             TEXT    NOT NULL,
            command         TEXT    NOT NULL,
            model           TEXT    NOT NULL,
            provider        TEXT,
            route           TEXT,
            seed            BIGINT,
            width           INTEGER,
            height          INTEGER,
            output_mp       INTEGER,
            reference_count INTEGER NOT NULL DEFAULT 0,
            reference_mp    INTEGER NOT NULL DEFAULT 0,
            estimate_micros BIGINT  NOT NULL CHECK (estimate_micros >= 0),
            charged_micros  BIGINT,
            generation_id   TEXT,
            paths           TEXT    NOT NULL DEFAULT '[]',
            sha256s         TEXT    NOT NULL DEFAULT '[]',
            exit_code       INTEGER,
            prompt          TEXT,
            pid             INTEGER,
            hostname        TEXT,
            error           TEXT,
            elapsed_s       DOUBLE PRECISION,
            run_id          TEXT,
            host            TEXT,
            os_user         TEXT,
            uid             TEXT    NOT NULL UNIQUE
        )
        """,
        "CREATE INDEX calls_api_created ON calls "
        "(api, created_at, id, status, estimate_micros, charged_micros, model)",
        "CREATE INDEX calls_unresolved ON calls (api, created_at, id) "
        "WHERE status IN ('pending', 'unknown')",
        "CREATE INDEX calls_run ON calls (run_id) WHERE run_id IS NOT NULL",
        _rollup_table("spend", SPEND_KEYS, "BIGINT"),
        _rollup_table("daily", DAILY_KEYS, "BIGINT"),
        "CREATE FUNCTION flux2_spend_add(r calls, sign INTEGER) RETURNS void LANGUAGE sql AS $$ "
        + "; ".join(
            _upsert(
                table,
                keys,
                _postgres_keys("r."),
                _deltas("r.", "GREATEST", "({})::int"),
                "sign * ",
                "s",
            )
            for table, keys in (("spend", SPEND_KEYS), ("daily", DAILY_KEYS))
        )
        + " $$",
        """
        CREATE FUNCTION flux2_calls_spend() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                PERFORM flux2_spend_add(OLD, -1);
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                PERFORM flux2_spend_add(NEW, 1);
            END IF;
            RETURN NULL;
        END
        $$
        """,
        "CREATE TRIGGER calls_spend AFTER INSERT OR DELETE OR UPDATE OF "
        "status, charged_micros, estimate_micros, api, created_at, model, host, os_user "
        "ON calls FOR EACH ROW EXECUTE FUNCTION flux2_calls_spend()",
    ),
    _FINGERPRINT,  # 2
    _MODEL_OPTIONS,  # 3
    (  # 4
        # Nobody reads the totals or writes a row until they are whole again; the trigger is
        # off meanwhile, as subtracting an absurd charge from a total can leave BIGINT's range.
        "LOCK TABLE calls, spend, daily IN ACCESS EXCLUSIVE MODE",
        "ALTER TABLE calls DISABLE TRIGGER calls_spend",
        _DISTRUST_CHARGES,
        *_EMPTY_TOTALS,
        _postgres_backfill("spend", SPEND_KEYS),
        _postgres_backfill("daily", DAILY_KEYS),
        "ALTER TABLE calls ENABLE TRIGGER calls_spend",
    ),
)
