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
password ever logged): unreachable (LibraryUnavailable: worth trying again), refused login, missing database,
a lock held too long. An operation whose connection broke is retried with backoff within `write_timeout` and
the caller's deadline (the transaction rolled back); past that the job layer keeps a paid id in memory and
records it when the database is back.

A restart or fail-over leaves every pooled connection stale. Connections are not checked before use (a
check costs each operation a round trip, and psycopg_pool sleeps 1, 2, 4 ... s between failed checks, so ten
stale connections outlast any call): the first statement on a stale one fails, and then the whole pool is
dropped. Until one connection of our own gets through, attempts connect directly (the pool's reconnection
backs off to minutes), so a database that is back is used at once, and a new pool is opened.
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

from heygen_video_mcp.tools import deadline
from heygen_video_mcp.tools.errors import LibraryError, LibraryUnavailable
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
# Worth another attempt: the connection broke (no SQLSTATE) or the server is shutting down or starting,
# a serialization failure or a deadlock.
_LOST_STATES: Final = frozenset({None, "57P01", "57P02", "57P03"})
_RETRYABLE_STATES: Final = _LOST_STATES | {"40001", "40P01"}
# The shortest connect timeout libpq takes (a smaller one is raised to this).
_CONNECT_MIN: Final = 2


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
        self._down = False  # a connection failed: attempts connect directly until one gets through
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

    def _kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,  # transactions are opened explicitly, writes only
            "row_factory": dict_row,
            "connect_timeout": max(_CONNECT_MIN, round(self.write_timeout)),
            # A write waits for its tenant's lock at most this long, then reports it.
            "options": f"-c lock_timeout={round(self.write_timeout * 1000)}",
            "application_name": "heygen-video-mcp",
        }

    def _open_pool(self) -> ConnectionPool[psycopg.Connection[DictRow]]:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self._url,
                    connection_class=psycopg.Connection[DictRow],
                    kwargs=self._kwargs(),
                    min_size=1,
                    max_size=_POOL_MAX,
                    open=False,
                    timeout=self.write_timeout,
                    name="heygen-video-mcp library",
                )
                self._pool.open()
            return self._pool

    def _lost(self) -> None:
        """A connection failed: the database restarted or is gone, so every pooled one is suspect. The pool is
        dropped (closed in the background: its workers may be inside a connection attempt)."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._down = True
        if pool is not None:
            threading.Thread(target=pool.close, kwargs={"timeout": 1.0}, daemon=True).start()

    def _attempt(self, fn: Operation[T], scope: str, write: bool, wait: float) -> T:
        """One try, giving up on a connection after `wait` seconds."""
        if self._down:
            connect_timeout = max(_CONNECT_MIN, min(round(wait), round(self.write_timeout)))
            with psycopg.connect(self._url, **(self._kwargs() | {"connect_timeout": connect_timeout})) as conn:
                result = _within(conn, fn, scope, write)
            self._down = False  # it is back: the next operation opens a new pool
            return result
        with self._open_pool().connection(timeout=wait) as conn:
            return _within(conn, fn, scope, write)

    async def run(self, fn: Operation[T], *, scope: str, write: bool = True, by_key: bool = False) -> T:
        """Run `fn` (in a transaction under the tenant's lock when writing), retrying a broken connection, a
        serialization failure or a deadlock for up to `write_timeout` seconds, and never past the caller's
        deadline; each attempt that failed rolled back, so running `fn` again is safe. A read left by its
        caller is abandoned to its thread, which costs nothing; a write is waited for, within its bound.
        `by_key` changes nothing here: every read is a round trip."""
        if not self._migrated:
            await anyio.to_thread.run_sync(self.migrate)
        bound = min(self.write_timeout, deadline.remaining())
        until = time.monotonic() + bound
        delay = _BACKOFF_FIRST
        while True:
            wait = max(until - time.monotonic(), 0.1)
            try:
                return await anyio.to_thread.run_sync(
                    self._attempt, fn, scope, write, wait, abandon_on_cancel=not write
                )
            except NeedsWrite:
                write = True
            except PoolTimeout:
                raise await anyio.to_thread.run_sync(self._pool_error, bound) from None
            except psycopg.Error as exc:
                left = until - time.monotonic()
                if exc.sqlstate not in _RETRYABLE_STATES or not isinstance(exc, psycopg.OperationalError) or left <= 0:
                    if exc.sqlstate in _LOST_STATES:
                        self._lost()
                    raise self._error(exc, bound, at_start=False) from None
                logger.info("The video library database failed (%s); trying again", self._scrub(str(exc)))
                if exc.sqlstate in _LOST_STATES:
                    self._lost()
                    if delay == _BACKOFF_FIRST:  # the first failure was a stale connection: try a fresh one now
                        delay *= 2
                        continue
                await anyio.sleep(min(delay * random.uniform(0.5, 1.0), left))
                delay = min(delay * 2, _BACKOFF_MAX)

    def _pool_error(self, waited: float) -> LibraryError:
        """No pooled connection came in time: say why, from one connection attempt of our own."""
        try:
            with psycopg.connect(self._url, connect_timeout=_CONNECT_MIN):
                pass
        except psycopg.Error as exc:
            self._lost()
            return self._error(exc, waited, at_start=False)
        return LibraryUnavailable(
            f"The video library database {self._where} had no free connection for {waited:g}s: all "
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
            return (LibraryError if at_start else LibraryUnavailable)(
                f"The video library database {self._where} cannot be reached ({detail}). Check that PostgreSQL "
                f"is running and that HEYGEN_DATABASE_URL names its host and port; {then}"
            )
        return LibraryError(f"The video library database {self._where} could not be used (PostgreSQL: {detail}).")


def _within(conn: psycopg.Connection[DictRow], fn: Operation[T], scope: str, write: bool) -> T:
    if not write:
        return fn(_Connection(conn, writing=False))  # each statement reads what is committed
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (_WRITE_LOCK + scope,))
        return fn(_Connection(conn, writing=True))


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
