"""The video library: every submission and what became of it, in SQLite, shared safely between processes.

Each call opens its own connection in a worker thread (sqlite3 blocks), in WAL mode, so two servers on one
machine (say Claude Desktop and Claude Code) can write at once without losing rows. Writes take the write
lock up front (BEGIN IMMEDIATE) and retry a busy lock with backoff, within a bound; reads take no lock.
Whatever SQLite says reaches the user as a LibraryError naming the file and what to do, not a traceback.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

import anyio
import anyio.to_thread

from tools.errors import LibraryError

if TYPE_CHECKING:
    from tools.client import Execution
    from tools.request import VideoRequest

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

# `PRAGMA user_version` counts the migrations applied. A file with more than we know was written by a newer
# release whose layout may mean something else: refused, and left untouched. A file at our version with
# columns we do not know is used: rows are read by name (unknown columns skipped) and every INSERT names its
# columns. So a later release may add a nullable or defaulted column without a migration (creating it if
# PRAGMA table_info lacks it), and this one keeps working on the file; anything else is a migration.
# Append only: a migration that has shipped never changes.
MIGRATIONS: Final[tuple[str, ...]] = (
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
)


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


class Library:
    def __init__(self, path: Path, *, lock_timeout: float = 10.0, write_timeout: float = 15.0) -> None:
        """`lock_timeout`: how long migrate() waits for another process's write lock at start;
        `write_timeout`: how long an operation keeps retrying a busy library before it gives up."""
        self.path = path
        self.lock_timeout = lock_timeout
        self.write_timeout = write_timeout
        # Whether this process has used the file, so that its disappearance is news worth one warning.
        self._seen = False
        self._seen_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"

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

    def _migrate(self, busy: float) -> None:
        self._make_folder()
        with self._connect(busy) as db:
            # Read before anything is written: a newer file must stay exactly as it is.
            self._refuse_newer(db.execute("PRAGMA user_version").fetchone()[0])
            (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if check != "ok":
                raise LibraryError(_corrupt_message(self.path, check))
            db.execute("PRAGMA journal_mode=WAL")
            # The write lock even with nothing to migrate: a library that cannot be written would later lose
            # the ids of paid jobs, so a lock that does not go away is reported now.
            with _transaction(db, write=True):
                self._schema(db, write=True)

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
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {number}")
        return True

    def _missing(self) -> bool:
        """The per-operation check, one stat: a file deleted under us (or its folder) is made again."""
        try:
            if self.path.exists():
                return False
        except OSError as exc:
            raise LibraryError(_cannot_open_message(self.path, exc.strerror or str(exc))) from exc
        with self._seen_lock:
            if self._seen:
                self._seen = False
                logger.warning(
                    "The video library %s has disappeared (deleted, or its folder moved); "
                    "starting a new, empty library there.",
                    self.path,
                )
        self._make_folder()
        return True

    @contextmanager
    def _connect(self, busy: float) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=busy, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    def _attempt(self, fn: Callable[[sqlite3.Connection], T], write: bool, busy: float) -> T:
        fresh = self._missing()
        with self._connect(busy) as db:
            if fresh:
                with suppress(sqlite3.OperationalError):  # WAL is for concurrency; migrate() sets it later
                    db.execute("PRAGMA journal_mode=WAL")
            with _transaction(db, write=write or fresh):
                self._schema(db, write=write or fresh)
                result = fn(db)
        self._seen = True
        return result

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run `fn` in one transaction (BEGIN IMMEDIATE when writing), retrying while the library is busy for
        up to `write_timeout` seconds. A failed attempt rolled back, so running `fn` again is safe."""
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

    async def reserve(self, request: VideoRequest, *, window: float, allow_duplicate: bool) -> Reservation:
        """Atomically find an identical recent submission or record a new one as in flight.

        BEGIN IMMEDIATE serialises this across threads and processes, so two identical calls that arrive
        together cannot both decide they are first.
        """
        fingerprint = request.fingerprint()

        def work(db: sqlite3.Connection) -> Reservation:
            now = time.time()
            if window > 0 and not allow_duplicate:
                # A refused submission bought nothing, and a failed render is worth retrying as it was.
                row = db.execute(
                    "SELECT * FROM jobs WHERE fingerprint = ? AND created_at >= ? "
                    "AND status NOT IN (?, 'failed', 'not_found') ORDER BY created_at DESC LIMIT 1",
                    (fingerprint, now - window, SUBMIT_FAILED),
                ).fetchone()
                if row is not None:
                    if row["status"] == SUBMITTING and now - row["created_at"] > STALE_SUBMISSION_SECONDS:
                        _set_status(db, row["id"], SUBMIT_UNCERTAIN, "the submitting process stopped", now)
                        row = _row(db, row["id"])
                    return Reservation(Job.from_row(row), existing=True)
            cursor = db.execute(
                "INSERT INTO jobs (fingerprint, prompt, provider, aspect_ratio, reference_image_url, "
                "tail_image_url, config, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
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
            return Reservation(Job.from_row(_row(db, job_id)), existing=False)

        return await self._run(work)

    async def submitted(self, job_id: int, execution: Execution) -> Job:
        """Record HeyGen's answer to our submission (retried while the library is busy: it names a paid job)."""

        def work(db: sqlite3.Connection) -> Job:
            if db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
                # The library was deleted while the request was out: keep the paid id, as an adopted job.
                row = db.execute("SELECT id FROM jobs WHERE execution_id = ?", (execution.execution_id,)).fetchone()
                return _apply(db, _adopt(db, execution) if row is None else row["id"], execution)
            db.execute("UPDATE jobs SET execution_id = ? WHERE id = ?", (execution.execution_id, job_id))
            return _apply(db, job_id, execution)

        return await self._run(work)

    async def submit_failed(self, job_id: int, error: str, *, uncertain: bool) -> Job:
        def work(db: sqlite3.Connection) -> Job:
            _row(db, job_id)  # gone with a deleted library: say so, rather than break a foreign key
            _set_status(db, job_id, SUBMIT_UNCERTAIN if uncertain else SUBMIT_FAILED, error, time.time())
            return Job.from_row(_row(db, job_id))

        return await self._run(work)

    async def observed(self, execution: Execution) -> Job:
        """Record what HeyGen said about an execution; one not submitted from here is adopted."""

        def work(db: sqlite3.Connection) -> Job:
            row = db.execute("SELECT id FROM jobs WHERE execution_id = ?", (execution.execution_id,)).fetchone()
            if row is None and execution.status == "not_found":
                return _unrecorded(execution)  # a mistyped id is not a video worth listing
            return _apply(db, _adopt(db, execution) if row is None else row["id"], execution)

        return await self._run(work)

    async def saved(self, job_id: int, *, local_path: str | None, download_error: str | None) -> Job:
        def work(db: sqlite3.Connection) -> Job:
            db.execute(
                "UPDATE jobs SET local_path = coalesce(?, local_path), download_error = ?, updated_at = ? WHERE id = ?",
                (local_path, download_error, time.time(), job_id),
            )
            return Job.from_row(_row(db, job_id))

        return await self._run(work)

    async def get(self, *, job_id: int | None = None, execution_id: str | None = None) -> Job | None:
        def work(db: sqlite3.Connection) -> Job | None:
            if job_id is not None:
                row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
            else:
                row = db.execute("SELECT * FROM jobs WHERE execution_id = ?", (execution_id,)).fetchone()
            return None if row is None else Job.from_row(row)

        return await self._run(work, write=False)

    async def jobs(
        self, *, status: str | None = None, limit: int = 20, query: str | None = None, include_unsent: bool = False
    ) -> list[Job]:
        """Newest first; `query` matches words of the prompt, provider or execution id.

        Only jobs with an execution id, unless `include_unsent` (or `status` names one of these statuses):
        then also submissions whose answer is pending or was lost, which may be paid jobs. A refused one
        (submit_failed) bought nothing and is never listed.
        """

        def work(db: sqlite3.Connection) -> list[Job]:
            where: list[str] = ["execution_id IS NOT NULL"]
            args: list[Any] = []
            if include_unsent or status in (SUBMITTING, SUBMIT_UNCERTAIN):
                where = ["(execution_id IS NOT NULL OR status IN (?, ?))"]
                args = [SUBMITTING, SUBMIT_UNCERTAIN]
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

        return await self._run(work, write=False)

    async def history(self, job_id: int) -> list[tuple[str, float, str | None]]:
        def work(db: sqlite3.Connection) -> list[tuple[str, float, str | None]]:
            rows = db.execute(
                "SELECT status, at, error FROM status_changes WHERE job_id = ? ORDER BY at, rowid", (job_id,)
            ).fetchall()
            return [(row["status"], row["at"], row["error"]) for row in rows]

        return await self._run(work, write=False)

    # --- saving the video: one process at a time ------------------------------------------------------------

    async def claim_download(self, job_id: int, owner: str, lease: float, *, force: bool = False) -> bool:
        """Atomically give `owner` (a token per process and attempt) the right to save this job's video for
        `lease` seconds. False when the video is already saved (its file exists), another owner's lease has
        not run out, the job is unknown, or, unless `force` (the user asked), a failed save's back-off
        (download_retry_at) is still running. Claiming again as the same owner extends the lease."""

        def work(db: sqlite3.Connection) -> bool:
            row = db.execute(
                "SELECT local_path, download_owner, download_lease, download_retry_at FROM jobs WHERE id = ?",
                (job_id,),
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

        return await self._run(work)

    async def renew_download(self, job_id: int, owner: str, lease: float) -> bool:
        """Extend `owner`'s claim by `lease` seconds from now; False if another owner has taken it over."""

        def work(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE jobs SET download_lease = ? WHERE id = ? AND download_owner = ?",
                (time.time() + lease, job_id, owner),
            )
            return cursor.rowcount == 1

        return await self._run(work)

    async def finish_download(
        self, job_id: int, owner: str, *, local_path: str | None, error: str | None, retry_at: float | None
    ) -> Job:
        """Release `owner`'s claim and record the outcome. A saved file (local_path) is recorded whoever holds
        the claim: it clears the error and the back-off. A failure (error) counts an attempt and sets the
        back-off to `retry_at`, but only while the claim is still ours (or no one's): a process that lost its
        claim to an expired lease must not overwrite the state of the one now trying."""

        def work(db: sqlite3.Connection) -> Job:
            now = time.time()
            ours = _row(db, job_id)["download_owner"] in (None, owner)
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
            return Job.from_row(_row(db, job_id))

        return await self._run(work)


class _NeedsWrite(Exception):
    """A read found the file without our schema (new, or older): the operation is retried as a write."""


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


def _row(db: sqlite3.Connection, job_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:  # the library was deleted (and made again) while this job was being worked on
        path = db.execute("PRAGMA database_list").fetchone()["file"]
        raise LibraryError(f"Job {job_id} is no longer in the video library {path}: was the file replaced?")
    return row


def _adopt(db: sqlite3.Connection, execution: Execution) -> int:
    """A row for an execution we have no record of, so that it can be listed and followed."""
    now = time.time()
    cursor = db.execute(
        "INSERT INTO jobs (execution_id, prompt, status, created_at, updated_at) VALUES (?, '', ?, ?, ?)",
        (execution.execution_id, execution.status, now, now),
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


def _apply(db: sqlite3.Connection, job_id: int, execution: Execution) -> Job:
    before = _row(db, job_id)
    if before["status"] == "completed" and execution.status == "not_found":
        # HeyGen forgets old executions; the video was made and paid for, so the record stays completed.
        return Job.from_row(before)
    now = time.time()
    if before["status"] != execution.status or before["error"] != execution.error:
        _log_change(db, job_id, execution.status, execution.error, now)
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
    return Job.from_row(_row(db, job_id))


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
