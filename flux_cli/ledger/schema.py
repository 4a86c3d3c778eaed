"""The ledger's tables, one list of migrations per database, and the SQL they share.

Each migration is a tuple of statements run in order inside one transaction. Never edit a
migration that has shipped; append a new one instead. SQLite keeps its version in
`PRAGMA user_version`, PostgreSQL in the one-row table `flux2_schema`.

Running totals: `spend` holds, per API and quarter hour of `created_at` (UTC), what the rows
count for against a budget and how many are pending or unknown. Triggers keep it in step with
`calls` in the same transaction as every insert, settle and delete, so the budget check sums at
most a month of quarter hours (about 3,000 small rows) however long the ledger grows. Every
time zone in use today is a whole number of quarter hours from UTC, so a local midnight is
always a bucket boundary; `Ledger` falls back to summing `calls` where one is not.
"""

from __future__ import annotations

# The columns of a row, in the order `Row` is built from.
ROW_COLUMNS = (
    "id, created_at, updated_at, status, api, command, model, provider, route, seed, width, "
    "height, output_mp, reference_count, reference_mp, estimate_micros, charged_micros, "
    "generation_id, paths, sha256s, exit_code, prompt, pid, hostname, error, elapsed_s, "
    "run_id, host, os_user"
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


def _sqlite_bucket(column: str) -> str:
    return (
        f"substr({column}, 1, 14) || "
        f"printf('%02d', CAST(substr({column}, 15, 2) AS INTEGER) / 15 * 15)"
    )


def _sqlite_spend(row: str, sign: str) -> str:
    return f"""
        INSERT INTO spend (api, bucket, counted_micros, pending_count, unknown_count)
        VALUES ({row}.api, {_sqlite_bucket(row + ".created_at")},
                {sign}({counted(row + ".")}), {sign}({row}.status = 'pending'),
                {sign}({row}.status = 'unknown'))
        ON CONFLICT (api, bucket) DO UPDATE SET
            counted_micros = counted_micros + excluded.counted_micros,
            pending_count = pending_count + excluded.pending_count,
            unknown_count = unknown_count + excluded.unknown_count;"""  # noqa: S608 - ours


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
        """
        CREATE TABLE spend (
            api            TEXT    NOT NULL,
            bucket         TEXT    NOT NULL,
            counted_micros INTEGER NOT NULL,
            pending_count  INTEGER NOT NULL,
            unknown_count  INTEGER NOT NULL,
            PRIMARY KEY (api, bucket)
        ) WITHOUT ROWID
        """,
        f"""
        INSERT INTO spend (api, bucket, counted_micros, pending_count, unknown_count)
        SELECT api, {_sqlite_bucket("created_at")}, SUM({counted()}),
               SUM(status = 'pending'), SUM(status = 'unknown')
        FROM calls GROUP BY 1, 2
        """,  # noqa: S608 - ours
        f"CREATE TRIGGER calls_spend_insert AFTER INSERT ON calls BEGIN "
        f"{_sqlite_spend('NEW', '+')} END",
        f"CREATE TRIGGER calls_spend_update AFTER UPDATE OF "
        f"status, charged_micros, estimate_micros, api, created_at ON calls BEGIN "
        f"{_sqlite_spend('OLD', '-')} {_sqlite_spend('NEW', '+')} END",
        f"CREATE TRIGGER calls_spend_delete AFTER DELETE ON calls BEGIN "
        f"{_sqlite_spend('OLD', '-')} END",
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
        """
        CREATE TABLE spend (
            api            TEXT   NOT NULL,
            bucket         TEXT   NOT NULL,
            counted_micros BIGINT NOT NULL,
            pending_count  BIGINT NOT NULL,
            unknown_count  BIGINT NOT NULL,
            PRIMARY KEY (api, bucket)
        )
        """,
        """
        CREATE FUNCTION flux2_spend_add(r calls, sign INTEGER) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO spend AS s (api, bucket, counted_micros, pending_count, unknown_count)
            VALUES (
                r.api,
                substr(r.created_at, 1, 14)
                    || lpad(((substr(r.created_at, 15, 2)::int / 15) * 15)::text, 2, '0'),
                sign * (CASE r.status
                    WHEN 'ok' THEN COALESCE(r.charged_micros, r.estimate_micros)
                    WHEN 'failed' THEN COALESCE(r.charged_micros, 0)
                    ELSE GREATEST(r.estimate_micros, COALESCE(r.charged_micros, 0)) END),
                sign * (r.status = 'pending')::int,
                sign * (r.status = 'unknown')::int)
            ON CONFLICT (api, bucket) DO UPDATE SET
                counted_micros = s.counted_micros + EXCLUDED.counted_micros,
                pending_count = s.pending_count + EXCLUDED.pending_count,
                unknown_count = s.unknown_count + EXCLUDED.unknown_count
        $$
        """,
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
        "status, charged_micros, estimate_micros, api, created_at "
        "ON calls FOR EACH ROW EXECUTE FUNCTION flux2_calls_spend()",
    ),
)
