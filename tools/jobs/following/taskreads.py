"""When each job an MCP task follows is next read (tools/tasks.py): a task's poll reads HeyGen only when this
says a read is due. Kept per process, as a hint: another replica, or this one after a restart, starts with a
read."""

from __future__ import annotations

import time
from typing import Final

import anyio

from heygen_video_mcp.tools.jobs.following.plan import Estimates
from heygen_video_mcp.tools.jobs.following.schedule import Estimate
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.status import UNFINISHED, Job

# Plans kept before the oldest are forgotten (they are only hints).
_KEPT: Final = 10_000


class TaskReads:
    def __init__(self) -> None:
        self._next_read: dict[str, float] = {}  # execution id -> anyio clock time its next read is due
        self._estimates = Estimates()

    def due(self, job: Job | None, execution_id: str) -> bool:
        """Whether a task's poll should read this job now: never read here, or unfinished and due."""
        return job is None or (
            job.status in UNFINISHED and self._next_read.get(execution_id, 0.0) <= anyio.current_time()
        )

    def next_at(self, execution_id: str) -> float | None:
        """The anyio clock time the job's next read is due, if one is planned here."""
        return self._next_read.get(execution_id)

    def retry(self, execution_id: str, seconds: float) -> None:
        """After a read that failed for a reason that says nothing about the render: read again this soon."""
        self._next_read[execution_id] = anyio.current_time() + seconds

    def forget(self, execution_id: str) -> None:
        self._next_read.pop(execution_id, None)

    async def plan(self, library: Library, job: Job, cadence: float) -> None:
        """Plan the job's next read from how long renders like it took; an ended job needs none."""
        assert job.execution_id is not None
        if len(self._next_read) >= _KEPT:
            self._next_read.clear()
        if job.status not in UNFINISHED:
            self._next_read.pop(job.execution_id, None)
            return
        elapsed = max(time.time() - job.created_at, 0.0)
        estimate = await self.estimate(library, job, cadence)
        self._next_read[job.execution_id] = anyio.current_time() + estimate.next_read(elapsed)

    async def estimate(self, library: Library, job: Job, cadence: float) -> Estimate:
        """What earlier renders of this provider and aspect ratio say (as wait_for_video's), cached a minute."""
        return await self._estimates.of(library, job, cadence)
