"""The library in SQLite: one file, shared safely between processes.

Operations run on connections from a small pool kept for the server's life, in WAL mode, so two servers on
one machine (say Claude Desktop and Claude Code) can write at once without losing rows. A connection serves
one operation at a time, in a worker thread (sqlite3 blocks), so reads go on while a write waits for another
process's lock; only a read of one job by its key, which cannot wait, is done without leaving the event loop.
Writes take the write lock up front (BEGIN IMMEDIATE) and retry a busy lock with backoff, within a bound;
reads take no lock, and a status that did not change is not written again. Every operation first compares
the file at the path with the one the pool has open (one stat), so a library deleted or replaced under the
server is noticed and its connections reopened. Whatever SQLite says reaches the user as a LibraryError
naming the file and what to do, not a traceback.
"""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Final, TypeVar

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar

from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library.common import NeedsWrite, Operation
from heygen_video_mcp.tools.library.migrations import MIGRATIONS, statements

T = TypeVar("T")

logger = logging.getLogger(__name__)

# SQLite's busy handler waits at most this long per attempt. It is not called in every busy case (WAL
# recovery, a lock taken by a reader in rollback mode), so attempts are repeated with backoff until the
# caller's bound (lock_timeout at start, write_timeout later) runs out.
_ATTEMPT_BUSY_SECONDS: Final = 2.0
_BACKOFF_FIRST: Final = 0.02
_BACKOFF_MAX: Final = 0.5
# Idle connections kept open; more are opened while more operations run at once, and closed after.
_POOL_IDLE: Final = 4
# Operations on worker threads at once, per event loop: as many as idle connections are kept. More (anyio
# lends up to 40 threads) would each open a connection with its own page cache, to queue for SQLite's
# single writer: 2,000 waits at once grew the server by megabytes that way.
_THREADS: Final[RunVar[anyio.CapacityLimiter]] = RunVar("library threads")


FileState = tuple[int, int, int, int]
"""What one stat says of the library file: device, inode, size and modification time (ns)."""
FileId = tuple[int, int]
"""Device and inode: which file a name stands for."""


class _Connection(sqlite3.Connection):
    """A pooled connection, one operation at a time."""

    generation: int = 0  # the pool's generation it was opened in; one from an older generation is closed
    busy_ms: int = -1  # its SQLite busy timeout, set per attempt
    writing: bool = False  # inside a write transaction (BEGIN IMMEDIATE)


def _threads() -> anyio.CapacityLimiter:
    try:
        return _THREADS.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(_POOL_IDLE)
        _THREADS.set(limiter)
        return limiter


class SQLiteStore:
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
    def where(self) -> str:
        return str(self.path)

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
            raise NeedsWrite
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in statements(migration, "sqlite"):
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

    def _attempt(self, fn: Operation[T], write: bool, busy: float) -> T:
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
        except (NeedsWrite, LibraryError):
            healthy = True  # rolled back; the connection is fine
            raise
        except sqlite3.Error as exc:
            healthy = _busy(exc)  # a lock is no fault of the connection; anything else: a new one next time
            raise
        finally:
            self._release(db, healthy)
        self._seen = True
        return result

    def _read_here(self, fn: Operation[T]) -> T | _Miss:
        """A read by key, on the calling (event loop) thread, on a pooled connection to an unchanged file,
        never waiting: SQLite's busy timeout is 0 for it. That is several times faster than handing it to a
        worker thread and back. Anything else (no idle connection, a changed file, a lock, an error,
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
            # No BEGIN/COMMIT: the read is one statement, atomic by itself, and the version is checked after
            # it. A schema changed before the read is then seen (versions only go up), so this is as safe as
            # checking first inside a transaction, at two statements less on every status read.
            try:
                result = fn(db)
            finally:
                self._schema(db, write=False)
            healthy = True
        except (NeedsWrite, LibraryError):
            healthy = True
            raise
        except sqlite3.Error as exc:
            healthy = _busy(exc)
            return _MISS  # the worker thread meets it again, waits or reports it
        finally:
            self._release(db, healthy)
        self._seen = True
        return result

    async def run(self, fn: Operation[T], *, scope: str, write: bool = True, by_key: bool = False) -> T:
        """Run `fn` in one transaction (BEGIN IMMEDIATE when writing), retrying while the library is busy for
        up to `write_timeout` seconds. A failed attempt rolled back, so running `fn` again is safe. A read
        `by_key` (an indexed lookup of one job, in one statement unless it needs a write: _read_here runs it
        outside a transaction) is first tried without leaving the event loop.
        BEGIN IMMEDIATE serialises every write, whatever its `scope`."""
        if by_key and not write:
            try:
                result = self._read_here(fn)
            except NeedsWrite:
                write = True
            else:
                if not isinstance(result, _Miss):
                    return result
        backoff = _Backoff(self.write_timeout)
        while True:
            try:
                return await anyio.to_thread.run_sync(
                    self._attempt, fn, write, backoff.busy_timeout(), limiter=_threads()
                )
            except NeedsWrite:
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


class _Miss:
    """_read_here could not do it: the operation goes to a worker thread."""


_MISS: Final = _Miss()


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
