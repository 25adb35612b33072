"""One database layer for the bank and the call records: SQLite or PostgreSQL, same SQL.

Queries are written once with ``?`` placeholders (the SQLite style); on PostgreSQL they are
rewritten to psycopg2's ``%s``. Rows come back as plain dicts. Every write happens inside
:meth:`Database.transaction`, which commits on success and rolls back on any exception.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgresql"]
Row = dict[str, Any]


class Cursor(Protocol):
    """The slice of a DB-API cursor the repository uses."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...


class Tx:
    """A cursor inside a transaction, with dict rows and portable placeholders."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._cursor.execute(self._sql(sql), tuple(params))
        return int(self._cursor.rowcount)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cursor.execute(self._sql(sql), tuple(params))
        row = self._cursor.fetchone()
        return None if row is None else self._as_dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self._sql(sql), tuple(params))
        return [self._as_dict(row) for row in self._cursor.fetchall()]

    def script(self, statements: str) -> None:
        """Run several ``;``-separated statements (schema creation)."""
        for statement in statements.split(";"):
            if statement.strip():
                self._cursor.execute(statement)

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self._dialect == "postgresql" else sql

    def _as_dict(self, row: Any) -> Row:
        names = [column[0] for column in self._cursor.description]
        return dict(zip(names, row, strict=True))


class Database:
    """A connection factory for ``sqlite:///path`` or ``postgresql://...`` URLs."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            self.dialect: Dialect = "sqlite"
            self._path = url[len("sqlite:///") :]
            if self._path != ":memory:":
                Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            self._pool: Any = None
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._path = ""
            self._pool = None
            self._pool_lock = threading.Lock()
        else:
            raise ValueError(f"database URL {url!r} must start with sqlite:/// or postgresql://")

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """A unit of work: commit when the block ends, roll back if it raises."""
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self._path, timeout=15, isolation_level=None)
            try:
                conn.execute("PRAGMA foreign_keys = ON")
                # IMMEDIATE takes the write lock up front, so two concurrent transfers
                # serialise instead of failing when one upgrades its read lock.
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Tx(conn.cursor(), "sqlite")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()
        else:
            pool = self._postgres_pool()
            conn = pool.getconn()
            try:
                with conn, conn.cursor() as cursor:  # psycopg2: commit or roll back
                    yield Tx(cursor, "postgresql")
            finally:
                pool.putconn(conn)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.closeall()
            self._pool = None

    def _postgres_pool(self) -> Any:
        with self._pool_lock:
            if self._pool is None:
                from psycopg2.pool import ThreadedConnectionPool

                self._pool = ThreadedConnectionPool(1, 8, self.url)
            return self._pool
