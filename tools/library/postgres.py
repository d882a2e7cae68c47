"""The library in PostgreSQL (HEYGEN_DATABASE_URL): one database shared by every replica of a remote server.

The driver is psycopg 3 with psycopg_pool, used synchronously in worker threads as the SQLite store uses
sqlite3: so the library's operations are written once, as plain functions over a connection, for both
stores (asyncpg is async-only and would need a second copy of every operation).

Writes of one tenant never interleave, across threads, processes and replicas: a write transaction first
takes a transaction-scoped advisory lock on its tenant (pg_advisory_xact_lock, released at COMMIT or
ROLLBACK, so a crashed replica never leaves it held), then reads, decides and writes at READ COMMITTED,
where each statement after the lock sees every write committed before it. That is SQLite's BEGIN IMMEDIATE,
per tenant, and it keeps the same guarantees with the same code: the duplicate guard's look-then-insert,
an adoption's look-then-insert and a download claim's look-then-update cannot race. SERIALIZABLE with
retry would also be correct, but every operation would then have to expect a serialization failure at any
statement, and identical requests arriving together (the case the guard exists for) would mostly end in
retries; a lock just makes the second wait a moment for the first. Other tenants never wait for it; reads
take no lock.

Failures reach the user as a LibraryError that names the database without its password (nor is the
password ever logged): unreachable, refused login, missing database, a lock held too long. A write whose
connection broke is retried with backoff within `write_timeout` (the transaction rolled back), so a
submitted execution id survives a database restart or fail-over; past that the job layer logs it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit

import anyio
import anyio.to_thread
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library.common import Cursor, NeedsWrite, Operation
from heygen_video_mcp.tools.library.migrations import MIGRATIONS, statements

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Connections kept per process: operations beyond this wait for one (within write_timeout).
_POOL_MAX: Final = 10
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MAX: Final = 1.0
# Advisory lock keys (hashed to 64 bits; two keys sharing a hash only share a lock).
_MIGRATION_LOCK: Final = "heygen-video-mcp: migrations"
_WRITE_LOCK: Final = "heygen-video-mcp: writes of tenant "
# Worth another attempt: the connection broke (no SQLSTATE), a serialization failure or a deadlock.
_RETRYABLE_STATES: Final = frozenset({None, "40001", "40P01", "57P01", "57P02", "57P03"})


class _Connection:
    """A pooled connection as an operation sees it: '?' placeholders, inside the store's transaction."""

    def __init__(self, conn: psycopg.Connection[DictRow], *, writing: bool) -> None:
        self._conn = conn
        self.writing = writing

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        # psycopg's placeholder is %s, so a literal % is doubled; no statement of ours has a '?' in a literal.
        return self._conn.execute(sql.replace("%", "%%").replace("?", "%s"), parameters)


