"""What `Ledger` and its queries need of a database: `sqlite.SqliteDatabase` and
`postgres.PostgresDatabase` both provide it. The SQL is written once, with `:name` placeholders,
in what both understand."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from contextlib import AbstractContextManager


class Session(Protocol):
    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class Database(Protocol):
    kind: str
    greatest: str
    path: Path | None
    where: str

    def close(self) -> None: ...
    def version(self) -> int: ...
    def transaction(self, lock: str | None = None) -> AbstractContextManager[Session]: ...
    def statement(self, *, synced: bool = True) -> AbstractContextManager[Session]: ...
    def reading(self) -> AbstractContextManager[Session]: ...
    def explain(self, sql: str, params: dict[str, Any]) -> list[str]: ...
