"""The video library: every submission and what became of it, in SQLite, shared safely between processes.

Operations run on connections from a small pool kept for the server's life, in WAL mode, so two servers on
one machine (say Claude Desktop and Claude Code) can write at once without losing rows. A connection serves
one operation at a time, in a worker thread (sqlite3 blocks), so reads go on while a write waits for another
process's lock; only a read of one job by its key, which cannot wait, is done without leaving the event loop.
Writes take the write lock up front (BEGIN IMMEDIATE) and retry a busy lock with backoff, within a bound;
reads take no lock, and a status that did not change is not written again. Every operation first compares
the file at the path with the one the pool has open (one stat), so a library deleted or replaced under the
server is noticed and its connections reopened. Whatever SQLite says reaches the user as a LibraryError
naming the file and what to do, not a traceback.

Every job belongs to a tenant ('' is the single user of stdio mode). A Library is one tenant's view
(for_tenant() makes another over the same store): its reads, writes and duplicate guard see only that
tenant's jobs, and an execution id recorded only under other tenants is `foreign` to it.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread

from heygen_video_mcp.tools.errors import LibraryError

if TYPE_CHECKING:
    from heygen_video_mcp.tools.client import Execution
    from heygen_video_mcp.tools.request import VideoRequest

T = TypeVar("T")

logger = logging.getLogger(__name__)

# Statuses of our own, around HeyGen's: a submission in flight, refused, or with its answer lost.
SUBMITTING: Final = "submitting"
SUBMIT_FAILED: Final = "submit_failed"
SUBMIT_UNCERTAIN: Final = "submit_uncertain"
UNFINISHED: Final = ("submitted", "processing")
# A reservation older than this whose POST never reported back died with its process: treat it as lost.
STALE_SUBMISSION_SECONDS: Final = 180.0

# SQLite's busy handler waits at most this long per attempt. It is not called in every busy case (WAL
# recovery, a lock taken by a reader in rollback mode), so attempts are repeated with backoff until the
# caller's bound (lock_timeout at start, write_timeout later) runs out.
_ATTEMPT_BUSY_SECONDS: Final = 2.0
_BACKOFF_FIRST: Final = 0.02
_BACKOFF_MAX: Final = 0.5
# Idle connections kept open; more are opened while more operations run at once, and closed after.
_POOL_IDLE: Final = 4


# `PRAGMA user_version` counts the migrations applied. A file with more than we know was written by a newer
# release whose layout may mean something else: refused, and left untouched. A file at our version with
# columns we do not know is used: rows are read by name (unknown columns skipped) and every INSERT names its
# columns. So a later release may add a nullable or defaulted column without a migration (creating it if
# PRAGMA table_info lacks it), and this one keeps working on the file; anything else is a migration.
# Append only: a migration that has shipped never changes. One that the databases spell differently is a
# Dialects; a plain string is run as it is on both.
@dataclass(frozen=True)
class Dialects:
    sqlite: str
    postgres: str


Migration = str | Dialects

# The indexes of a tenant's listing, duplicate guard and render times, after the tenant migration.
_TENANT_INDEXES: Final = """
    CREATE INDEX jobs_execution ON jobs (execution_id);
    CREATE INDEX jobs_fingerprint ON jobs (tenant, fingerprint, created_at);
    CREATE INDEX jobs_created ON jobs (tenant, created_at);
    CREATE INDEX jobs_status_created ON jobs (tenant, status, created_at);
    CREATE INDEX jobs_completed_render ON jobs (tenant, provider, aspect_ratio, created_at)
        WHERE status = 'completed' AND prompt != '' AND execution_id IS NOT NULL;
