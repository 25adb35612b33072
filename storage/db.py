"""One database layer for the bank and the call records: SQLite or PostgreSQL, same SQL.

Queries are written once with ``?`` placeholders (the SQLite style); on PostgreSQL they are
rewritten to psycopg2's ``%s``. Rows come back as plain dicts. Every write happens inside
:meth:`Database.transaction`, which commits on success and rolls back on any exception.
Readers that must never write nor hold a writer up for long (the web console browsing call
records while calls are being written) use :meth:`Database.reading`: read-only, time-bounded.

A SQLite database holds bank or call data, so its file is created owner-only (0600) in an
owner-only folder; SQLite gives its journal and WAL files the database file's mode.

It lives in ``storage/`` (not ``ivr/``) because the bank (``dialogue/bank``) uses it too, and
``dialogue/`` never imports the application.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from storage.private import OWNER_ONLY_FILE, private_dir

Dialect = Literal["sqlite", "postgresql"]
SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")
"""Files SQLite keeps next to a database (with the database file's mode when it makes them)."""
Row = dict[str, Any]
PROGRESS_STEPS = 1000
"""SQLite virtual-machine steps between two looks at a read's deadline."""


class QueryTooSlow(Exception):
    """A read ran past its time budget and was stopped (``Database.reading``)."""


class Tx:
    """A cursor inside a transaction, with dict rows and portable placeholders."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows it changed."""
        self._cursor.execute(self._sql(sql), tuple(params))
        return int(self._cursor.rowcount)

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row (bulk inserts: one prepared statement, no round
        trip of ours per row)."""
        self._cursor.executemany(self._sql(sql), rows)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        self._cursor.execute(self._sql(sql), tuple(params))
        row = self._cursor.fetchone()
        return None if row is None else self._as_dict(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        self._cursor.execute(self._sql(sql), tuple(params))
        return [self._as_dict(row) for row in self._cursor.fetchall()]

    def columns(self, table: str) -> set[str]:
        """The column names of ``table`` (to add a column a database made earlier lacks)."""
        if self._dialect == "sqlite":
            return {row["name"] for row in self.all(f"PRAGMA table_info({table})")}
        rows = self.all(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ?", (table,)
        )
        return {row["column_name"] for row in rows}

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
                _owner_only_file(Path(self._path))
            self._pool: Any = None
        elif url.startswith(("postgresql://", "postgres://")):
            self.dialect = "postgresql"
            self._path = ""
            self._pool = None
            self._pool_lock = threading.Lock()
        else:
            raise ValueError(f"database URL {url!r} must start with sqlite:/// or postgresql://")

    @contextmanager
    def transaction(self, busy_timeout_s: float = 15.0) -> Iterator[Tx]:
        """A unit of work: commit when the block ends, roll back if it raises.

        ``busy_timeout_s``: how long SQLite waits for another writer's lock before it gives
        up with "database is locked".
        """
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self._path, timeout=busy_timeout_s, isolation_level=None)
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

    @contextmanager
    def reading(self, budget_s: float) -> Iterator[Tx]:
        """A read-only unit of work, stopped with :class:`QueryTooSlow` after ``budget_s``.

        The database refuses writes in it. SQLite: a read-only connection and a deferred
        transaction, so a reader never takes the write lock that :meth:`transaction` takes up
        front and writers start while it reads (SQLite lets a writer commit only between
        readers, hence the budget). PostgreSQL: ``READ ONLY`` with a ``statement_timeout``.
        """
        if self.dialect == "sqlite":
            uri = f"file:{quote(str(Path(self._path).resolve()))}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=budget_s, isolation_level=None)
            deadline = time.monotonic() + budget_s
            conn.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_STEPS)
            try:
                conn.execute("BEGIN")
                yield Tx(conn.cursor(), "sqlite")
            except sqlite3.OperationalError as exc:
                if str(exc) == "interrupted":
                    raise QueryTooSlow(f"read stopped after {budget_s:g} s") from exc
                raise
            finally:
                conn.close()  # ends the read transaction: nothing to commit
        else:
            from psycopg2.errors import QueryCanceled

            with self.transaction() as tx:
                tx.execute("SET TRANSACTION READ ONLY")
                tx.execute(f"SET LOCAL statement_timeout = {max(1, round(budget_s * 1000))}")
                try:
                    yield tx
                except QueryCanceled as exc:
                    raise QueryTooSlow(f"read stopped after {budget_s:g} s") from exc

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


def _owner_only_file(path: Path) -> None:
    """Create the database file (and missing folders) owner-only; tighten one made earlier."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, OWNER_ONLY_FILE))
    for file in (path, *(path.with_name(path.name + end) for end in SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            status = file.stat()
            if status.st_mode & 0o077 and status.st_uid == os.getuid():
                os.chmod(file, OWNER_ONLY_FILE)
