"""The library's operations, written once for both stores: a Library is one tenant's view of a store.

Every job belongs to a tenant ('' is the single user of stdio mode). for_tenant() makes another view over the
same store (file or database, connections, migrations): its reads, writes and duplicate guard see only that
tenant's jobs, and an execution id recorded only under other tenants is `foreign` to it.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library import retired, tasks
from heygen_video_mcp.tools.library.common import (
    ABANDONED,
    BudgetUsed,
    Connection,
    Operation,
    Reservation,
    Row,
    Store,
    Vanished,
    abandoned,
    job_from_row,
    need_write,
    submit_owner,
)
from heygen_video_mcp.tools.library.retired import Retirement
from heygen_video_mcp.tools.library.sqlite import SQLiteStore
from heygen_video_mcp.tools.library.tasks import TaskRecord
from heygen_video_mcp.tools.status import SUBMIT_FAILED, SUBMIT_UNCERTAIN, SUBMITTING, Job

if TYPE_CHECKING:
    from heygen_video_mcp.tools.request import VideoRequest
    from heygen_video_mcp.tools.status import Execution

T = TypeVar("T")


class Library:
    """The library as one tenant sees it: every read and write is limited to that tenant's jobs. Views made
    by for_tenant() share one store (file or database, pool, migrations) with the library they came from."""

    def __init__(self, store: Path | Store, *, lock_timeout: float = 10.0, write_timeout: float = 15.0) -> None:
        """A library over `store`, or over the SQLite file at that path. `lock_timeout`: how long migrate()
        waits for another process's write lock at start; `write_timeout`: how long an operation keeps retrying
        a busy library before it gives up (both for the file; a store given is already built with its own)."""
        if isinstance(store, Path):
            store = SQLiteStore(store, lock_timeout=lock_timeout, write_timeout=write_timeout)
        self._store: Store = store
        self.tenant = ""  # '' is the single user of a stdio server

    @classmethod
    def postgres(cls, url: str, *, lock_timeout: float = 10.0, write_timeout: float = 15.0) -> Library:
        """A library in the PostgreSQL database at `url` (postgresql://...), which needs the `remote` extra."""
        try:
            from heygen_video_mcp.tools.library.postgres import PostgresStore
        except ImportError as exc:
            raise LibraryError(
                f"A PostgreSQL library needs the PostgreSQL driver, which is not installed ({exc}). Install it with: "
                "pip install 'heygen-video-mcp[remote]'"
            ) from None
        return cls(PostgresStore(url, lock_timeout=lock_timeout, write_timeout=write_timeout))

    def __repr__(self) -> str:
        who = f", tenant={self.tenant!r}" if self.tenant else ""
        return f"Library({self._store.where!r}{who})"

    def for_tenant(self, name: str) -> Library:
        """A view of the same store that reads and writes only `name`'s jobs."""
        view = copy.copy(self)
        view.tenant = name
        return view

    @property
    def where(self) -> str:
        """The file or database (without its password), for messages."""
        return self._store.where

    @property
    def path(self) -> Path:
        """The SQLite file. A PostgreSQL library has none."""
        if not isinstance(self._store, SQLiteStore):
            raise AttributeError(f"{self!r} is a PostgreSQL library: it has no file")
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

    async def _run(self, fn: Operation[T], *, write: bool = True, by_key: bool = False) -> T:
        try:
            return await self._store.run(fn, scope=self.tenant, write=write, by_key=by_key)
        except Vanished as exc:  # the library was deleted (and made again) while this job was being worked on
            raise LibraryError(
                f"Job {exc.job_id} is no longer in the video library {self.where}: was it replaced?"
            ) from None

    async def reserve(
        self, request: VideoRequest, *, window: float, allow_duplicate: bool, daily_budget: int | None = None
    ) -> Reservation:
        """Atomically find an identical recent submission or record a new one as in flight.

        A write of one tenant never interleaves with another of the same tenant (BEGIN IMMEDIATE on SQLite,
        the tenant's advisory lock on PostgreSQL), across threads, processes and replicas, so two identical
        calls that arrive together cannot both decide they are first, and two calls at the edge of the
        tenant's `daily_budget` (new submissions per UTC day) cannot both take its last one: BudgetUsed.
        """
        fingerprint = request.fingerprint()
        tenant = self.tenant

        def work(db: Connection) -> Reservation:
            now = time.time()
            _expire_abandoned(db, tenant, now)
            if window > 0 and not allow_duplicate:
                # A refused submission bought nothing, and a failed render is worth retrying as it was.
                row = db.execute(
                    "SELECT * FROM jobs WHERE tenant = ? AND fingerprint = ? AND created_at >= ? "
                    "AND status NOT IN (?, 'failed', 'not_found') ORDER BY created_at DESC LIMIT 1",
                    (tenant, fingerprint, now - window, SUBMIT_FAILED),
                ).fetchone()
                if row is None:
                    # One that may have bought the video is asked about however old: only the user can say.
                    row = db.execute(
                        "SELECT * FROM jobs WHERE tenant = ? AND fingerprint = ? AND status IN (?, ?) "
                        "ORDER BY created_at DESC LIMIT 1",
                        (tenant, fingerprint, SUBMITTING, SUBMIT_UNCERTAIN),
                    ).fetchone()
                if row is not None:
                    return Reservation(job_from_row(row), existing=True)
            if daily_budget is not None:
                # Today's submissions that may have bought a video: not refused ones, not adopted ids.
                used = db.execute(
                    "SELECT COUNT(*) AS used FROM jobs WHERE tenant = ? AND created_at >= ? AND prompt != '' "
                    "AND status != ?",
                    (tenant, now // 86400 * 86400, SUBMIT_FAILED),
                ).fetchone()["used"]
                if used >= daily_budget:
                    raise BudgetUsed(f"{used} of {daily_budget} used today")
            job_id: int = db.execute(
                "INSERT INTO jobs (tenant, fingerprint, prompt, provider, aspect_ratio, reference_image_url, "
                "tail_image_url, config, status, submit_owner, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
                    submit_owner(),
                    now,
                    now,
                ),
            ).fetchone()["id"]
            _log_change(db, job_id, SUBMITTING, None, now)
            return Reservation(job_from_row(_row(db, job_id, tenant)), existing=False)

        return await self._run(work)

    async def submitted(self, job_id: int, execution: Execution) -> Job:
        """Record HeyGen's answer to our submission (retried while the library is busy: it names a paid job)."""
        tenant = self.tenant

        def work(db: Connection) -> Job:
            if db.execute("SELECT 1 FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone() is None:
                # The library was deleted while the request was out: keep the paid id, as an adopted job.
                row = _by_execution_id(db, execution.execution_id, tenant)
                return _apply(db, _adopt(db, execution, tenant) if row is None else row["id"], execution, tenant)
            followed = _by_execution_id(db, execution.execution_id, tenant)
            if followed is not None and followed["id"] != job_id:
                # Followed (say on another replica) before this answer could be recorded, so adopted as a row
                # of its own: folded into this one, which has the prompt. What it learned is newer.
                _fold(db, followed, job_id)
                return job_from_row(_row(db, job_id, tenant))
            db.execute(
                "UPDATE jobs SET execution_id = ?, session_id = ? WHERE id = ?",
                (execution.execution_id, execution.session_id, job_id),
            )
            return _apply(db, job_id, execution, tenant)

        return await self._run(work)

    async def heartbeat(self, job_id: int) -> None:
        """Say that this process still waits for HeyGen's answer to the submission (see abandoned())."""

        def work(db: Connection) -> None:
            db.execute(
                "UPDATE jobs SET updated_at = ? WHERE id = ? AND tenant = ? AND status = ?",
                (time.time(), job_id, self.tenant, SUBMITTING),
            )

        await self._run(work)

    async def submit_failed(self, job_id: int, error: str, *, uncertain: bool) -> Job:
        tenant = self.tenant

        def work(db: Connection) -> Job:
            _row(db, job_id, tenant)  # gone with a deleted library: say so, rather than break a foreign key
            _set_status(db, job_id, SUBMIT_UNCERTAIN if uncertain else SUBMIT_FAILED, error, time.time())
            return job_from_row(_row(db, job_id, tenant))

        return await self._run(work)

    async def observed(self, execution: Execution, *, unchanged_at: float | None = None) -> Job:
        """Record what HeyGen said about an execution; one not submitted from here is adopted. An answer that
        changes nothing is only read: no write lock, no write. `unchanged_at` is when the job was last seen
        as stored (unix time): a change is dated halfway between then and now, its likeliest moment, so
        render times learned from the library are not late by half a polling gap."""
        tenant = self.tenant

        def work(db: Connection) -> Job:
            row = _by_execution_id(db, execution.execution_id, tenant)
            if row is None and execution.status == "not_found":
                return _unrecorded(execution)  # a mistyped id is not a video worth listing
            if row is not None and not _changes(row, execution):
                return job_from_row(row)
            need_write(db)
            job_id = _adopt(db, execution, tenant) if row is None else row["id"]
            return _apply(db, job_id, execution, tenant, unchanged_at=unchanged_at)

        return await self._run(work, write=False, by_key=True)

    async def saved(self, job_id: int, *, local_path: str | None, download_error: str | None) -> Job:
        tenant = self.tenant

        def work(db: Connection) -> Job:
            db.execute(
                "UPDATE jobs SET local_path = coalesce(?, local_path), download_error = ?, updated_at = ? "
                "WHERE id = ? AND tenant = ?",
                (local_path, download_error, time.time(), job_id, tenant),
            )
            return job_from_row(_row(db, job_id, tenant))

        return await self._run(work)

    async def get(self, *, job_id: int | None = None, execution_id: str | None = None) -> Job | None:
        tenant = self.tenant

        def work(db: Connection) -> Job | None:
            if job_id is not None:
                row = db.execute("SELECT * FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
            else:
                row = _by_execution_id(db, execution_id, tenant)
            if (
                row is not None
                and row["status"] == SUBMITTING
                and abandoned(row["submit_owner"], row["updated_at"], time.time())
            ):
                need_write(db)
                _expire_abandoned(db, tenant, time.time())
                row = _row(db, row["id"], tenant)
            return None if row is None else job_from_row(row)

        return await self._run(work, write=False, by_key=True)

    async def foreign(self, execution_id: str) -> bool:
        """Whether this execution id is recorded only under other tenants. Such an id answers as unknown: the
        job layer neither asks HeyGen about it nor adopts it, so no tenant learns of another's videos."""
        tenant = self.tenant

        def work(db: Connection) -> bool:
            rows = db.execute("SELECT tenant FROM jobs WHERE execution_id = ?", (execution_id,)).fetchall()
            return bool(rows) and all(row["tenant"] != tenant for row in rows)

        return await self._run(work, write=False, by_key=True)

    async def jobs(
        self, *, status: str | None = None, limit: int = 20, query: str | None = None, include_unsent: bool = False
    ) -> list[Job]:
        """Newest first; `query` matches words of the prompt, provider or execution id.

        Only jobs with an execution id, unless `include_unsent` (or `status` names one of these statuses):
        then also submissions whose answer is pending or was lost, which may be paid jobs. A refused one
        (submit_failed) bought nothing and is never listed.
        """

        sql, args = listing_query(self.tenant, status=status, limit=limit, query=query, include_unsent=include_unsent)

        def work(db: Connection) -> list[Job]:
            _expire_abandoned(db, self.tenant, time.time())
            return [job_from_row(row) for row in db.execute(sql, args).fetchall()]

        return await self._run(work, write=False)

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
        # from an index, then each job's few status changes from status_changes_job. (The outer query names
        # completed_at: PostgreSQL cannot use a result column in the WHERE of its own query.)
        query = (
            "SELECT created_at, completed_at FROM (SELECT j.id, j.created_at, (SELECT min(s.at) FROM "
            "status_changes s WHERE s.job_id = j.id AND s.status = 'completed') AS completed_at "
            f"FROM jobs j WHERE {' AND '.join(where)}) AS done WHERE completed_at >= created_at "
            "ORDER BY created_at DESC, id DESC LIMIT ?"
        )

        def work(db: Connection) -> list[float]:
            rows = db.execute(query, (*args, max(limit, 0))).fetchall()
            return [row["completed_at"] - row["created_at"] for row in rows]

        return await self._run(work, write=False)

    async def history(self, job_id: int) -> list[tuple[str, float, str | None]]:
        def work(db: Connection) -> list[tuple[str, float, str | None]]:
            rows = db.execute(
                "SELECT s.status, s.at, s.error FROM status_changes s JOIN jobs j ON j.id = s.job_id "
                "WHERE s.job_id = ? AND j.tenant = ? ORDER BY s.at, s.rowid",
                (job_id, self.tenant),
            ).fetchall()
            return [(row["status"], row["at"], row["error"]) for row in rows]

        return await self._run(work, write=False)

    # --- saving the video: one process at a time ------------------------------------------------------------

    async def claim_download(self, job_id: int, owner: str, lease: float, *, force: bool = False) -> bool:
        """Atomically give `owner` (a token per process and attempt) the right to save this job's video for
        `lease` seconds. False when the video is already saved (its file exists), another owner's lease has
        not run out, the job is unknown, or, unless `force` (the user asked), a failed save's back-off
        (download_retry_at) is still running. Claiming again as the same owner extends the lease."""

        def work(db: Connection) -> bool:
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

        return await self._run(work)

    async def renew_download(self, job_id: int, owner: str, lease: float) -> bool:
        """Extend `owner`'s claim by `lease` seconds from now; False if another owner has taken it over."""

        def work(db: Connection) -> bool:
            cursor = db.execute(
                "UPDATE jobs SET download_lease = ? WHERE id = ? AND tenant = ? AND download_owner = ?",
                (time.time() + lease, job_id, self.tenant, owner),
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

        tenant = self.tenant

        def work(db: Connection) -> Job:
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
            return job_from_row(_row(db, job_id, tenant))

        return await self._run(work)

    # --- MCP Tasks (tools/library/tasks.py) -------------------------------------------------------------------

    async def add_task(self, task: TaskRecord) -> None:
        """Record a task; once this returns, any replica finds it."""
        await self._run(lambda db: tasks.insert(db, self.tenant, task))

    async def task(self, task_id: str) -> TaskRecord | None:
        return await self._run(lambda db: tasks.find(db, self.tenant, task_id), write=False)

    async def task_page(self, since: float, after: tuple[float, str] | None, limit: int) -> list[TaskRecord]:
        """A page of this tenant's tasks, newest first (see tools/library/tasks.py `page`)."""
        return await self._run(lambda db: tasks.page(db, self.tenant, since, after, limit), write=False)

    async def cancel_task(self, task_id: str) -> TaskRecord | None:
        """Mark a task cancelled (the first cancel's time stays); None if this tenant has no such task."""

        def work(db: Connection) -> TaskRecord | None:
            tasks.cancel(db, self.tenant, task_id, time.time())
            return tasks.find(db, self.tenant, task_id)

        return await self._run(work)

    async def claim_task(self, task_id: str) -> dict[str, Any] | None:
        """Take a held call's arguments off its task, once (see tools/library/tasks.py `claim`)."""
        return await self._run(lambda db: tasks.claim(db, self.tenant, task_id))

    async def task_submitted(self, task_id: str, execution_ids: list[str], ended: dict[str, Any] | None) -> None:
        await self._run(lambda db: tasks.submitted(db, self.tenant, task_id, execution_ids, ended))

    # --- retired HeyGen APIs (tools/library/retired.py), the same for every tenant ------------------------------

    async def remember_retired(self, base_url: str, retirement: Retirement) -> None:
        await self._run(lambda db: retired.remember(db, base_url, retirement))

    async def retirements(self, base_url: str) -> list[Retirement]:
        return await self._run(lambda db: retired.known(db, base_url), write=False)


def _row(db: Connection, job_id: int, tenant: str) -> Row:
    """A job of this tenant that must be there (its id came from this view)."""
    row: Row | None = db.execute("SELECT * FROM jobs WHERE id = ? AND tenant = ?", (job_id, tenant)).fetchone()
    if row is None:
        raise Vanished(job_id)
    return row


def _by_execution_id(db: Connection, execution_id: str | None, tenant: str) -> Row | None:
    row: Row | None = db.execute(
        "SELECT * FROM jobs WHERE tenant = ? AND execution_id = ?", (tenant, execution_id)
    ).fetchone()
    return row


def _expire_abandoned(db: Connection, tenant: str, now: float) -> None:
    """Turn this tenant's submissions whose process can no longer answer into submit_uncertain (a read that
    finds one starts over as a write)."""
    rows = db.execute(
        "SELECT id, submit_owner, updated_at FROM jobs WHERE tenant = ? AND status = ?", (tenant, SUBMITTING)
    ).fetchall()
    lost = [row["id"] for row in rows if abandoned(row["submit_owner"], row["updated_at"], now)]
    if lost:
        need_write(db)
    for job_id in lost:
        _set_status(db, job_id, SUBMIT_UNCERTAIN, ABANDONED, now)


# What an adopted row learned from HeyGen, moved onto the submission it belongs to.
_FOLDED = (
    "execution_id",
    "session_id",
    "status",
    "heygen_status",
    "error",
    "video_url",
    "video_id",
    "asset_id",
    "local_path",
    "download_error",
    "download_attempts",
    "download_retry_at",
    "download_owner",
    "download_lease",
)


def _fold(db: Connection, adopted: Row, job_id: int) -> None:
    db.execute("UPDATE status_changes SET job_id = ? WHERE job_id = ?", (job_id, adopted["id"]))
    db.execute("DELETE FROM jobs WHERE id = ?", (adopted["id"],))
    db.execute(
        f"UPDATE jobs SET {', '.join(f'{column} = ?' for column in _FOLDED)}, updated_at = ? WHERE id = ?",
        (*(adopted[column] for column in _FOLDED), time.time(), job_id),
    )


def _adopt(db: Connection, execution: Execution, tenant: str) -> int:
    """A row for an execution we have no record of, so that it can be listed and followed."""
    now = time.time()
    job_id: int = db.execute(
        "INSERT INTO jobs (tenant, execution_id, session_id, prompt, status, created_at, updated_at) "
        "VALUES (?, ?, ?, '', ?, ?, ?) RETURNING id",
        (tenant, execution.execution_id, execution.session_id, execution.status, now, now),
    ).fetchone()["id"]
    return job_id


def _log_change(db: Connection, job_id: int, status: str, error: str | None, at: float) -> None:
    db.execute(
        "INSERT INTO status_changes (job_id, status, error, at) VALUES (?, ?, ?, ?)", (job_id, status, error, at)
    )


def _set_status(db: Connection, job_id: int, status: str, error: str | None, at: float) -> None:
    db.execute("UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?", (status, error, at, job_id))
    _log_change(db, job_id, status, error, at)


def _changes(before: Row, execution: Execution) -> bool:
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


def _apply(db: Connection, job_id: int, execution: Execution, tenant: str, *, unchanged_at: float | None = None) -> Job:
    before = _row(db, job_id, tenant)
    if not _changes(before, execution):
        # Nothing new (HeyGen forgets old executions, too; a completed record stays completed): not written.
        return job_from_row(before)
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
    return job_from_row(_row(db, job_id, tenant))


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


def listing_query(
    tenant: str, *, status: str | None, limit: int, query: str | None, include_unsent: bool
) -> tuple[str, tuple[Any, ...]]:
    """The SQL of Library.jobs and its parameters (benchmarks/list_videos.py times the same query raw)."""
    where: list[str] = ["tenant = ?", "execution_id IS NOT NULL"]
    args: list[Any] = [tenant]
    if include_unsent or status in (SUBMITTING, SUBMIT_UNCERTAIN):
        where[1] = "(execution_id IS NOT NULL OR status IN (?, ?))"
        args += [SUBMITTING, SUBMIT_UNCERTAIN]
    if status is not None:
        where.append("status = ?")
        args.append(status)
    for word in (query or "").split():
        # lower(): LIKE ignores case in SQLite (ASCII), not in PostgreSQL.
        where.append("(lower(prompt) LIKE lower(?) ESCAPE '\\' OR provider = ? OR execution_id = ?)")
        args += [f"%{_escape_like(word)}%", word, word]
    sql = f"SELECT * FROM jobs WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC LIMIT ?"
    return sql, (*args, limit)


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