"""

MIGRATIONS: Final[tuple[Migration, ...]] = (
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        execution_id TEXT UNIQUE,
        fingerprint TEXT,
        prompt TEXT NOT NULL,
        provider TEXT,
        aspect_ratio TEXT,
        reference_image_url TEXT,
        tail_image_url TEXT,
        config TEXT,
        status TEXT NOT NULL,
        heygen_status TEXT,
        error TEXT,
        video_url TEXT,
        video_id TEXT,
        asset_id TEXT,
        local_path TEXT,
        download_error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX jobs_fingerprint ON jobs (fingerprint, created_at);
    CREATE INDEX jobs_created ON jobs (created_at);
    CREATE TABLE status_changes (
        job_id INTEGER NOT NULL REFERENCES jobs (id),
        status TEXT NOT NULL,
        error TEXT,
        at REAL NOT NULL
    );
    CREATE INDEX status_changes_job ON status_changes (job_id, at);
    """,
    # Background downloads: one process at a time holds a claim until its lease (unix time) runs out;
    # after a failure no new attempt starts before download_retry_at. Listing filters by status.
    """
    ALTER TABLE jobs ADD COLUMN download_owner TEXT;
    ALTER TABLE jobs ADD COLUMN download_lease REAL;
    ALTER TABLE jobs ADD COLUMN download_attempts INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN download_retry_at REAL;
    CREATE INDEX jobs_status_created ON jobs (status, created_at);
    """,
    # Render times of earlier jobs like a new one (render_durations): the newest completed jobs this server
    # submitted, by provider and aspect ratio, without reading the table.
    """
    CREATE INDEX jobs_completed_render ON jobs (provider, aspect_ratio, created_at)
        WHERE status = 'completed' AND prompt != '' AND execution_id IS NOT NULL;
    """,
    # Tenants (remote mode): every job belongs to one; '' is the single user of stdio mode. Execution ids are
    # unique per tenant. SQLite cannot drop the old UNIQUE (execution_id), so it rebuilds both tables (the
    # status changes keep their order: rowid); PostgreSQL alters the constraint in place.
    Dialects(
        sqlite="""
        CREATE TABLE jobs_new (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL DEFAULT '',
            execution_id TEXT,
            fingerprint TEXT,
            prompt TEXT NOT NULL,
            provider TEXT,
            aspect_ratio TEXT,
            reference_image_url TEXT,
            tail_image_url TEXT,
            config TEXT,
            status TEXT NOT NULL,
            heygen_status TEXT,
            error TEXT,
            video_url TEXT,
            video_id TEXT,
            asset_id TEXT,
            local_path TEXT,
            download_error TEXT,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            download_owner TEXT,
            download_lease REAL,
            download_attempts INTEGER NOT NULL DEFAULT 0,
            download_retry_at REAL,
            UNIQUE (tenant, execution_id)
        );
        INSERT INTO jobs_new (id, execution_id, fingerprint, prompt, provider, aspect_ratio, reference_image_url,
            tail_image_url, config, status, heygen_status, error, video_url, video_id, asset_id, local_path,
            download_error, created_at, updated_at, download_owner, download_lease, download_attempts,
            download_retry_at)
        SELECT id, execution_id, fingerprint, prompt, provider, aspect_ratio, reference_image_url,
            tail_image_url, config, status, heygen_status, error, video_url, video_id, asset_id, local_path,
            download_error, created_at, updated_at, download_owner, download_lease, download_attempts,
            download_retry_at FROM jobs;
        CREATE TABLE status_changes_new (
            job_id INTEGER NOT NULL REFERENCES jobs_new (id),
            status TEXT NOT NULL,
            error TEXT,
            at REAL NOT NULL
        );
        INSERT INTO status_changes_new (rowid, job_id, status, error, at)
            SELECT rowid, job_id, status, error, at FROM status_changes;
        DROP TABLE status_changes;
        DROP TABLE jobs;
        ALTER TABLE jobs_new RENAME TO jobs;
        ALTER TABLE status_changes_new RENAME TO status_changes;
        CREATE INDEX status_changes_job ON status_changes (job_id, at);
        """
        + _TENANT_INDEXES,
        postgres="""
        ALTER TABLE jobs ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
        ALTER TABLE jobs DROP CONSTRAINT jobs_execution_id_key;
        ALTER TABLE jobs ADD CONSTRAINT jobs_tenant_execution_id_key UNIQUE (tenant, execution_id);
        DROP INDEX jobs_fingerprint;
        DROP INDEX jobs_created;
        DROP INDEX jobs_status_created;
        DROP INDEX jobs_completed_render;
        """
        + _TENANT_INDEXES,
    ),
)


def script(migration: Migration, dialect: str) -> str:
    """The statements of one migration for "sqlite" or "postgres"."""
    return migration if isinstance(migration, str) else getattr(migration, dialect)


@dataclass(frozen=True)
class Job:
    id: int
    execution_id: str | None
    prompt: str
    status: str
    created_at: float
    updated_at: float
    provider: str | None = None
    aspect_ratio: str | None = None
    reference_image_url: str | None = None
    tail_image_url: str | None = None
    config: dict[str, Any] | None = None
    heygen_status: str | None = None
    error: str | None = None
    video_url: str | None = None
    video_id: str | None = None
    asset_id: str | None = None
    local_path: str | None = None
    download_error: str | None = None
    download_attempts: int = 0  # failed saves since the last success
    download_retry_at: float | None = None  # unix time before which no automatic save starts
    download_owner: str | None = None  # the claim on saving the video: whose, and until when
    download_lease: float | None = None
    tenant: str = ""  # whose job: '' is the single user of stdio mode

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = {key: row[key] for key in row.keys() if key in _JOB_FIELDS}  # noqa: SIM118 (Row iterates values)
        values["config"] = json.loads(row["config"]) if row["config"] else None
        return cls(**values)


_JOB_FIELDS: Final = frozenset(field.name for field in fields(Job))


@dataclass(frozen=True)
class Reservation:
    job: Job
    existing: bool  # True: an identical request was made within the window; nothing new was reserved


FileState = tuple[int, int, int, int]
"""What one stat says of the library file: device, inode, size and modification time (ns)."""
FileId = tuple[int, int]
"""Device and inode: which file a name stands for."""


class _Connection(sqlite3.Connection):
    """A pooled connection, one operation at a time."""

    generation: int = 0  # the pool's generation it was opened in; one from an older generation is closed
    busy_ms: int = -1  # its SQLite busy timeout, set per attempt
    writing: bool = False  # inside a write transaction (BEGIN IMMEDIATE)


