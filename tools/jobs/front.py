"""VideoJobs: one tenant's job logic, a thin front over submitting, following and saving. No MCP in here,
so a CLI or an HTTP front end can drive the same code. Work that outlives a call (a submission on the wire,
a save) runs in the task group the server's lifespan owns."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import TaskGroup

from heygen_video_mcp.tools import deadline, errors
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.jobs.following.reads import Following
from heygen_video_mcp.tools.jobs.retirements import Retirements
from heygen_video_mcp.tools.jobs.saving import Saving, saved
from heygen_video_mcp.tools.jobs.settings import JobSettings, Outcome, Progress, SaveProgress
from heygen_video_mcp.tools.jobs.submitting import Submitting
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.request import VideoRequest, checked_execution_id
from heygen_video_mcp.tools.status import UNFINISHED, Job

logger = logging.getLogger(__name__)

# list_videos refreshes at most this many unfinished jobs, this many at once, skipping any this server read
# in the last few seconds.
_REFRESH_LIMIT: Final = 10
_REFRESH_AT_ONCE: Final = 4
_REFRESH_FRESH_SECONDS: Final = 5.0
# Ids of settled jobs remembered per tenant (a few hundred KB at most); an older one is read once more.
_SETTLED_KEPT: Final = 10_000


def _settled(job: Job) -> bool:
    return job.status == "failed" or (job.status == "completed" and saved(job))


class VideoJobs:
    def __init__(
        self,
        client: HeyGenClient,
        library: Library,
        settings: JobSettings,
        tasks: TaskGroup,
        *,
        on_bytes: SaveProgress | None = None,
    ) -> None:
        self.client = client
        self.library = library
        self.settings = settings
        self.retirements = Retirements(client, library)
        self._submitting = Submitting(client, library, settings, tasks, self.retirements)
        pending, learn = self._submitting.record_pending, self.retirements.learn
        self._following = Following(client, library, settings, tasks, record_pending=pending, learn=learn)
        self._saving = Saving(client, library, settings, tasks, self._following, on_bytes=on_bytes)
        self._settled: dict[str, None] = {}  # ids of jobs seen settled, oldest first

    @property
    def busy(self) -> bool:
        """Whether work this job logic started still runs here (a submission, a status read, a save)."""
        return self._submitting.busy or self._following.busy or self._saving.busy

    async def submit(self, request: VideoRequest, *, allow_duplicate: bool = False) -> Outcome:
        outcome = await self._submitting.submit(request, allow_duplicate=allow_duplicate)
        if not outcome.duplicate and outcome.job.execution_id is not None:
            try:
                await self._following.plan.plan(outcome.job)
            except errors.LibraryError as exc:  # the paid id is the answer; the plan can wait
                logger.info("Could not plan the first read of %s: %s", outcome.job.execution_id, exc)
        return outcome

    async def aclose(self, grace: float) -> None:
        """Let submissions already on the wire record their answers, for at most `grace` seconds."""
        await self._submitting.aclose(grace)

    async def check(self, execution_id: str) -> Job:
        """One status read, recorded; a completed video starts saving. A job seen settled (failed, or
        completed with its video saved) is answered from the library: HeyGen's answer can no longer change."""
        execution_id = checked_execution_id(execution_id)
        if execution_id in self._settled:
            job = await self.library.get(execution_id=execution_id)
            if job is not None and _settled(job):
                return job
            del self._settled[execution_id]  # the saved file is gone, say: ask HeyGen (and save) again
        job = await self._saving.finish(await self._following.check(execution_id))
        if job.execution_id == execution_id and _settled(job):
            if len(self._settled) >= _SETTLED_KEPT:
                del self._settled[next(iter(self._settled))]  # the oldest
            self._settled[execution_id] = None
        return job

    async def wait(self, execution_id: str, budget: float, progress: Progress) -> Outcome:
        """Follow a job until it ends or `budget` seconds pass; then say where it stands, keeping the id."""
        job, waited = await self._following.wait(checked_execution_id(execution_id), budget, progress)
        return Outcome(await self._saving.finish(job), waited=waited)

    async def stop(self, execution_id: str) -> Job:
        """Stop a Video Agent job's session (a cancel, or an MCP task's), then read where it stands."""
        return await self._following.stop(checked_execution_id(execution_id))

    def saving(self, job: Job) -> bool:
        """Whether the video of a finished job is being (or will automatically be) saved."""
        return self._saving.saving(job)

    async def save(self, execution_id: str, directory: Path | None = None, filename: str | None = None) -> Job:
        """Save a completed video on request, into `directory` (default: the output folder). Returns the job
        with its new path, or, when the save outlasts the call, as it is (the save goes on)."""
        return await self._saving.save(checked_execution_id(execution_id), directory, filename)

    async def list(self, *, status: str | None = None, limit: int = 20, query: str | None = None) -> list[Job]:
        """Jobs from the library, newest first (with submissions whose answer is pending or was lost);
        unfinished ones are re-checked with HeyGen, a few at a time, while the call's time allows."""
        jobs = await self.library.jobs(status=status, limit=limit, query=query, include_unsent=True)
        now, read_at = time.time(), self._following.plan.read_at
        stale = [
            job
            for job in jobs
            if job.execution_id
            and now - read_at.get(job.execution_id, 0.0) > _REFRESH_FRESH_SECONDS  # not read moments ago
            and (job.status in UNFINISHED or (self.settings.download and job.status == "completed" and not saved(job)))
        ][:_REFRESH_LIMIT]
        if stale and self.client.has_api_key:
            limiter = anyio.Semaphore(_REFRESH_AT_ONCE)

            async def refresh(execution_id: str) -> None:
                async with limiter:
                    try:
                        await self.check(execution_id)
                    except errors.HeyGenError as exc:
                        logger.info("Refreshing %s failed: %s", execution_id, exc)

            with deadline.soft(2 * deadline.MARGIN):
                async with anyio.create_task_group() as group:
                    for job in stale:
                        assert job.execution_id is not None
                        group.start_soon(refresh, job.execution_id)
            jobs = await self.library.jobs(status=status, limit=limit, query=query, include_unsent=True)
        return jobs
