"""PostgreSQL plumbing for the shared store: a per-process connection pool with the same small
interface as the SQLite `Database` (read_all / read_one / write), so the store, its idempotency
keys, leases and the sign-in limiter run the same SQL on either backend.

Same semantics as SQLite's BEGIN IMMEDIATE: every write transaction first takes one
transaction-scoped advisory lock, so read-then-write sequences (slot counting, key claims,
cancel's fence) are serialised across every process on every machine. Writes are a handful per
export and each is one short transaction, so the lock is never held for long.

The pool is opened lazily and keyed by process id: a pool opened before a fork (gunicorn's
master) is never used by a worker."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from .db import StoreClosed
from .migrations import migrate

WRITE_LOCK = 0x59424201  # pg_advisory_xact_lock key of every write transaction
POOL_MAX = 8  # per process: gunicorn threads + heartbeat + cleanup + background jobs
CONNECT_TIMEOUT_S = 10.0


# One pool per process and URL, shared by every PgDatabase (the store, the sign-in limiter)
# and kept here, so a pool is closed on purpose, never by the garbage collector mid-request.
_pools: dict[tuple[int, str], ConnectionPool[Any]] = {}
_pools_lock = threading.Lock()
_closed: set[tuple[int, str]] = set()


def shared_pool(url: str) -> ConnectionPool[Any]:
    """This process's pool to `url` (opened, and the schema migrated, on first use here)."""
    with _pools_lock:
        pool = _pools.get((os.getpid(), url))
        if (os.getpid(), url) in _closed:  # a daemon thread (heartbeat, cleanup) outlived it
            raise StoreClosed("this process closed its connections to the database")
        if pool is None:
            migrate(url)  # once per process and URL; a no-op when up to date
            pool = ConnectionPool(
                url,
                min_size=1,
                max_size=POOL_MAX,
                kwargs={
                    "autocommit": True,
                    "row_factory": row_factory,
                    "connect_timeout": int(CONNECT_TIMEOUT_S),
                },
                timeout=CONNECT_TIMEOUT_S,
                name=f"ybb-{os.getpid()}",
                open=True,
            )
            _pools[(os.getpid(), url)] = pool
        return pool


def close_databases(url: str) -> None:
    """Close this process's pool to `url` for good (shutdown; tests, before dropping the
    database): later use in this process raises instead of connecting again."""
    with _pools_lock:
        pool = _pools.pop((os.getpid(), url), None)
        _closed.add((os.getpid(), url))
    if pool is not None:
        pool.close()


class Row(tuple[Any, ...]):
    """A result row readable by position (`row[0]`, unpacking) and by name (`row["state"]`),
    like sqlite3.Row, so the shared SQL code reads rows the same way on both backends."""

    columns: dict[str, int]

    def __new__(cls, values: Sequence[Any], columns: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.columns = columns
        return row

    def __getitem__(self, key: Any) -> Any:
        return super().__getitem__(self.columns[key] if isinstance(key, str) else key)

    def keys(self) -> list[str]:
        """Column names, in order."""
        return list(self.columns)


def row_factory(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
    """psycopg row factory building `Row`s."""
    names = [c.name for c in cursor.description or ()]
    index = {name: i for i, name in enumerate(names)}
    return lambda values: Row(values, index)


def to_pg(sql: str) -> str:
    """The shared SQL's qmark placeholders as psycopg's (our SQL has no literal ? or %)."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """A connection inside a write transaction, taking qmark SQL like sqlite3's."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        """Run one statement; the cursor has fetchall() and rowcount like sqlite3's."""
        return self.conn.execute(to_pg(sql), tuple(args))


class PgDatabase:
    """Lazily opened, per-process connection pool to one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        if not url:
            raise ValueError("YBB_STORE=postgres needs DATABASE_URL (postgresql://...)")
        self.url = url

    def pool(self) -> ConnectionPool[Any]:
        """This process's pool to the database (see shared_pool)."""
        return shared_pool(self.url)

    def read_all(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        """Run a query to completion."""
        with self.pool().connection() as conn:
            return list(conn.execute(to_pg(sql), args).fetchall())

    def read_one(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        """The first row of a fully-run query, or None."""
        rows = self.read_all(sql, args)
        return rows[0] if rows else None

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction serialised with every other (see the module docstring)."""
        with self.pool().connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield Connection(conn)

    @contextmanager
    def try_lock(self, key: int) -> Iterator[bool]:
        """A session advisory lock taken without waiting: yields False when another session
        (any machine) holds it; released on exit."""
        with self.pool().connection() as conn:
            (got,) = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchall()[0]
            try:
                yield bool(got)
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