class _SQLiteStore:
    """The file and its pooled connections, shared by every tenant's view of the library."""

    def __init__(self, path: Path, *, lock_timeout: float, write_timeout: float) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self.write_timeout = write_timeout
        # Whether this process has used the file, so that its disappearance is news worth one warning.
        self._seen = False
        self._migrated = False
        self._lock = threading.Lock()  # guards the pool, its generation, _known and _seen
        self._pool: list[_Connection] = []
        self._generation = 0
        # The file as the pooled connections last left it. Anything else at the path (deleted, replaced,
        # written by something other than SQLite, or checkpointed by another process) starts a new generation.
        self._known: FileState | None = None
        # The -wal and -shm files our connections use, once they exist (see _forget_sidecars).
        self._sidecars: tuple[FileId | None, FileId | None] | None = None
        # Idle connections are closed when the library is, or at the latest when it is collected.
        self._finalizer = weakref.finalize(self, _close_all, self._pool)

    @property
    def migrated(self) -> bool:
        """Whether migrate() has succeeded in this process: the file was checked and is at our schema."""
        return self._migrated

    def close(self) -> None:
        """Close the idle connections (at shutdown). The library stays usable: it reopens on demand."""
        with self._lock:
            idle, self._pool[:] = list(self._pool), []
        _close_all(idle)

    def migrate(self) -> None:
        """At start: create or upgrade the schema, refusing a newer or corrupt file and waiting at most
        `lock_timeout` for another process's write lock. Raises LibraryError."""
        backoff = _Backoff(self.lock_timeout)
        while True:
            try:
                self._migrate(backoff.busy_timeout())
                break
            except sqlite3.Error as exc:
                delay = backoff.next_delay() if _busy(exc) else None
                if delay is None:
                    raise self._error(exc, self.lock_timeout, at_start=True) from exc
                time.sleep(delay)
        self._seen = True
        self._migrated = True

    def _migrate(self, busy: float) -> None:
        self._make_folder()
        db, _ = self._acquire(busy)
        kept = False
        try:
            # Read before anything is written: a newer file must stay exactly as it is.
            self._refuse_newer(db.execute("PRAGMA user_version").fetchone()[0])
            # The whole file, every start: damage is named now rather than met halfway through a paid job.
            # (About 0.1 s per 100,000 jobs; the command line runs it while the server's modules load.)
            (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if check != "ok":
                raise LibraryError(_corrupt_message(self.path, check))
            db.execute("PRAGMA journal_mode=WAL")
            # The write lock even with nothing to migrate: a library that cannot be written would later lose
            # the ids of paid jobs, so a lock that does not go away is reported now.
            db.writing = True
            with _transaction(db, write=True):
                self._schema(db, write=True)
            self._settle(db)
            kept = True
        finally:
            self._release(db, kept)

    def _make_folder(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"The folder {self.path.parent} for the video library cannot be created ({exc.strerror or exc}). "
                "Make it writable, or set HEYGEN_LIBRARY_PATH to a file in a folder you can write to."
            ) from exc

    def _refuse_newer(self, version: int) -> None:
        if version > len(MIGRATIONS):
            raise LibraryError(
                f"The video library {self.path} was written by a newer heygen-video-mcp (schema version "
                f"{version}; this version understands up to version {len(MIGRATIONS)}), so it was left "
                "untouched. Upgrade heygen-video-mcp, or set HEYGEN_LIBRARY_PATH to another file to keep using "
                "this version with a separate library."
            )

    def _schema(self, db: sqlite3.Connection, *, write: bool) -> bool:
        """Check the file's version inside the transaction (another process may have changed it); bring an
        older or new, empty file up to ours when writing. True when it did."""
        version: int = db.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return False
        self._refuse_newer(version)
        if not write:
            raise _NeedsWrite
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script(migration, "sqlite").split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        return True

    def _state(self) -> FileState | None:
        """The per-operation check, one stat: the file at the path now (None: there is none)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LibraryError(_cannot_open_message(self.path, exc.strerror or str(exc))) from exc
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def _acquire(self, busy: float) -> tuple[_Connection, bool]:
        """A connection to the file now at the path, and whether that file had to be created.

        A pooled connection is used only while the file is as the pool left it. Otherwise the idle ones are
        closed first, and only then a new one is opened: our writes are checkpointed as they commit (see
        _settle), so closing has nothing to copy into a file that was damaged, and a deleted file's WAL is
        gone before a new one can be made."""
        state = self._state()
        db: _Connection | None = None
        stale: list[_Connection] = []
        warn = False
        sidecars = None
        with self._lock:
            if state is None or state != self._known:
                stale, self._pool[:] = list(self._pool), []
                self._generation += 1  # connections still out in other threads are closed when they return
                if self._known is not None and (state is None or state[:2] != self._known[:2]):
                    sidecars = self._sidecars  # another file, or none, is at the path now
                self._known, self._sidecars = None, None
                if state is None:
                    warn, self._seen = self._seen, False
            elif self._pool:
                db = self._pool.pop()
        _close_all(stale)
        if sidecars is not None:
            self._forget_sidecars(sidecars)
        if state is None:
            if warn:
                logger.warning(
                    "The video library %s has disappeared (deleted, or its folder moved); "
                    "starting a new, empty library there.",
                    self.path,
                )
            self._make_folder()
        if db is None:
            db = sqlite3.connect(
                self.path, timeout=busy, isolation_level=None, check_same_thread=False, factory=_Connection
            )
            try:
                db.row_factory = sqlite3.Row
                db.execute("PRAGMA foreign_keys = ON")
                db.busy_ms = round(busy * 1000)
                opened = self._state()
            except BaseException:
                db.close()
                raise
            with self._lock:
                db.generation = self._generation
                if self._known is None:
                    self._known = opened
        elif db.busy_ms != round(busy * 1000):
            db.busy_ms = round(busy * 1000)
            db.execute(f"PRAGMA busy_timeout = {db.busy_ms}")
        return db, state is None

    def _forget_sidecars(self, sidecars: tuple[FileId | None, FileId | None]) -> None:
        """Remove the -wal and -shm of a library file that was replaced or deleted, if they are still the
        ones our connections used. Closing the last connection removes them, but not when the file was
        replaced while open; left there, SQLite would read the old file's pages out of that WAL as if they
        belonged to the new one."""
        for suffix, known in zip(("-wal", "-shm"), sidecars, strict=True):
            sidecar = Path(f"{self.path}{suffix}")
            if known is not None and _file_id(sidecar) == known:
                with suppress(OSError):
                    sidecar.unlink()

    def _note_sidecars(self, db: _Connection) -> None:
        """Remember which -wal and -shm files the current connections use, once the WAL exists."""
        if self._sidecars is not None or db.generation != self._generation:
            return
        wal = _file_id(Path(f"{self.path}-wal"))
        if wal is None:
            return  # not in WAL mode (yet)
        shm = _file_id(Path(f"{self.path}-shm"))
        with self._lock:
            if db.generation == self._generation and self._sidecars is None:
                self._sidecars = (wal, shm)

    def _settle(self, db: _Connection) -> None:
        """After a write: copy it into the file now (as closing the connection did before the pool), so the
        file alone is the whole library and a pooled connection never holds changes the file lacks; then
        remember the file as it is, so that our own write is not taken for someone else's."""
        with suppress(sqlite3.Error):  # committed already; a checkpoint left for later is no failure
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        state = self._state()
        with self._lock:
            if db.generation == self._generation:
                self._known = state

    def _release(self, db: _Connection, healthy: bool) -> None:
        """Back to the pool, unless it failed, its file changed meanwhile, or enough are idle."""
        db.writing = False
        if healthy and db.in_transaction:  # a COMMIT that failed leaves the transaction open
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                healthy = False
        if healthy:
            self._note_sidecars(db)
        with self._lock:
            if healthy and db.generation == self._generation and len(self._pool) < _POOL_IDLE:
                self._pool.append(db)
                return
        db.close()

    def _attempt(self, fn: Callable[[sqlite3.Connection], T], write: bool, busy: float) -> T:
        db, fresh = self._acquire(busy)
        healthy = False
        try:
            if fresh:
                with suppress(sqlite3.OperationalError):  # WAL is for concurrency; migrate() sets it later
                    db.execute("PRAGMA journal_mode=WAL")
            db.writing = write or fresh
            changes = db.total_changes
            with _transaction(db, write=db.writing):
                upgraded = self._schema(db, write=db.writing)
                result = fn(db)
            if db.total_changes != changes or fresh or upgraded:
                self._settle(db)
            healthy = True
        except (_NeedsWrite, LibraryError):
            healthy = True  # rolled back; the connection is fine
            raise
        except sqlite3.Error as exc:
            healthy = _busy(exc)  # a lock is no fault of the connection; anything else: a new one next time
            raise
        finally:
            self._release(db, healthy)
        self._seen = True
        return result

    def _read_here(self, fn: Callable[[sqlite3.Connection], T]) -> T | _Miss:
        """A read by key, on the calling (event loop) thread, on a pooled connection to an unchanged file,
        never waiting: SQLite's busy timeout is 0 for it. That takes some 30 us, where handing it to a worker
        thread and back costs 100-200 us. Anything else (no idle connection, a changed file, a lock, an error,
        a change to write) is a miss, and the operation goes to a worker thread as usual."""
        state = self._state()
        with self._lock:
            if state is None or state != self._known or not self._pool:
                return _MISS
            db = self._pool.pop()
        healthy = False
        try:
            if db.busy_ms != 0:
                db.busy_ms = 0
                db.execute("PRAGMA busy_timeout = 0")
            with _transaction(db, write=False):
                self._schema(db, write=False)
                result = fn(db)
            healthy = True
        except (_NeedsWrite, LibraryError):
            healthy = True
            raise
        except sqlite3.Error as exc:
            healthy = _busy(exc)
            return _MISS  # the worker thread meets it again, waits or reports it
        finally:
            self._release(db, healthy)
        self._seen = True
        return result

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True, by_key: bool = False) -> T:
        """Run `fn` in one transaction (BEGIN IMMEDIATE when writing), retrying while the library is busy for
        up to `write_timeout` seconds. A failed attempt rolled back, so running `fn` again is safe. A read
        `by_key` (an indexed lookup of one job) is first tried without leaving the event loop (_read_here)."""
        if by_key and not write:
            try:
                result = self._read_here(fn)
            except _NeedsWrite:
                write = True
            else:
                if not isinstance(result, _Miss):
                    return result
        backoff = _Backoff(self.write_timeout)
        while True:
            try:
                return await anyio.to_thread.run_sync(self._attempt, fn, write, backoff.busy_timeout())
            except _NeedsWrite:
                write = True  # the file needs its schema brought up to date first
            except sqlite3.Error as exc:
                delay = backoff.next_delay() if _busy(exc) else None
                if delay is None:
                    raise self._error(exc, self.write_timeout, at_start=False) from exc
                await anyio.sleep(delay)

    def _error(self, exc: sqlite3.Error, waited: float, *, at_start: bool) -> LibraryError:
        code = _code(exc)
        if _busy(exc):
            then = (
                "Close that program or let it finish, then restart this server."
                if at_start
                else "Nothing was recorded by this call; try again in a moment, and close that program if this "
                "persists."
            )
            return LibraryError(
                f"The video library {self.path} stayed locked for {waited:g}s: another process holds a write lock "
                "on it (another heygen-video-mcp, e.g. one started by a second AI app, or a SQLite browser with "
                f"unsaved changes). {then}"
            )
        if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            return LibraryError(_corrupt_message(self.path, str(exc)))
        if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
            return LibraryError(_cannot_open_message(self.path, str(exc)))
        if code == sqlite3.SQLITE_FULL:
            return LibraryError(
                f"The video library {self.path} cannot be written: the disk is full. Free some space and try again."
            )
        return LibraryError(f"The video library {self.path} could not be used (SQLite: {exc}).")


