"""The job logic: submit once, follow, wait within a budget, keep the video. No MCP in here, so a CLI or
an HTTP front end can drive the same code."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import anyio

from tools import errors
from tools.client import TERMINAL, HeyGenClient
from tools.download import clean_filename, default_filename, download
from tools.library import SUBMIT_FAILED, SUBMIT_UNCERTAIN, SUBMITTING, UNFINISHED, Job, Library
from tools.request import VideoRequest, checked_execution_id

logger = logging.getLogger(__name__)

Progress = Callable[[str, float], Awaitable[None]]
"""Called after every poll with the status and the seconds waited so far."""

# How often a call that found an identical request in flight looks for its execution id.
_IN_FLIGHT_POLL: Final = 0.1
# list_videos refreshes at most this many unfinished jobs, within this many seconds.
_REFRESH_LIMIT: Final = 10
_REFRESH_SECONDS: Final = 15.0


@dataclass(frozen=True)
class JobSettings:
    poll_interval: float = 10.0
    duplicate_window: float = 600.0
    download: bool = True
    output_dir: Path = Path("HeyGen")
    # Longest a duplicate call waits for the identical call in flight to get its execution id.
    in_flight_wait: float = 120.0


@dataclass(frozen=True)
class Outcome:
    job: Job
    duplicate: bool = False
    waited: float = 0.0


class VideoJobs:
    def __init__(self, client: HeyGenClient, library: Library, settings: JobSettings) -> None:
        self.client = client
        self.library = library
        self.settings = settings
        self._download_locks: dict[str, anyio.Lock] = {}

    async def submit(self, request: VideoRequest, *, allow_duplicate: bool = False) -> Outcome:
        if not self.client.has_api_key:
            raise errors.MissingApiKey()
        deadline = time.monotonic() + self.settings.in_flight_wait
        while True:
            reservation = await self.library.reserve(
                request, window=self.settings.duplicate_window, allow_duplicate=allow_duplicate
            )
            if not reservation.existing:
                return Outcome(await self._send(reservation.job.id, request))
            job = reservation.job
            # An identical call is in flight (maybe in another process): wait for its answer.
            while job.status == SUBMITTING and time.monotonic() < deadline:
                await anyio.sleep(_IN_FLIGHT_POLL)
                job = await self.library.get(job_id=job.id) or job
            if job.status == SUBMIT_FAILED:
                continue  # it failed, so nothing was bought: this call may try
            if job.status in (SUBMITTING, SUBMIT_UNCERTAIN):
                raise errors.DuplicateUncertain(
                    "An identical request was sent at "
                    f"{time.strftime('%H:%M:%S', time.localtime(job.created_at))} and HeyGen's answer was lost, "
                    "so it may already be rendering (and paid for). Check your HeyGen dashboard; to submit "
                    "anyway, call generate_video again with allow_duplicate=true."
                )
            return Outcome(job, duplicate=True)

    async def _send(self, job_id: int, request: VideoRequest) -> Job:
        try:
            execution = await self.client.create_execution(request.api_input())
        except errors.HeyGenError as exc:
            await self.library.submit_failed(job_id, str(exc), uncertain=exc.maybe_accepted)
            raise
        except BaseException:
            # Cancelled (the caller went away) or crashed mid-request: HeyGen may have the job.
            with anyio.CancelScope(shield=True):
                await self.library.submit_failed(job_id, "the request was interrupted", uncertain=True)
            raise
        return await self.library.submitted(job_id, execution)

    async def check(self, execution_id: str) -> Job:
        """One status read, recorded; a completed video is saved."""
        execution = await self.client.get_execution(checked_execution_id(execution_id))
        return await self._finish(await self.library.observed(execution))

    async def wait(self, execution_id: str, budget: float, progress: Progress) -> Outcome:
        """Poll until the job ends or `budget` seconds pass; then say so, keeping the id."""
        execution_id = checked_execution_id(execution_id)
        start = time.monotonic()
        job: Job | None = None
        while True:
            remaining = budget - (time.monotonic() - start)
            with anyio.move_on_after(max(remaining, 0.5)):
                execution = await self.client.get_execution(execution_id)
                job = await self.library.observed(execution)
            waited = time.monotonic() - start
            if job is None:  # the first read outlasted the whole budget
                job = await self.library.get(execution_id=execution_id)
                if job is None:
                    raise errors.APITimedOut(
                        f"HeyGen did not answer within {budget:.0f}s. The job is not affected: call "
                        f"wait_for_video again with execution_id {execution_id!r}."
                    )
                return Outcome(job, waited=waited)
            await progress(job.status, waited)
            if job.status in TERMINAL:
                return Outcome(await self._finish(job), waited=waited)
            if waited >= budget:
                return Outcome(job, waited=waited)
            await anyio.sleep(min(self.settings.poll_interval, budget - waited))

    async def save(self, execution_id: str, directory: Path | None = None, filename: str | None = None) -> Job:
        """Download a completed video on request, into `directory` (default: the output folder)."""
        execution_id = checked_execution_id(execution_id)
        name = clean_filename(filename) if filename else None
        job = await self._known_completed(execution_id)
        if directory is None and name is None and job.local_path and Path(job.local_path).is_file():
            return job
        return await self._download(job, directory, name, raise_errors=True)

    async def _known_completed(self, execution_id: str) -> Job:
        job = await self.library.get(execution_id=execution_id)
        if job is None or job.status != "completed" or not job.video_url:
            job = await self.library.observed(await self.client.get_execution(execution_id))
        if job.status != "completed":
            raise errors.DownloadFailed(
                f"Execution {execution_id} is {job.status}, not completed: there is no video to download yet. "
                "Call wait_for_video first."
            )
        if not job.video_url:
            raise errors.DownloadFailed(completed_without_url(job))
        return job

    async def _finish(self, job: Job) -> Job:
        """Save the video of a completed job once, when saving is on; a failure is recorded, not raised."""
        if job.status != "completed" or not job.video_url or not self.settings.download:
            return job
        if job.local_path and Path(job.local_path).is_file():
            return job
        return await self._download(job, None, None, raise_errors=False)

    async def _download(self, job: Job, directory: Path | None, name: str | None, *, raise_errors: bool) -> Job:
        assert job.execution_id is not None and job.video_url is not None
        lock = self._download_locks.setdefault(job.execution_id, anyio.Lock())
        async with lock:
            if directory is None and name is None:
                fresh = await self.library.get(job_id=job.id)
                if fresh is not None and fresh.local_path and Path(fresh.local_path).is_file():
                    return fresh  # another call saved it while this one waited for the lock
            # A relative folder means one inside the output folder: a desktop app's working directory is arbitrary.
            target_dir = (self.settings.output_dir.expanduser() / (directory or Path()).expanduser()).resolve()
            filename = name or default_filename(job.created_at, job.prompt, job.execution_id)
            try:
                path = await self._fetch(job, target_dir, filename)
            except errors.DownloadFailed as exc:
                message = str(exc)
                if job.asset_id:
                    message += f" HeyGen keeps the video as asset_id {job.asset_id}."
                await self.library.saved(job.id, local_path=None, download_error=message)
                if raise_errors:
                    raise errors.DownloadFailed(message) from None
                logger.warning("Saving %s failed: %s", job.execution_id, message)
                return await self.library.get(job_id=job.id) or job
            return await self.library.saved(job.id, local_path=str(path), download_error=None)

    async def _fetch(self, job: Job, directory: Path, filename: str) -> Path:
        """Download, asking HeyGen once for a freshly signed link if the stored one has expired."""
        assert job.execution_id is not None and job.video_url is not None
        try:
            return await download(self.client.http, job.video_url, directory, filename)
        except errors.LinkExpired as expired:
            try:
                fresh = await self.library.observed(await self.client.get_execution(job.execution_id))
            except errors.HeyGenError:
                raise expired from None
            if not fresh.video_url or fresh.video_url == job.video_url:
                raise
            return await download(self.client.http, fresh.video_url, directory, filename)

    async def list(self, *, status: str | None = None, limit: int = 20, query: str | None = None) -> list[Job]:
        """Jobs from the library, newest first; unfinished ones shown are re-checked with HeyGen first and
        finished ones not yet saved are saved, within a short budget."""
        jobs = await self.library.jobs(status=status, limit=limit, query=query)
        stale = [job for job in jobs if job.status in UNFINISHED or _unsaved(job, self.settings.download)]
        if stale and self.client.has_api_key:
            with anyio.move_on_after(_REFRESH_SECONDS):
                for job in stale[:_REFRESH_LIMIT]:
                    assert job.execution_id is not None
                    try:
                        await self.check(job.execution_id)
                    except errors.HeyGenError as exc:
                        logger.info("Refreshing %s failed: %s", job.execution_id, exc)
            jobs = await self.library.jobs(status=status, limit=limit, query=query)
        return jobs


def _unsaved(job: Job, downloading: bool) -> bool:
    return downloading and job.status == "completed" and not job.local_path and not job.download_error


def completed_without_url(job: Job) -> str:
    asset = f" HeyGen keeps it as asset_id {job.asset_id}." if job.asset_id else ""
    return (
        f"HeyGen reports execution {job.execution_id} as completed but gave no video URL.{asset} "
        "Call check_status again in a minute; if the URL is still missing, find the video in your HeyGen library."
    )
