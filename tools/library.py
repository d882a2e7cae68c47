"""The video library: every submission and what became of it, in SQLite, shared safely between processes.

Each call opens its own connection in a worker thread (sqlite3 blocks), in WAL mode with a busy timeout,
so two servers on one machine (say Claude Desktop and Claude Code) can write at once without losing rows.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import anyio.to_thread

from tools.client import Execution
from tools.request import VideoRequest

T = TypeVar("T")

# Statuses of our own, around HeyGen's: a submission in flight, refused, or with its answer lost.
SUBMITTING: Final = "submitting"
SUBMIT_FAILED: Final = "submit_failed"
SUBMIT_UNCERTAIN: Final = "submit_uncertain"
UNFINISHED: Final = ("submitted", "processing")
# A reservation older than this whose POST never reported back died with its process: treat it as lost.
STALE_SUBMISSION_SECONDS: Final = 180.0

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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Job:
        values = {key: row[key] for key in row.keys() if key != "fingerprint"}  # noqa: SIM118 (Row iterates values)
        values["config"] = json.loads(row["config"]) if row["config"] else None
        return cls(**values)


@dataclass(frozen=True)
class Reservation:
    job: Job
    existing: bool  # True: an identical request was made within the window; nothing new was reserved


class Library:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"

    def migrate(self) -> None:
        """Create or upgrade the schema; `PRAGMA user_version` counts the migrations applied."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            with _immediate(db):
                version: int = db.execute("PRAGMA user_version").fetchone()[0]
                for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                    for statement in filter(str.strip, script.split(";")):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout = 30000")
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def work() -> T:
            with self._connect() as db, _immediate(db):
                return fn(db)

        return await anyio.to_thread.run_sync(work)

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
        def work(db: sqlite3.Connection) -> Job:
            db.execute("UPDATE jobs SET execution_id = ? WHERE id = ?", (execution.execution_id, job_id))
            return _apply(db, job_id, execution)

        return await self._run(work)

    async def submit_failed(self, job_id: int, error: str, *, uncertain: bool) -> Job:
        def work(db: sqlite3.Connection) -> Job:
            _set_status(db, job_id, SUBMIT_UNCERTAIN if uncertain else SUBMIT_FAILED, error, time.time())
            return Job.from_row(_row(db, job_id))

        return await self._run(work)

    async def observed(self, execution: Execution) -> Job:
        """Record what HeyGen said about an execution; one not submitted from here is adopted."""

        def work(db: sqlite3.Connection) -> Job:
            row = db.execute("SELECT id FROM jobs WHERE execution_id = ?", (execution.execution_id,)).fetchone()
            if row is None and execution.status == "not_found":
                return _unrecorded(execution)  # a mistyped id is not a video worth listing
            if row is None:
                now = time.time()
                cursor = db.execute(
                    "INSERT INTO jobs (execution_id, prompt, status, created_at, updated_at) VALUES (?, '', ?, ?, ?)",
                    (execution.execution_id, execution.status, now, now),
                )
                job_id = _lastrowid(cursor)
            else:
                job_id = row["id"]
            return _apply(db, job_id, execution)

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

        return await self._run(work)

    async def jobs(self, *, status: str | None = None, limit: int = 20, query: str | None = None) -> list[Job]:
        """Newest first; `query` matches words of the prompt, provider or execution id."""

        def work(db: sqlite3.Connection) -> list[Job]:
            where, args = ["execution_id IS NOT NULL"], []
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

        return await self._run(work)

    async def history(self, job_id: int) -> list[tuple[str, float, str | None]]:
        def work(db: sqlite3.Connection) -> list[tuple[str, float, str | None]]:
            rows = db.execute(
                "SELECT status, at, error FROM status_changes WHERE job_id = ? ORDER BY at, rowid", (job_id,)
            ).fetchall()
            return [(row["status"], row["at"], row["error"]) for row in rows]

        return await self._run(work)


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _row(db: sqlite3.Connection, job_id: int) -> sqlite3.Row:
    row: sqlite3.Row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return row


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
