"""Signal storage shared by the api, worker and scheduler.

Two stores with the same methods (:func:`open_store` picks one from the config):

* SQLite in ``<data>/trader.db`` (WAL mode): the default, one host, no services;
* PostgreSQL + a Redis job queue (``TRADER_STORE=postgres``, see :mod:`trader.stack`),
  for the container stack.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

from .runtime import utc_iso

if TYPE_CHECKING:
    from .config import Config

DB_NAME = "trader.db"
BUSY_TIMEOUT_MS = 5000
SIGNAL_STATUSES = ("new", "processed")
LIST_LIMIT = 100

SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY,
    created TEXT,
    symbol TEXT,
    action TEXT,
    qty REAL,
    status TEXT DEFAULT 'new',
    processed TEXT
);
CREATE INDEX IF NOT EXISTS signals_status_id ON signals (status, id);
"""


def connect(data_dir: Path, *, init: bool = True) -> sqlite3.Connection:
    """Open ``<data_dir>/trader.db`` in autocommit mode.

    With ``init`` (the default) the data directory, WAL mode and the schema are
    created; request handlers that open short-lived connections skip that.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        data_dir / DB_NAME,
        timeout=BUSY_TIMEOUT_MS / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if init:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Write transaction that takes the write lock up front (no upgrade deadlocks)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert_signal(conn: sqlite3.Connection, symbol: str, action: str, qty: float) -> int:
    cursor = conn.execute(
        "INSERT INTO signals (created, symbol, action, qty, status) VALUES (?, ?, ?, ?, 'new')",
        (utc_iso(), symbol, action, qty),
    )
    return int(cursor.lastrowid or 0)


def list_signals(
    conn: sqlite3.Connection, status: str | None = None, limit: int = LIST_LIMIT
) -> list[dict[str, Any]]:
    """Most recent signals first, optionally filtered by status."""
    if status is None:
        rows = conn.execute("SELECT * FROM signals ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(
            "SELECT * FROM signals WHERE status = ? ORDER BY id DESC LIMIT ?", (status, limit)
        )
    return [dict(row) for row in rows]


def claim_new_signals(conn: sqlite3.Connection, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
    """Atomically mark the oldest ``new`` signals processed and return them."""
    with transaction(conn):
        rows = [
            dict(row)
            for row in conn.execute(
                "SELECT * FROM signals WHERE status = 'new' ORDER BY id LIMIT ?", (limit,)
            )
        ]
        if not rows:
            return []
        stamp = utc_iso()
        conn.executemany(
            "UPDATE signals SET status = 'processed', processed = ? WHERE id = ?",
            [(stamp, row["id"]) for row in rows],
        )
    for row in rows:
        row.update(status="processed", processed=stamp)
    return rows


def purge_processed(conn: sqlite3.Connection, before: str) -> int:
    """Delete processed signals whose ``processed`` stamp is older than ``before``."""
    with transaction(conn):
        cursor = conn.execute(
            "DELETE FROM signals WHERE status = 'processed' AND processed < ?", (before,)
        )
    return cursor.rowcount


class StoreUnavailable(Exception):
    """The database or queue could not be reached or refused the operation."""


# What the api answers 503 for and the worker and scheduler retry on.
STORE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreUnavailable)


class Store(Protocol):
    """What the processes need from storage; both stores implement it."""

    # True if claim_new_signals() itself waits for work (a blocking queue pop).
    blocks: bool

    def ping(self) -> None: ...

    def insert_signal(self, symbol: str, action: str, qty: float, side: str) -> int: ...

    def list_signals(self, status: str | None = None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]: ...

    def claim_new_signals(self, side: str, wait: float) -> list[dict[str, Any]]: ...

    def purge_processed(self, before: str) -> int: ...

    def close(self) -> None: ...


class SqliteStore:
    """``<data_dir>/trader.db``; the worker polls for ``new`` rows."""

    blocks = False

    def __init__(self, data_dir: Path, *, init: bool = True) -> None:
        self.conn = connect(data_dir, init=init)

    def ping(self) -> None:
        self.conn.execute("SELECT 1 FROM signals LIMIT 1").fetchall()

    def insert_signal(self, symbol: str, action: str, qty: float, side: str) -> int:
        return insert_signal(self.conn, symbol, action, qty)

    def list_signals(self, status: str | None = None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        return list_signals(self.conn, status, limit)

    def claim_new_signals(self, side: str, wait: float) -> list[dict[str, Any]]:
        return claim_new_signals(self.conn)

    def purge_processed(self, before: str) -> int:
        return purge_processed(self.conn, before)

    def close(self) -> None:
        self.conn.close()


def open_store(cfg: Config, *, init: bool = True) -> Store:
    """The store the configuration asks for; ``init`` creates the schema if needed."""
    if cfg.store == "postgres":
        from .stack import PostgresStore  # needs psycopg2 and redis, only in this mode

        return PostgresStore(cfg.redis_url, init=init)
    return SqliteStore(cfg.data_dir, init=init)
