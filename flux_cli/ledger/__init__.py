"""The spending ledger (README.md#budgets-and-the-ledger): one row per paid call, budgets, history.

Every image request is a row, written `pending` before anything is sent and settled afterwards:
`ok` (made; charged_micros is what the server reported, when it did), `failed` (refused before
generation: not billed) or `unknown` (sent without a usable answer: may have been billed).

Budgets fail closed. What counts as spent in a window, per row:

    ok                 charged_micros, or estimate_micros while the charge is not known
    pending, unknown   the larger of estimate_micros and charged_micros: it may have been billed
    failed             charged_micros if the server reported one, else 0

The budget check and the `pending` row are one transaction that no other writer can interleave
with: SQLite's write lock on the local file (`sqlite.py`), an advisory lock per API on a shared
PostgreSQL database (`postgres.py`). Windows are the calendar day and month in the budget zone
(`budget.timezone`, UTC unless configured; never the process's TZ, so every process shares one
day), from its midnight (or the 1st) on; a row stamped after `now` (a clock step) counts too.
Times are stored as fixed-width UTC ISO-8601 strings, so they sort and compare as text.

Each row records the API it went to (`openrouter`, `sandbox` or a custom base URL, as the caller
names it), the host and OS user that wrote it, the batch run it belongs to, and the model
options it was sent with (`model_options`, canonical JSON); budgets and history look at one API
at a time.

Modules: `types` (rows, budgets, errors), `times` (windows, `--since`), `schema` (tables and
migrations), `database` (what a database provides), `sqlite` and `postgres` (the two
databases), `location` (which one), `core` (`Ledger`), `budget` (the budget check's sums),
`queries` (what `history` asks), `origin` (who wrote a row), `transfer` (`ledger migrate`),
`reading` (opening for a look).
"""

from __future__ import annotations

from flux_cli.ledger.core import Ledger
from flux_cli.ledger.location import LEDGER_FILENAME, LedgerUrl, default_path
from flux_cli.ledger.schema import SQLITE_MIGRATIONS as MIGRATIONS
from flux_cli.ledger.times import (
    DEFAULT_BUDGET_ZONE,
    budget_zone,
    local_day,
    parse_since,
    window_starts,
)
from flux_cli.ledger.types import (
    GROUPINGS,
    MAX_ERROR_CHARS,
    STATUSES,
    UNRESOLVED,
    BudgetExceeded,
    Budgets,
    Grouping,
    LedgerError,
    NewEntry,
    Remaining,
    Row,
    Spent,
    Status,
    Summary,
    TotalRow,
    canonical_options,
)

__all__ = [
    "DEFAULT_BUDGET_ZONE",
    "GROUPINGS",
    "LEDGER_FILENAME",
    "MAX_ERROR_CHARS",
    "MIGRATIONS",
    "STATUSES",
    "UNRESOLVED",
    "BudgetExceeded",
    "Budgets",
    "Grouping",
    "Ledger",
    "LedgerError",
    "LedgerUrl",
    "NewEntry",
    "Remaining",
    "Row",
    "Spent",
    "Status",
    "Summary",
    "TotalRow",
    "budget_zone",
    "canonical_options",
    "default_path",
    "local_day",
    "parse_since",
    "window_starts",
]