class Library:
    """The library as one tenant sees it: every read and write is limited to that tenant's jobs. Views made
    by for_tenant() share one store (file or database, pool, migrations) with the library they came from."""

    def __init__(self, path: Path, *, lock_timeout: float = 10.0, write_timeout: float = 15.0) -> None:
        """`lock_timeout`: how long migrate() waits for another process's write lock at start;
        `write_timeout`: how long an operation keeps retrying a busy library before it gives up."""
        self._store = _SQLiteStore(path, lock_timeout=lock_timeout, write_timeout=write_timeout)
        self.tenant = ""  # '' is the single user of a stdio server

    def __repr__(self) -> str:
        who = f", tenant={self.tenant!r}" if self.tenant else ""
        return f"Library({str(self.path)!r}{who})"

    def for_tenant(self, name: str) -> Library:
        """A view of the same store that reads and writes only `name`'s jobs."""
        view = copy.copy(self)
        view.tenant = name
        return view

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def migrated(self) -> bool:
        """Whether migrate() has succeeded in this process: the store was checked and is at our schema."""
        return self._store.migrated

    def migrate(self) -> None:
        """At start: create or upgrade the schema, refusing a newer or corrupt store. Raises LibraryError."""
        self._store.migrate()

    def close(self) -> None:
        """Close the idle connections (at shutdown). The library stays usable: it reopens on demand."""
        self._store.close()

    async def reserve(self, request: VideoRequest, *, window: float, allow_duplicate: bool) -> Reservation:
        """Atomically find an identical recent submission or record a new one as in flight.

        BEGIN IMMEDIATE serialises this across threads and processes, so two identical calls that arrive
        together cannot both decide they are first.
        """
        fingerprint = request.fingerprint()
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Reservation:
            now = time.time()
            if window > 0 and not allow_duplicate:
                # A refused submission bought nothing, and a failed render is worth retrying as it was.
                row = db.execute(
                    "SELECT * FROM jobs WHERE tenant = ? AND fingerprint = ? AND created_at >= ? "
                    "AND status NOT IN (?, 'failed', 'not_found') ORDER BY created_at DESC LIMIT 1",
                    (tenant, fingerprint, now - window, SUBMIT_FAILED),
                ).fetchone()
                if row is not None:
                    if row["status"] == SUBMITTING and now - row["created_at"] > STALE_SUBMISSION_SECONDS:
                        _set_status(db, row["id"], SUBMIT_UNCERTAIN, "the submitting process stopped", now)
                        row = _row(db, row["id"], tenant)
                    return Reservation(Job.from_row(row), existing=True)
            cursor = db.execute(
                "INSERT INTO jobs (tenant, fingerprint, prompt, provider, aspect_ratio, reference_image_url, "
                "tail_image_url, config, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    tenant,
                    fingerprint,
                    request.prompt,
                    request.provider,
                    request.aspect_ratio,
                    request.reference_image_url,
                    request.tail_image_url,
                    json.dumps(request.config) if request.config is not None else None,
                    SUBMITTING,
                    now,
                    now,
                ),
            )
            job_id = _lastrowid(cursor)
            _log_change(db, job_id, SUBMITTING, None, now)
            return Reservation(Job.from_row(_row(db, job_id, tenant)), existing=False)

        return await self._store.run(work)

    async def submitted(self, job_id: int, execution: Execution) -> Job:
        """Record HeyGen's answer to our submission (retried while the library is busy: it names a paid job)."""
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job:
            if db.execute("SELECT 1 FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone() is None:
                # The library was deleted while the request was out: keep the paid id, as an adopted job.
                row = _by_execution_id(db, execution.execution_id, tenant)
                return _apply(db, _adopt(db, execution, tenant) if row is None else row["id"], execution, tenant)
            db.execute("UPDATE jobs SET execution_id = ? WHERE id = ?", (execution.execution_id, job_id))
            return _apply(db, job_id, execution, tenant)

        return await self._store.run(work)

    async def submit_failed(self, job_id: int, error: str, *, uncertain: bool) -> Job:
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job:
            _row(db, job_id, tenant)  # gone with a deleted library: say so, rather than break a foreign key
            _set_status(db, job_id, SUBMIT_UNCERTAIN if uncertain else SUBMIT_FAILED, error, time.time())
            return Job.from_row(_row(db, job_id, tenant))

        return await self._store.run(work)

    async def observed(self, execution: Execution, *, unchanged_at: float | None = None) -> Job:
        """Record what HeyGen said about an execution; one not submitted from here is adopted. An answer that
        changes nothing is only read: no write lock, no write. `unchanged_at` is when the job was last seen
        as stored (unix time): a change is dated halfway between then and now, its likeliest moment, so
        render times learned from the library are not late by half a polling gap."""
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job:
            row = _by_execution_id(db, execution.execution_id, tenant)
            if row is None and execution.status == "not_found":
                return _unrecorded(execution)  # a mistyped id is not a video worth listing
            if row is not None and not _changes(row, execution):
                return Job.from_row(row)
            _need_write(db)
            job_id = _adopt(db, execution, tenant) if row is None else row["id"]
            return _apply(db, job_id, execution, tenant, unchanged_at=unchanged_at)

        return await self._store.run(work, write=False, by_key=True)

    async def saved(self, job_id: int, *, local_path: str | None, download_error: str | None) -> Job:
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job:
            db.execute(
                "UPDATE jobs SET local_path = coalesce(?, local_path), download_error = ?, updated_at = ? "
                "WHERE id = ? AND tenant = ?",
                (local_path, download_error, time.time(), job_id, tenant),
            )
            return Job.from_row(_row(db, job_id, tenant))

        return await self._store.run(work)

    async def get(self, *, job_id: int | None = None, execution_id: str | None = None) -> Job | None:
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job | None:
            if job_id is not None:
                row = db.execute("SELECT * FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
            else:
                row = _by_execution_id(db, execution_id, tenant)
            return None if row is None else Job.from_row(row)

        return await self._store.run(work, write=False, by_key=True)

    async def foreign(self, execution_id: str) -> bool:
        """Whether this execution id is recorded only under other tenants. Such an id answers as unknown: the
        job layer neither asks HeyGen about it nor adopts it, so no tenant learns of another's videos."""
        tenant = self.tenant

        def work(db: sqlite3.Connection) -> bool:
            rows = db.execute("SELECT tenant FROM jobs WHERE execution_id = ?", (execution_id,)).fetchall()
            return bool(rows) and all(row["tenant"] != tenant for row in rows)

        return await self._store.run(work, write=False, by_key=True)

    async def jobs(
        self, *, status: str | None = None, limit: int = 20, query: str | None = None, include_unsent: bool = False
    ) -> list[Job]:
        """Newest first; `query` matches words of the prompt, provider or execution id.

        Only jobs with an execution id, unless `include_unsent` (or `status` names one of these statuses):
        then also submissions whose answer is pending or was lost, which may be paid jobs. A refused one
        (submit_failed) bought nothing and is never listed.
        """

        def work(db: sqlite3.Connection) -> list[Job]:
            where: list[str] = ["tenant = ?", "execution_id IS NOT NULL"]
            args: list[Any] = [self.tenant]
            if include_unsent or status in (SUBMITTING, SUBMIT_UNCERTAIN):
                where[1] = "(execution_id IS NOT NULL OR status IN (?, ?))"
                args += [SUBMITTING, SUBMIT_UNCERTAIN]
            if status is not None:
                where.append("status = ?")
                args.append(status)
            for word in (query or "").split():
                where.append("(prompt LIKE ? ESCAPE '\\' OR provider = ? OR execution_id = ?)")
                args += [f"%{_escape_like(word)}%", word, word]
            rows = db.execute(
                f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?",
                (*args, limit),
            ).fetchall()
            return [Job.from_row(row) for row in rows]

        return await self._store.run(work, write=False)

    async def render_durations(self, provider: str | None, aspect_ratio: str | None, *, limit: int = 20) -> list[float]:
        """How long the newest `limit` completed jobs that this server submitted with this provider and aspect
        ratio (None: any) took: seconds from submission to their first `completed` status, newest first."""
        where = ["j.tenant = ?", "j.status = 'completed'", "j.prompt != ''", "j.execution_id IS NOT NULL"]
        args: list[Any] = [self.tenant]
        for column, value in (("provider", provider), ("aspect_ratio", aspect_ratio)):
            if value is not None:
                where.append(f"j.{column} = ?")
                args.append(value)
        # Served by jobs_completed_render (or jobs_status_created when neither is given): newest first
        # from an index, then each job's few status changes from status_changes_job.
        query = (
            "SELECT j.created_at, (SELECT min(s.at) FROM status_changes s WHERE s.job_id = j.id "
            "AND s.status = 'completed') AS completed_at "
            f"FROM jobs j WHERE {' AND '.join(where)} AND completed_at >= j.created_at "
            "ORDER BY j.created_at DESC, j.id DESC LIMIT ?"
        )

        def work(db: sqlite3.Connection) -> list[float]:
            rows = db.execute(query, (*args, max(limit, 0))).fetchall()
            return [row["completed_at"] - row["created_at"] for row in rows]

        return await self._store.run(work, write=False)

    async def history(self, job_id: int) -> list[tuple[str, float, str | None]]:
        def work(db: sqlite3.Connection) -> list[tuple[str, float, str | None]]:
            rows = db.execute(
                "SELECT s.status, s.at, s.error FROM status_changes s JOIN jobs j ON j.id = s.job_id "
                "WHERE s.job_id = ? AND j.tenant = ? ORDER BY s.at, s.rowid",
                (job_id, self.tenant),
            ).fetchall()
            return [(row["status"], row["at"], row["error"]) for row in rows]

        return await self._store.run(work, write=False)

    # --- saving the video: one process at a time ------------------------------------------------------------

    async def claim_download(self, job_id: int, owner: str, lease: float, *, force: bool = False) -> bool:
        """Atomically give `owner` (a token per process and attempt) the right to save this job's video for
        `lease` seconds. False when the video is already saved (its file exists), another owner's lease has
        not run out, the job is unknown, or, unless `force` (the user asked), a failed save's back-off
        (download_retry_at) is still running. Claiming again as the same owner extends the lease."""

        def work(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT local_path, download_owner, download_lease, download_retry_at FROM jobs "
                "WHERE id = ? AND tenant = ?",
                (job_id, self.tenant),
            ).fetchone()
            now = time.time()
            if row is None or (row["local_path"] and Path(row["local_path"]).is_file()):
                return False
            if row["download_owner"] not in (None, owner) and (row["download_lease"] or 0) > now:
                return False
            if not force and (row["download_retry_at"] or 0) > now:
                return False
            db.execute(
                "UPDATE jobs SET download_owner = ?, download_lease = ? WHERE id = ?", (owner, now + lease, job_id)
            )
            return True

        return await self._store.run(work)

    async def renew_download(self, job_id: int, owner: str, lease: float) -> bool:
        """Extend `owner`'s claim by `lease` seconds from now; False if another owner has taken it over."""

        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE jobs SET download_lease = ? WHERE id = ? AND tenant = ? AND download_owner = ?",
                (time.time() + lease, job_id, self.tenant, owner),
            )
            return cursor.rowcount == 1

        return await self._store.run(work)

    async def finish_download(
        self, job_id: int, owner: str, *, local_path: str | None, error: str | None, retry_at: float | None
    ) -> Job:
        """Release `owner`'s claim and record the outcome. A saved file (local_path) is recorded whoever holds
        the claim: it clears the error and the back-off. A failure (error) counts an attempt and sets the
        back-off to `retry_at`, but only while the claim is still ours (or no one's): a process that lost its
        claim to an expired lease must not overwrite the state of the one now trying."""

        tenant = self.tenant

        def work(db: sqlite3.Connection) -> Job:
            now = time.time()
            ours = _row(db, job_id, tenant)["download_owner"] in (None, owner)
            if local_path is not None:
                db.execute(
                    "UPDATE jobs SET local_path = ?, download_error = NULL, download_attempts = 0, "
                    "download_retry_at = NULL, updated_at = ? WHERE id = ?",
                    (local_path, now, job_id),
                )
            elif error is not None and ours:
                db.execute(
                    "UPDATE jobs SET download_error = ?, download_attempts = download_attempts + 1, "
                    "download_retry_at = ?, updated_at = ? WHERE id = ?",
                    (error, retry_at, now, job_id),
                )
            if ours:
                db.execute("UPDATE jobs SET download_owner = NULL, download_lease = NULL WHERE id = ?", (job_id,))
            return Job.from_row(_row(db, job_id, tenant))

        return await self._store.run(work)


class _Miss:
    """_read_here could not do it: the operation goes to a worker thread."""


_MISS: Final = _Miss()


class _NeedsWrite(Exception):
    """A read found it must write (the file lacks our schema, or there is a change to record): the operation
    is retried as a write."""


def _need_write(db: sqlite3.Connection) -> None:
    """Called before writing: in a read transaction, start over in a write one (BEGIN IMMEDIATE)."""
    if not getattr(db, "writing", True):
        raise _NeedsWrite


def _file_id(path: Path) -> FileId | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _close_all(connections: list[_Connection]) -> None:
    for db in connections:
        with suppress(sqlite3.Error):
            db.close()


class _Backoff:
    """Attempts within `bound` seconds: each may wait on SQLite's busy handler for what is left (at most
    _ATTEMPT_BUSY_SECONDS); between them, a jittered pause that doubles up to _BACKOFF_MAX."""

    def __init__(self, bound: float) -> None:
        self._deadline = time.monotonic() + bound
        self._delay = _BACKOFF_FIRST

    def busy_timeout(self) -> float:
        return max(0.0, min(_ATTEMPT_BUSY_SECONDS, self._deadline - time.monotonic()))

    def next_delay(self) -> float | None:
        """The pause before the next attempt, or None when the bound is spent."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            return None
        delay = min(self._delay * random.uniform(0.5, 1.0), left)
        self._delay = min(self._delay * 2, _BACKOFF_MAX)
        return delay


def _code(exc: sqlite3.Error) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF  # the primary code, without the extended bits


def _busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def _quoted(path: Path | str) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def _corrupt_message(path: Path, detail: str) -> str:
    return (
        f"The video library {path} is damaged or is not a SQLite database (SQLite: {detail}), so this server "
        f"cannot use it. Move it aside with: mv {_quoted(path)} {_quoted(f'{path}.corrupt')} (or rename it in your "
        "file manager); a new, empty library is created in its place on the next start. Saved videos are not "
        "affected."
    )


def _cannot_open_message(path: Path, detail: str) -> str:
    return (
        f"The video library {path} cannot be opened for writing ({detail}). Check that it is a file and that it "
        f"and its folder {path.parent} are writable (SQLite also writes {path.name}-wal and {path.name}-shm "
        "next to it), or set HEYGEN_LIBRARY_PATH to another file."
    )


@contextmanager
def _transaction(db: sqlite3.Connection, *, write: bool) -> Iterator[None]:
    """A write takes the write lock at BEGIN, so it never fails halfway on a lock another writer holds."""
    db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    try:
        yield
    except BaseException:
        if db.in_transaction:  # some errors (a full disk, say) have already rolled it back
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _row(db: sqlite3.Connection, job_id: int, tenant: str) -> sqlite3.Row:
    """A job of this tenant that must be there (its id came from this view)."""
    row: sqlite3.Row | None = db.execute("SELECT * FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
    if row is None:  # the library was deleted (and made again) while this job was being worked on
        path = db.execute("PRAGMA database_list").fetchone()["file"]
        raise LibraryError(f"Job {job_id} is no longer in the video library {path}: was the file replaced?")
    return row


def _by_execution_id(db: sqlite3.Connection, execution_id: str | None, tenant: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM jobs WHERE tenant = ? AND execution_id = ?", (tenant, execution_id)
    ).fetchone()
    return row


def _adopt(db: sqlite3.Connection, execution: Execution, tenant: str) -> int:
    """A row for an execution we have no record of, so that it can be listed and followed."""
    now = time.time()
    cursor = db.execute(
        "INSERT INTO jobs (tenant, execution_id, prompt, status, created_at, updated_at) VALUES (?, ?, '', ?, ?, ?)",
        (tenant, execution.execution_id, execution.status, now, now),
    )
    return _lastrowid(cursor)


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _log_change(db: sqlite3.Connection, job_id: int, status: str, error: str | None, at: float) -> None:
    db.execute(
        "INSERT INTO status_changes (job_id, status, error, at) VALUES (?, ?, ?, ?)", (job_id, status, error, at)
    )


def _set_status(db: sqlite3.Connection, job_id: int, status: str, error: str | None, at: float) -> None:
    db.execute("UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?", (status, error, at, job_id))
    _log_change(db, job_id, status, error, at)


def _changes(before: sqlite3.Row, execution: Execution) -> bool:
    """Whether recording `execution` would change the stored job (what _apply writes)."""
    if before["status"] == "completed" and execution.status == "not_found":
        return False  # HeyGen forgets old executions; the record stays completed
    return (
        before["status"] != execution.status
        or before["heygen_status"] != execution.heygen_status
        or before["error"] != execution.error
        or execution.video_url not in (None, before["video_url"])
        or execution.video_id not in (None, before["video_id"])
        or execution.asset_id not in (None, before["asset_id"])
    )


def _apply(
    db: sqlite3.Connection, job_id: int, execution: Execution, tenant: str, *, unchanged_at: float | None = None
) -> Job:
    before = _row(db, job_id, tenant)
    if not _changes(before, execution):
        # Nothing new (HeyGen forgets old executions, too; a completed record stays completed): not written.
        return Job.from_row(before)
    now = time.time()
    if before["status"] != execution.status or before["error"] != execution.error:
        at = now if unchanged_at is None else (max(unchanged_at, before["updated_at"]) + now) / 2
        _log_change(db, job_id, execution.status, execution.error, at)
    # A later answer without the output (say, a fresh not_found) must not erase what was already learned.
    db.execute(
        "UPDATE jobs SET status = ?, heygen_status = ?, error = ?, video_url = coalesce(?, video_url), "
        "video_id = coalesce(?, video_id), asset_id = coalesce(?, asset_id), updated_at = ? WHERE id = ?",
        (
            execution.status,
            execution.heygen_status,
            execution.error,
            execution.video_url,
            execution.video_id,
            execution.asset_id,
            now,
            job_id,
        ),
    )
    return Job.from_row(_row(db, job_id, tenant))


def _unrecorded(execution: Execution) -> Job:
    """A job HeyGen does not know and the library never had: reported, not stored."""
    now = time.time()
    return Job(
        id=0,
        execution_id=execution.execution_id,
        prompt="",
        status=execution.status,
        created_at=now,
        updated_at=now,
        heygen_status=execution.heygen_status,
    )


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
