"""Renders followed as MCP Tasks, without MCP: a task is a tool call's jobs, recorded in the library before
the client hears of it. Asking about a task moves its render on: a status read is made when the learned
schedule says one is due (the same shared, recorded read as check_status), and a finished video starts saving
as it does for wait_for_video. So a client that only polls the task still gets its video saved.

What is kept here, per process, is only what makes answers better, never what makes them right: when each
job is next due a read, and how far each save has got. Another replica, or this one after a restart, starts
with a read."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Collection
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final, Literal

import anyio

from heygen_video_mcp.tools import errors, price, routes
from heygen_video_mcp.tools.jobs.following.taskreads import TaskReads
from heygen_video_mcp.tools.library import TaskRecord
from heygen_video_mcp.tools.status import ENDED, UNFINISHED, Job

if TYPE_CHECKING:
    from heygen_video_mcp.tools.jobs.front import VideoJobs

logger = logging.getLogger(__name__)

# A task outlives a Video Agent render (up to about 10 minutes) and the download many times over.
TTL_SECONDS: Final = 24 * 3600.0
# While a video is saving, or its status could not be read, the client is asked back this soon.
SAVING_POLL: Final = 1.0
# Save progress kept before the oldest is forgotten (it is only a hint).
_KEPT: Final = 10_000

# A task held for the user's consent is asked about again this soon (a person is answering).
HELD_POLL: Final = 2.0

TaskStatus = Literal["working", "input_required", "completed", "cancelled"]


@dataclass(frozen=True)
class TaskState:
    """Where a task stands: its status, what it is doing in words, when to ask again, and its jobs as they
    are now (each, once the task is completed, as wait_for_video would end with it)."""

    record: TaskRecord
    status: TaskStatus
    message: str
    poll_seconds: float
    jobs: tuple[Job, ...]
    # Whether each job's video is being saved (as VideoJobs.saving says), in the order of `jobs`.
    saving: tuple[bool, ...]


class Tasks:
    """The tasks of every tenant in this process; each call takes the caller's own VideoJobs."""

    def __init__(self) -> None:
        self._reads = TaskReads()  # when each job is next read (tools/jobs/following/taskreads.py)
        self._saves: dict[str, tuple[int, int | None]] = {}  # execution id -> bytes saved, size if known
        self._kicked: set[str] = set()  # completed jobs whose save this process has started (by a read)

    def saved_bytes(self, execution_id: str, done: int, total: int | None) -> None:
        """VideoJobs' on_bytes: how far a save has got, for "saving, 60%"."""
        if len(self._saves) >= _KEPT:
            self._saves.clear()
        self._saves[execution_id] = (done, total)

    async def create(
        self, jobs: VideoJobs, tool: str, execution_ids: list[str], *, ended: dict[str, Any] | None = None
    ) -> TaskState:
        """A new task following these jobs, in the library (so any replica knows it) before it is returned.
        `ended`: instead, the tool's result of a call that started no job (a task that is over at once)."""
        record = TaskRecord(secrets.token_urlsafe(24), tool, tuple(execution_ids), time.time(), ended=ended)
        await jobs.library.add_task(record)
        return await self._state(jobs, record, read=False)

    async def hold(self, jobs: VideoJobs, tool: str, arguments: dict[str, Any]) -> TaskState:
        """A new task that waits for the user's consent before this call is sent to HeyGen: only the call's
        arguments are recorded (in the library, so any replica can send them once accepted)."""
        record = TaskRecord(secrets.token_urlsafe(24), tool, (), time.time(), pending=arguments)
        await jobs.library.add_task(record)
        return await self._state(jobs, record, read=False)

    async def claim(self, jobs: VideoJobs, task_id: str) -> dict[str, Any] | None:
        """The held call's arguments, for the one answer that sends them; None if none is held any more."""
        return await jobs.library.claim_task(task_id)

    async def submitted(
        self, jobs: VideoJobs, task_id: str, execution_ids: list[str], ended: dict[str, Any] | None
    ) -> None:
        """An accepted call was sent: the task follows what it started (or, if nothing, ends with its result)."""
        await jobs.library.task_submitted(task_id, execution_ids, ended)

    async def get(self, jobs: VideoJobs, task_id: str) -> TaskState | None:
        """The task as it is now, reading HeyGen for a job when a read is due; None when this tenant has no
        such task (another tenant's id included) or it has expired."""
        record = await self._record(jobs, task_id)
        return None if record is None else await self._state(jobs, record, read=record.cancelled_at is None)

    async def cancel(self, jobs: VideoJobs, task_id: str) -> TaskState | None:
        """Stop following the task's jobs, and stop the Video Agent sessions among them at HeyGen. HeyGen's
        executions API cannot stop a render, so those jobs go on and stay in the library."""
        record = await self._record(jobs, task_id)
        if record is None:
            return None
        state = await self._state(jobs, record, read=False)
        if state.status not in ("working", "input_required"):
            return state  # already over: a cancel changes nothing
        cancelled = await jobs.library.cancel_task(task_id)
        assert cancelled is not None
        if state.status == "input_required":  # nothing was sent: nothing to stop
            return await self._state(jobs, cancelled, read=False)
        not_stopped: list[str] = []
        for job in state.jobs:
            assert job.execution_id is not None
            self._reads.forget(job.execution_id)
            if routes.backend_of(job.execution_id) == "video_agent" and job.status in UNFINISHED:
                try:
                    await jobs.stop(job.execution_id)
                except errors.HeyGenError as exc:  # the task is cancelled all the same; the words say so
                    logger.warning("Could not stop the Video Agent session of %s: %s", job.execution_id, exc)
                    not_stopped.append(job.execution_id)
        after = await self._state(jobs, cancelled, read=False)
        return replace(after, message=_cancelled_words(list(after.jobs), not_stopped))

    async def page(self, jobs: VideoJobs, after: tuple[float, str] | None, limit: int) -> list[TaskState]:
        """A page of this tenant's live tasks, newest first, as the library has them (no reads of HeyGen)."""
        records = await jobs.library.task_page(time.time() - TTL_SECONDS, after, limit)
        return [await self._state(jobs, record, read=False) for record in records]

    async def _record(self, jobs: VideoJobs, task_id: str) -> TaskRecord | None:
        record = await jobs.library.task(task_id)
        if record is None or time.time() - record.created_at > TTL_SECONDS:
            return None
        return record

    async def _state(self, jobs: VideoJobs, record: TaskRecord, *, read: bool) -> TaskState:
        if record.ended is not None:
            return TaskState(record, "completed", _ended_words(record.ended), 0.0, (), ())
        if not record.execution_ids:  # held for consent, declined, or being sent right now
            if record.cancelled_at is not None:
                return TaskState(record, "cancelled", _NOTHING_SENT, 0.0, (), ())
            if record.pending is not None:
                return TaskState(record, "input_required", held_words(record), HELD_POLL, (), ())
            return TaskState(record, "working", "accepted; sending it to HeyGen", SAVING_POLL, (), ())
        found: list[Job] = []
        for execution_id in record.execution_ids:
            found.append(await self._job(jobs, execution_id, read=read))
        saving = tuple(jobs.saving(job) and not job.local_path for job in found)
        if record.cancelled_at is not None:
            return TaskState(record, "cancelled", _cancelled_words(found), 0.0, tuple(found), saving)
        busy = [(job, save) for job, save in zip(found, saving, strict=True) if not _ended(job, save)]
        if not busy:
            return TaskState(record, "completed", _completed_words(found), 0.0, tuple(found), saving)
        words: list[str] = []
        poll = TTL_SECONDS
        for job, save in busy:
            assert job.execution_id is not None
            if save:
                words.append(self._saving_words(job.execution_id))
                poll = min(poll, SAVING_POLL)
                continue
            elapsed = max(time.time() - job.created_at, 0.0)
            estimate = await self._reads.estimate(jobs.library, job, jobs.settings.poll_interval)
            words.append(estimate.describe(job.status, elapsed))
            due = self._reads.next_at(job.execution_id)
            poll = min(poll, SAVING_POLL if due is None else max(due - anyio.current_time(), SAVING_POLL))
        prefix = [f"{len(busy)} of {len(found)} videos not ready"] if len(found) > 1 else []
        return TaskState(record, "working", "; ".join(prefix + words), poll, tuple(found), saving)

    async def _job(self, jobs: VideoJobs, execution_id: str, *, read: bool) -> Job:
        """The job as the library has it, read from HeyGen first when a read is due (or, for a finished
        video this process has not started saving, once, which starts the save as wait_for_video would)."""
        job = await jobs.library.get(execution_id=execution_id)
        unsaved = job is not None and jobs.saving(job) and not job.local_path and execution_id not in self._kicked
        if read and (self._reads.due(job, execution_id) or unsaved):
            try:
                job = await jobs.check(execution_id)
            except errors.HeyGenError as exc:  # the render goes on whatever one read met; the next poll retries
                logger.info("Reading %s for its task failed: %s", execution_id, exc)
                self._reads.retry(execution_id, SAVING_POLL)
            else:
                await self._reads.plan(jobs.library, job, jobs.settings.poll_interval)
                self._started_saving(job)
        if job is None:  # never recorded here (a lost library row): say so as check_status would
            job = Job(0, execution_id, "", "not_found", time.time(), time.time(), error="The library has no record.")
        return job

    def _started_saving(self, job: Job) -> None:
        """A completed job read here has had its save started by that read (as wait_for_video's would)."""
        if job.status == "completed" and job.execution_id is not None:
            if len(self._kicked) >= _KEPT:
                self._kicked.clear()
            self._kicked.add(job.execution_id)

    def _saving_words(self, execution_id: str) -> str:
        done, total = self._saves.get(execution_id, (0, None))
        if total:
            return f"saving, {min(100 * done // total, 99)}%"
        return f"saving, {done / 1e6:.1f} MB so far" if done else "saving"


