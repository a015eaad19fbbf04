"""PostgreSQL + Redis store (``TRADER_STORE=postgres``), for the container stack.

The api writes each signal to PostgreSQL as ``new`` and, once that is committed, pushes its
id onto the Redis list ``trader:signals:<side>`` (if the push fails the row is deleted and
the request answers 503, so every ``new`` row has a job). The worker pops ids (BLPOP, so it
sleeps in Redis instead of polling) and marks the rows ``processed`` in PostgreSQL.

Connection settings are the standard ones: libpq reads ``PGHOST``, ``PGPORT``, ``PGUSER``,
``PGDATABASE`` and ``PGPASSWORD`` from the environment; Redis is ``REDIS_URL``
(e.g. ``redis://redis:6379/0``). Needs psycopg2 and redis (Debian: python3-psycopg2,
python3-redis; pip: requirements-stack.txt).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import psycopg2
import psycopg2.extras
import redis

from .db import LIST_LIMIT, StoreUnavailable
from .runtime import utc_iso

QUEUE = "trader:signals:{side}"
# Serialises schema creation between processes starting at the same time.
SCHEMA_LOCK = 72_311

SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    id BIGSERIAL PRIMARY KEY,
    created TEXT,
    symbol TEXT,
    action TEXT,
    qty DOUBLE PRECISION,
    status TEXT DEFAULT 'new',
    processed TEXT
);
CREATE INDEX IF NOT EXISTS signals_status_id ON signals (status, id);
"""


@contextmanager
def _unavailable() -> Iterator[None]:
    """Report driver errors as StoreUnavailable (the api answers 503, the worker retries)."""
    try:
        yield
    except (psycopg2.Error, redis.RedisError) as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}".strip()) from None


class PostgresStore:
    blocks = True

    def __init__(self, redis_url: str, *, init: bool = True) -> None:
        with _unavailable():
            self.conn = psycopg2.connect("", connect_timeout=5)
            self.queue = redis.Redis.from_url(redis_url, socket_timeout=10, socket_connect_timeout=5)
        if init:
            with self._tx() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                cur.execute(SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """One transaction: committed at the end, rolled back on any error."""
        with _unavailable(), self.conn, self.conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            yield cur

    def _rows(self, sql: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._tx() as cur:
            cur.execute(sql, args)
            return [dict(row) for row in cur.fetchall()]

    def ping(self) -> None:
        self._rows("SELECT 1 FROM signals LIMIT 1", ())
        with _unavailable():
            self.queue.ping()

    def insert_signal(self, symbol: str, action: str, qty: float, side: str) -> int:
        with self._tx() as cur:
            cur.execute(
                "INSERT INTO signals (created, symbol, action, qty, status)"
                " VALUES (%s, %s, %s, %s, 'new') RETURNING id",
                (utc_iso(), symbol, action, qty),
            )
            signal_id = int(cur.fetchone()["id"])
        # Queued only once committed (a worker popping the id must find the row); a row
        # whose job could not be queued is taken back.
        try:
            with _unavailable():
                self.queue.rpush(QUEUE.format(side=side.lower()), signal_id)
        except StoreUnavailable:
            with self._tx() as cur:
                cur.execute("DELETE FROM signals WHERE id = %s AND status = 'new'", (signal_id,))
            raise
        return signal_id

    def list_signals(self, status: str | None = None, limit: int = LIST_LIMIT) -> list[dict[str, Any]]:
        if status is None:
            return self._rows("SELECT * FROM signals ORDER BY id DESC LIMIT %s", (limit,))
        return self._rows(
            "SELECT * FROM signals WHERE status = %s ORDER BY id DESC LIMIT %s", (status, limit)
        )

    def claim_new_signals(self, side: str, wait: float) -> list[dict[str, Any]]:
        """Wait up to ``wait`` seconds for a job; mark its row processed and return it."""
        with _unavailable():
            job = self.queue.blpop([QUEUE.format(side=side.lower())], timeout=max(1, round(wait)))
        if job is None:
            return []
        return self._rows(
            "UPDATE signals SET status = 'processed', processed = %s"
            " WHERE id = %s AND status = 'new' RETURNING *",
            (utc_iso(), int(job[1])),
        )

    def purge_processed(self, before: str) -> int:
        with self._tx() as cur:
            cur.execute("DELETE FROM signals WHERE status = 'processed' AND processed < %s", (before,))
            return cur.rowcount

    def close(self) -> None:
        self.conn.close()
        self.queue.close()
