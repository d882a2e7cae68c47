"""Reading a job's status: once for every caller that wants it at the moment, paced for the whole process,
and followed within a wait's budget as the plan says."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Final

import anyio
from anyio.abc import TaskGroup

from heygen_video_mcp.tools import deadline, errors, routes
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.jobs.following.pacer import Pacer
from heygen_video_mcp.tools.jobs.following.plan import TICK, ReadPlan
from heygen_video_mcp.tools.jobs.settings import JobSettings, Progress
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.status import UNFINISHED, Execution, Job
from heygen_video_mcp.tools.tenancy import Ownership
from heygen_video_mcp.tools.videoagent import Sessions

logger = logging.getLogger(__name__)

# Failures of one status read that say nothing about the render: a wait keeps going through them.
_TRANSIENT: Final = (errors.APIConnectionFailed, errors.ServerFault, errors.RateLimited, errors.UnexpectedResponse)
# Video Agent reads due within this share of a cadence (1 s at 10 s) share one batch read (tools/videobatch.py).
_BATCH_WINDOW_SHARE: Final = 0.1
# A read its last caller left is kept this long for one who asks again at once (the next wait_for_video).
_UNWANTED_GRACE: Final = 1.0


@dataclass
class _Read:
    """One status read in flight; every caller that wants the job's status meanwhile waits for it. When the
    last of them has left for _UNWANTED_GRACE seconds, the read (with its retries) is cancelled: nobody
    follows a job nobody waits on."""

    done: anyio.Event = field(default_factory=anyio.Event)
    job: Job | None = None
    error: Exception | None = None
    waiters: int = 0
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    # The deadline of the call that started it: a Retry-After pause that would outlast it is not waited
    # out in the background (the caller would only see HeyGen "not answering"); the 429 is the answer.
    deadline: float = math.inf

    @property
    def cut_off(self) -> bool:
        """Ended without an answer: cancelled (read in a caller's task that left, or dropped as unwanted)."""
        return self.done.is_set() and self.job is None and self.error is None


class Following:
    def __init__(
        self,
        client: HeyGenClient,
        library: Library,
        settings: JobSettings,
        tasks: TaskGroup,
        *,
        record_pending: Callable[[str], Awaitable[bool]],
        learn: Callable[[errors.HeyGenError], Awaitable[None]],
    ) -> None:
        self._client = client
        self._library = library
        self._settings = settings
        self._tasks = tasks
        # A paid id the library has not recorded yet is recorded before its read, so it attaches to its row.
        self._record_pending = record_pending
        self._learn = learn  # what a failed read says of HeyGen itself (an API retired: tools/jobs/retirements.py)
        self._reads: dict[str, _Read] = {}  # removed when the read ends
        self.plan = ReadPlan(library, settings.poll_interval)
        self._ownership = Ownership(library)
        self._pacer = Pacer(settings.reads_per_second)
        # hook (tools/videoagent.py): every status read goes through here; session ids are followed there
        window = settings.poll_interval * _BATCH_WINDOW_SHARE if settings.batch_status_reads else None
        self.sessions = Sessions(client, library, settings.agent_thinking_seconds, window)

    @property
    def busy(self) -> bool:
        return bool(self._reads)

    async def check(self, execution_id: str) -> Job:
        """One status read, recorded (a Video Agent video's bare id is followed by its job's id)."""
        job = await self.read(execution_id)
        if job.status == "not_found" and (alias := await self._alias(execution_id)) is not None:
            assert alias.execution_id is not None
            job = await self.read(alias.execution_id)
        return job

    async def known(self, execution_id: str) -> tuple[str, Job | None]:
        """The library's job for an id as given (or a Video Agent video's bare id), with the id to read it by."""
        job = await self._library.get(execution_id=execution_id) or await self._alias(execution_id)
        return (job.execution_id if job is not None and job.execution_id else execution_id), job

    async def _alias(self, execution_id: str) -> Job | None:
        """The Video Agent job whose bare video id (its video_id field) was given for its id, if the library
        knows one; looked for only where the id as given found nothing, so a known id costs nothing more."""
        if routes.backend_of(execution_id) == "video_agent":
            return None
        return await self._library.get(execution_id=routes.job_id("video_agent", execution_id))

    async def read(self, execution_id: str, *, answer_by_deadline: bool = True) -> Job:
        """Read a job's status once for every caller that wants it now. A caller that must answer by its
        deadline and finds no read in flight reads in its own task: others may join it, and if it leaves
        before the answer (its deadline, or its client's cancel), they start a read of their own. Otherwise
        the read runs in the background, so a caller that leaves does not cut it off for the others. A caller
        that must answer by its deadline gives up a moment before it; one inside a wait lets the wait's own
        budget end it."""
        while True:
            pending = self._reads.get(execution_id)
            if pending is None or pending.scope.cancel_called:  # none in flight, or one its callers left
                pending = self._reads[execution_id] = _Read(deadline=anyio.current_effective_deadline())
                if answer_by_deadline:
                    # check_status's usual case: no hand-off to a task and back, two turns of the event loop
                    # fewer on each call (the one structural cost a status read had over a raw GET).
                    pending.waiters += 1  # joiners who leave never drop it while it is read here
                    try:
                        with deadline.soft():
                            await self._run_read(execution_id, pending)
                    finally:
                        pending.waiters -= 1
                    return self._outcome(execution_id, pending)
                self._tasks.start_soon(self._run_read, execution_id, pending)
            pending.waiters += 1
            try:
                with deadline.soft() if answer_by_deadline else anyio.CancelScope():
                    await pending.done.wait()
            finally:
                pending.waiters -= 1
                if not pending.waiters and not pending.done.is_set():
                    self._tasks.start_soon(self._drop_if_unwanted, pending)
            if not pending.done.is_set() or not pending.cut_off:
                return self._outcome(execution_id, pending)
            # The caller it was read for left before the answer: read again, for this caller.

    @staticmethod
    def _outcome(execution_id: str, pending: _Read) -> Job:
        if not pending.done.is_set() or pending.cut_off:
            raise errors.APITimedOut(
                f"HeyGen did not answer in time. The job is not affected: ask again about execution_id "
                f"{execution_id!r} in a moment."
            )
        if pending.error is not None:
            raise pending.error
        assert pending.job is not None
        return pending.job

    async def _drop_if_unwanted(self, pending: _Read) -> None:
        await anyio.sleep(_UNWANTED_GRACE)
        if not pending.waiters:
            pending.scope.cancel()

    async def _run_read(self, execution_id: str, pending: _Read) -> None:
        try:
            with pending.scope:
                pending.job = await self._observe(execution_id, self.plan.read_at.get(execution_id), pending.deadline)
                await self.plan.plan(pending.job)
        except errors.HeyGenError as exc:
            pending.error = exc
            await self._learn(exc)
        except Exception as exc:
            logger.exception("Reading the status of %s failed unexpectedly", execution_id)
            pending.error = exc
        finally:
            if self._reads.get(execution_id) is pending:
                del self._reads[execution_id]
            pending.done.set()

    async def _observe(self, execution_id: str, unchanged_at: float | None = None, until: float = math.inf) -> Job:
        await self._record_pending(execution_id)
        if await self._ownership.foreign(execution_id):
            # Another tenant's job answers as an unknown id would: HeyGen is not asked, nothing is adopted.
            return await self._library.observed(Execution(execution_id, "not_found", "not_found"))
        await self._pacer.take()
        execution = await self.sessions.read(execution_id, until)
        self.plan.read_at[execution_id] = time.time()
        if execution.status == "not_found":
            known = await self._library.get(execution_id=execution_id)
            if (
                known is not None
                and known.status in UNFINISHED
                and time.time() - known.created_at < self._settings.not_found_grace
            ):
                # HeyGen's status read can lag its submission; the job stays as it was (the raw answer is kept).
                execution = replace(execution, status=known.status)  # type: ignore[arg-type]
        job = await self._library.observed(execution, unchanged_at=unchanged_at)
        if job.id:  # recorded, so under this tenant
            self._ownership.learn(execution_id)
        return job

    async def stop(self, execution_id: str) -> Job:
        """Stop a Video Agent job's session (a cancel, or an MCP task's), then read where it stands."""
        execution_id, _ = await self.known(execution_id)
        await self.sessions.stop(execution_id)
        return await self.read(execution_id)

    async def _heard_back(self, execution_id: str, job: Job) -> Job:
        """A job whose completion HeyGen will call back (server/http.py), at each tick of a wait: the library's
        newest word on it, one local read that asks HeyGen nothing. Ended (read on another replica): that.
        Called back since this process last read it: its read is due now, wherever the callback landed."""
        fresh = await self._library.get(job_id=job.id) or job
        if fresh.status in UNFINISHED and (fresh.called_back_at or 0.0) > self.plan.read_at.get(execution_id, 0.0):
            self.plan.now(execution_id)
        return fresh

    async def wait(self, execution_id: str, budget: float, progress: Progress) -> tuple[Job, float]:
        """Follow a job until it ends or `budget` seconds pass, reading its status when a read is due and
        telling progress at each read and every tick in between; then the job as it stands, and the time
        waited. The budget counts from this call, so time spent before the loop (finding the job: under
        load, queued behind thousands of calls) shortens the loop instead of lengthening the call."""
        start = anyio.current_time()
        execution_id, job = await self.known(execution_id)
        told = False
        with anyio.CancelScope(deadline=start + budget):
            while True:
                before = job
                if job is not None and job.callback_id is not None and job.status in UNFINISHED:
                    job = await self._heard_back(execution_id, job)
                if job is None or (job.status in UNFINISHED and self.plan.due(execution_id)):
                    try:
                        job = await self.read(execution_id, answer_by_deadline=False)
                    except _TRANSIENT as exc:
                        if job is None:
                            raise
                        # The render goes on whatever one read met: try again soon, still within this call.
                        logger.info("Reading %s failed (%s); trying again", execution_id, exc)
                        self.plan.soon(execution_id)
                # A bare tick in the wait's last second tells nothing its answer will not say a moment later;
                # with 2,000 waits ending together those ticks would only crowd the client reading the answers.
                if not told or job is not before or anyio.current_time() + TICK < start + budget:
                    elapsed = max(time.time() - job.created_at, 0.0)
                    estimate = await self.plan.estimate(job)
                    total, message = estimate.total(elapsed), estimate.describe(job.status, elapsed)
                    await progress(job.status, elapsed, total, message)
                    told = True
                if job.status not in UNFINISHED:
                    break
                await anyio.sleep(self.plan.sleep_for(execution_id))
        waited = anyio.current_time() - start
        if job is None:  # the first read outlasted the whole budget
            raise errors.APITimedOut(
                f"HeyGen did not answer within {budget:.0f}s.",
                advice=f"The job is not affected: call wait_for_video again with execution_id {execution_id!r}.",
            )
        return job, waited