class PostgresStore:
    def __init__(self, url: str, *, lock_timeout: float, write_timeout: float) -> None:
        self._url = url
        self.lock_timeout = lock_timeout
        self.write_timeout = write_timeout
        self._where = redacted(url)
        self._secrets = _passwords(url)
        self._lock = threading.Lock()  # guards the pool
        self._pool: ConnectionPool[psycopg.Connection[DictRow]] | None = None
        self._migrated = False

    @property
    def where(self) -> str:
        return self._where

    @property
    def migrated(self) -> bool:
        return self._migrated

    def close(self) -> None:
        """Close the pool (at shutdown). The store stays usable: the pool reopens on demand."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def migrate(self) -> None:
        """Create or upgrade the schema, one replica at a time, on a connection of its own (so that a database
        that cannot be reached or refuses the login says so now, in its own words). Raises LibraryError."""
        try:
            connect = psycopg.connect(self._url, autocommit=True, connect_timeout=max(2, round(self.lock_timeout)))
            with connect as db, db.transaction():
                db.execute(f"SET LOCAL lock_timeout = {round(self.lock_timeout * 1000)}")
                db.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_MIGRATION_LOCK,))
                self._upgrade(db)
        except psycopg.Error as exc:
            raise self._error(exc, self.lock_timeout, at_start=True) from None
        self._migrated = True

    def _upgrade(self, db: psycopg.Connection[Any]) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
        version: int = row[0] if row and row[0] is not None else 0
        if version > len(MIGRATIONS):
            raise LibraryError(
                f"The video library database {self._where} was written by a newer heygen-video-mcp (schema "
                f"version {version}; this version understands up to version {len(MIGRATIONS)}), so it was left "
                "untouched. Upgrade heygen-video-mcp on every replica, or point HEYGEN_DATABASE_URL at another "
                "database."
            )
        for migration in MIGRATIONS[version:]:
            for statement in statements(migration, "postgres"):
                db.execute(statement)
        if version < len(MIGRATIONS):
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS),))

    def _open_pool(self) -> ConnectionPool[psycopg.Connection[DictRow]]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._url,
                    connection_class=psycopg.Connection[DictRow],
                    kwargs={
                        "autocommit": True,  # transactions are opened explicitly, writes only
                        "row_factory": dict_row,
                        "connect_timeout": max(2, round(self.write_timeout)),
                        # A write waits for its tenant's lock at most this long, then reports it.
                        "options": f"-c lock_timeout={round(self.write_timeout * 1000)}",
                        "application_name": "heygen-video-mcp",
                    },
                    min_size=1,
                    max_size=_POOL_MAX,
                    open=False,
                    timeout=self.write_timeout,
                    check=ConnectionPool.check_connection,  # a connection the server dropped is replaced
                    name="heygen-video-mcp library",
                )
                self._pool.open()
            return self._pool

    def _attempt(self, fn: Operation[T], scope: str, write: bool) -> T:
        pool = self._open_pool()
        with pool.connection() as conn:
            if not write:
                return fn(_Connection(conn, writing=False))  # each statement reads what is committed
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_WRITE_LOCK + scope,))
                return fn(_Connection(conn, writing=True))

    async def run(self, fn: Operation[T], *, scope: str, write: bool = True, by_key: bool = False) -> T:
        """Run `fn` (in a transaction under the tenant's lock when writing), retrying a broken connection, a
        serialization failure or a deadlock for up to `write_timeout` seconds; each attempt that failed
        rolled back, so running `fn` again is safe. `by_key` changes nothing here: every read is a round trip."""
        if not self._migrated:
            await anyio.to_thread.run_sync(self.migrate)
        deadline = time.monotonic() + self.write_timeout
        delay = _BACKOFF_FIRST
        while True:
            try:
                return await anyio.to_thread.run_sync(self._attempt, fn, scope, write)
            except NeedsWrite:
                write = True
            except PoolTimeout as exc:
                raise self._pool_error() from exc
            except psycopg.Error as exc:
                left = deadline - time.monotonic()
                if exc.sqlstate not in _RETRYABLE_STATES or not isinstance(exc, psycopg.OperationalError) or left <= 0:
                    raise self._error(exc, self.write_timeout, at_start=False) from None
                logger.info("The video library database failed (%s); trying again", self._scrub(str(exc)))
                await anyio.sleep(min(delay * random.uniform(0.5, 1.0), left))
                delay = min(delay * 2, _BACKOFF_MAX)

    def _pool_error(self) -> LibraryError:
        """No pooled connection came in time: say why, from one connection attempt of our own."""
        try:
            with psycopg.connect(self._url, connect_timeout=5):
                pass
        except psycopg.Error as exc:
            return self._error(exc, self.write_timeout, at_start=False)
        return LibraryError(
            f"The video library database {self._where} had no free connection for {self.write_timeout:g}s: all "
            f"{_POOL_MAX} of this server's were busy. Nothing was recorded by this call; try again in a moment."
        )

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _error(self, exc: psycopg.Error, waited: float, *, at_start: bool) -> LibraryError:
        detail = " ".join(self._scrub(str(exc)).split())
        then = "then restart this server." if at_start else "nothing was recorded by this call; try again."
        if exc.sqlstate in ("28P01", "28000") or "authentication failed" in detail:
            return LibraryError(
                f"The video library database {self._where} refused the login ({detail}). Check the user name and "
                f"password in HEYGEN_DATABASE_URL, {then}"
            )
        if exc.sqlstate == "3D000" or ("database" in detail and "does not exist" in detail):
            return LibraryError(
                f"The video library database {self._where} does not exist ({detail}). Create it (createdb) or "
                f"fix the database name in HEYGEN_DATABASE_URL, {then}"
            )
        if exc.sqlstate == "55P03":
            return LibraryError(
                f"The video library database {self._where} stayed locked for {waited:g}s: another server or "
                f"replica holds the lock (a long migration, or a stuck transaction). Look at pg_stat_activity; {then}"
            )
        if isinstance(exc, psycopg.OperationalError) and exc.sqlstate in _RETRYABLE_STATES:
            return LibraryError(
                f"The video library database {self._where} cannot be reached ({detail}). Check that PostgreSQL "
                f"is running and that HEYGEN_DATABASE_URL names its host and port; {then}"
            )
        return LibraryError(f"The video library database {self._where} could not be used (PostgreSQL: {detail}).")


def redacted(url: str) -> str:
    """The URL without its password or query (which may carry one): safe for messages and logs."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{parts.path}"


def _passwords(url: str) -> list[str]:
    """Every spelling of the URL's password, to be scrubbed from what the driver says."""
    found = {urlsplit(url).password or ""}
    with suppress(psycopg.Error):
        found.add(str(conninfo_to_dict(url).get("password") or ""))
    found |= {unquote(secret) for secret in found}
    return sorted((secret for secret in found if secret), key=len, reverse=True)
