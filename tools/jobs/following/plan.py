"""The next-read plan: when each followed job's status is read next (shared by all its waiters), from the
estimate of renders like it, and how long a wait sleeps before that read or its next progress tick."""

from __future__ import annotations

import time
from typing import Final

import anyio

from heygen_video_mcp.tools.jobs.following.schedule import Estimate
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.status import UNFINISHED, Job

# Plans kept before forgetting those of jobs nobody follows; estimates are re-read from the library this often.
_PLAN_LIMIT: Final = 1000
_ESTIMATE_SECONDS: Final = 60.0
# A sleep may end a hair early: a read due within it counts as due, or the wake would be wasted.
_WAKE_SLACK: Final = 0.01
# A wait tells progress at least this often (seconds), between status reads as well as at them.
TICK: Final = 1.0


class ReadPlan:
    def __init__(self, library: Library, poll_interval: float) -> None:
        self._library = library
        self._poll_interval = poll_interval
        self._next_read: dict[str, float] = {}  # execution id -> anyio clock time its next read is due
        self._limit = _PLAN_LIMIT
        self.read_at: dict[str, float] = {}  # execution id -> unix time of its last status read here
        self._estimates = Estimates()

    async def plan(self, job: Job) -> None:
        """Schedule this job's next read from how long renders like it took."""
        assert job.execution_id is not None
        if job.status not in UNFINISHED:
            self.read_at.pop(job.execution_id, None)
            if self._next_read.pop(job.execution_id, None) is not None:  # it was followed here, and just ended:
                self._estimates.forget(job)  # one more render to learn from
            return
        if len(self._next_read) > self._limit:  # jobs nobody waits for any more are forgotten
            stale = anyio.current_time() - self._poll_interval * 60
            self._next_read = {key: at for key, at in self._next_read.items() if at > stale}
            self.read_at = {key: at for key, at in self.read_at.items() if key in self._next_read}
            self._limit = max(_PLAN_LIMIT, 2 * len(self._next_read))  # prune again only after growth
        elapsed = time.time() - job.created_at
        estimate = await self.estimate(job)
        self._next_read[job.execution_id] = anyio.current_time() + estimate.next_read(elapsed)

    def soon(self, execution_id: str) -> None:
        """After a read that failed for a reason that says nothing about the render: try again soon."""
        self._next_read[execution_id] = anyio.current_time() + self._poll_interval / 4

    async def estimate(self, job: Job) -> Estimate:
        """What earlier renders of this provider and aspect ratio say, from the library (cached a minute)."""
        return await self._estimates.of(self._library, job, self._poll_interval)

    def due(self, execution_id: str) -> bool:
        return self._next_read.get(execution_id, 0.0) <= anyio.current_time() + _WAKE_SLACK

    def sleep_for(self, execution_id: str) -> float:
        """How long a wait sleeps: until the next read, or a tick on to tell progress (the render's clock
        against the estimate, with the last status read), so a bar moves between reads without asking HeyGen."""
        return min(max(self._next_read.get(execution_id, 0.0) - anyio.current_time(), 0.0), TICK)


class Estimates:
    """What earlier renders of each provider and aspect ratio say, read from the library at most once a minute."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str | None, str | None], tuple[Estimate, float]] = {}

    async def of(self, library: Library, job: Job, cadence: float) -> Estimate:
        key = (job.provider, job.aspect_ratio)
        cached = self._kept.get(key)
        now = anyio.current_time()
        if cached is None or now - cached[1] > _ESTIMATE_SECONDS:
            durations = await library.render_durations(job.provider, job.aspect_ratio)
            label = " ".join(filter(None, key)) or "HeyGen"
            cached = self._kept[key] = (Estimate.for_provider(durations, label, cadence, job.provider), now)
        return cached[0]

    def forget(self, job: Job) -> None:
        self._kept.pop((job.provider, job.aspect_ratio), None)