_NOTHING_SENT: Final = (
    "Cancelled before anything was sent to HeyGen (the user declined, or the task was cancelled while it waited "
    "for the user): nothing was sent to HeyGen and nothing was spent."
)


def held_words(record: TaskRecord) -> str:
    """What a held task asks the user: the estimate, and that nothing is sent until they accept."""
    estimate = price.estimate(record.tool, record.pending or {})
    cost = estimate.words if estimate else "a cost above the confirmation limit"
    videos = "these videos" if record.tool == "generate_videos" else "this video"
    return (
        f"Waiting for the user to confirm the cost of {videos} ({cost}); nothing has been sent to HeyGen yet, and "
        "nothing is until they accept."
    )


def _ended(job: Job, saving: bool) -> bool:
    return job.status in ENDED and not saving


def _ended_words(result: dict[str, Any]) -> str:
    """An error result's own words (ErrorResult's message and next step), or, for a batch, its summary."""
    data = result.get("structuredContent") or {}
    words = " ".join(str(data[key]) for key in ("message", "next_step") if data.get(key))
    return f"ended at its submission: {words or 'nothing was started'}"


def _completed_words(found: list[Job]) -> str:
    failed = sum(job.status != "completed" for job in found)
    if len(found) == 1:
        return "completed" if not failed else f"ended: {found[0].status}"
    return f"{len(found) - failed} of {len(found)} videos completed"


def _cancelled_words(found: list[Job], not_stopped: Collection[str] = ()) -> str:
    """A cancelled task's words: Video Agent sessions are stopped at HeyGen when it is cancelled (unless
    `not_stopped` says that failed); renders of the executions API cannot be stopped, and go on."""
    stopped = [
        job.execution_id
        for job in found
        if job.execution_id
        and routes.backend_of(job.execution_id) == "video_agent"
        and job.execution_id not in not_stopped
    ]
    going = [job.execution_id for job in found if job.execution_id not in stopped]
    words = ["Cancelled: this task no longer follows the render, and nothing more is read for it."]
    if stopped:
        words.append(f"HeyGen's Video Agent was told to stop {', '.join(repr(i) for i in stopped)}.")
    if going:
        words.append(
            "HeyGen cannot stop a render of its executions API (or a session it would not stop) once it has "
            "started, so it may still finish (it is paid for either way); the job stays in the library, and "
            f"check_status or download_video with execution_id {', '.join(repr(i) for i in going)} still fetches "
            "the video."
        )
    return " ".join(words)
