"""Keeping a finished video: saved once per video across calls and processes (the library's download claim),
in the background, as no caller waits for it longer than a moment; a failure backs off, a retry resumes."""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

import anyio
from anyio.abc import TaskGroup

from heygen_video_mcp.tools import deadline, errors
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.download import clean_filename, default_filename, download
from heygen_video_mcp.tools.jobs.following.reads import Following
from heygen_video_mcp.tools.jobs.settings import JobSettings, SaveProgress
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.nextstep import WITHOUT_URL_ADVICE, without_url
from heygen_video_mcp.tools.request import refuse_control
from heygen_video_mcp.tools.status import Job

logger = logging.getLogger(__name__)

# A download claim lasts this long and is renewed while bytes flow, so a crashed process frees it soon.
_LEASE_SECONDS: Final = 60.0
# After a failed save, the next automatic try waits 30 s, 60 s, 120 s ... up to 30 minutes.
_BACKOFF_FIRST: Final = 30.0
_BACKOFF_MAX: Final = 1800.0


@dataclass
class _Save:
    """One save in progress in this process; callers wait on `done` as long as they can afford."""

    done: anyio.Event = field(default_factory=anyio.Event)
    path: Path | None = None
    error: str | None = None
    expired: bool = False  # the link is dead and HeyGen gave no fresh one: another try will not help


class Saving:
    def __init__(
        self,
        client: HeyGenClient,
        library: Library,
        settings: JobSettings,
        tasks: TaskGroup,
        following: Following,
        *,
        on_bytes: SaveProgress | None = None,
    ) -> None:
        self._client = client
        self._library = library
        self._settings = settings
        self._tasks = tasks
        self._following = following  # a video to save on request may need its status read first
        self._saves: dict[tuple[str, Path | None, str | None], _Save] = {}  # each removed when its save ends
        self._on_bytes = on_bytes

    @property
    def busy(self) -> bool:
        return bool(self._saves)

    def saving(self, job: Job) -> bool:
        """Whether the video of a finished job is being (or will automatically be) saved."""
        if job.status != "completed" or not job.video_url:
            return False
        if any(key[0] == job.execution_id for key in self._saves):
            return True
        return self._settings.download and not saved(job)

    async def finish(self, job: Job) -> Job:
        """Start saving a completed job's video, once; wait for it only a moment."""
        if job.status != "completed" or not job.video_url or not self._settings.download or saved(job):
            return job
        save = self._start_save(job, None, None, explicit=False)
        with deadline.soft(), anyio.move_on_after(self._settings.save_grace):
            await save.done.wait()
        return await self._library.get(job_id=job.id) or job

    async def save(self, execution_id: str, directory: Path | None = None, filename: str | None = None) -> Job:
        """Save a completed video on request, into `directory` (default: the output folder). Returns the job
        with its new path, or, when the save outlasts the call, as it is (the save goes on)."""
        refuse_control("directory", str(directory) if directory else None)
        refuse_control("filename", filename)
        name = clean_filename(filename) if filename else None
        target_dir = self._target_dir(directory)
        job = await self._known_completed(execution_id)
        if target_dir is None and name is None and saved(job):
            return job
        save = self._start_save(job, target_dir, name, explicit=True)
        with deadline.soft():
            await save.done.wait()
        if save.error is not None:
            raise (errors.LinkExpired if save.expired else errors.DownloadFailed)(save.error)
        fresh = await self._library.get(job_id=job.id) or job
        if save.path is not None and fresh.local_path != str(save.path):
            fresh = replace(fresh, local_path=str(save.path))  # the library write failed; the file is there
        return fresh

    def _target_dir(self, directory: Path | None) -> Path | None:
        """A relative folder is inside the output folder (a desktop app's working directory is arbitrary) and
        may not climb out of it; an absolute one is where the user asked for the video, as given."""
        if directory is None:
            return None
        root = self._settings.output_dir.expanduser().resolve()
        target = (root / directory.expanduser()).resolve()
        if not directory.expanduser().is_absolute() and not target.is_relative_to(root):
            raise errors.InvalidInput(
                f"directory {str(directory)[:80]!r} leads outside the output folder {root}. Give a folder inside "
                "it (like 'client-work/march'), or an absolute path if the user named a folder elsewhere."
            )
        return target

    async def _known_completed(self, execution_id: str) -> Job:
        execution_id, job = await self._following.known(execution_id)
        if job is None or job.status != "completed" or not job.video_url:
            job = await self._following.read(execution_id)
        if job.status != "completed":
            raise errors.DownloadFailed(
                f"Execution {execution_id} is {job.status}, not completed: there is no video to download yet.",
                advice="Call wait_for_video first.",
            )
        if not job.video_url:
            raise errors.DownloadFailed(without_url(job), advice=WITHOUT_URL_ADVICE)
        return job

    def _start_save(self, job: Job, directory: Path | None, name: str | None, *, explicit: bool) -> _Save:
        assert job.execution_id is not None
        key = (job.execution_id, directory, name)
        save = self._saves.get(key)
        if save is None:
            save = self._saves[key] = _Save()
            self._tasks.start_soon(self._run_save, job, key, save, explicit)
        return save

    async def _run_save(self, job: Job, key: tuple[str, Path | None, str | None], save: _Save, explicit: bool) -> None:
        _, directory, name = key
        default_target = directory is None and name is None
        owner = secrets.token_hex(8)
        claimed = False
        try:
            if default_target:
                claimed = await self._library.claim_download(job.id, owner, _LEASE_SECONDS, force=explicit)
                if not claimed:
                    fresh = await self._library.get(job_id=job.id)
                    save.path = Path(fresh.local_path) if fresh and fresh.local_path and saved(fresh) else None
                    if save.path is None and explicit:
                        save.error = "Another process is saving this video right now; ask again in a minute."
                    return
            renewal = anyio.CancelScope()
            if claimed:
                self._tasks.start_soon(self._renew, job.id, owner, renewal)
            try:
                save.path = await self._fetch(job, directory or self._settings.output_dir.expanduser(), name)
            finally:
                renewal.cancel()
        except errors.DownloadFailed as exc:
            save.error = str(exc) + (f" HeyGen keeps the video as asset_id {job.asset_id}." if job.asset_id else "")
            save.expired = isinstance(exc, errors.LinkExpired)
            logger.warning("Saving %s failed: %s", job.execution_id, save.error)
        except Exception:
            logger.exception("Saving %s failed unexpectedly", job.execution_id)
            save.error = "Saving the video failed unexpectedly (see the server log). Try download_video again."
        finally:
            with anyio.CancelScope(shield=True):
                await self._record_save(job, save, owner if claimed else None)
            del self._saves[key]
            save.done.set()

    async def _renew(self, job_id: int, owner: str, scope: anyio.CancelScope) -> None:
        with scope:
            while True:
                await anyio.sleep(_LEASE_SECONDS / 3)
                try:
                    await self._library.renew_download(job_id, owner, _LEASE_SECONDS)
                except errors.LibraryError as exc:
                    logger.warning("Could not renew the download claim of job %s: %s", job_id, exc)

    async def _record_save(self, job: Job, save: _Save, owner: str | None) -> None:
        path = str(save.path) if save.path else None
        try:
            if owner is not None:
                retry_at = None
                if save.error is not None:
                    retry_at = time.time() + min(_BACKOFF_FIRST * 2**job.download_attempts, _BACKOFF_MAX)
                await self._library.finish_download(job.id, owner, local_path=path, error=save.error, retry_at=retry_at)
            elif path is not None or save.error is not None:
                await self._library.saved(job.id, local_path=path, download_error=save.error)
        except errors.LibraryError as exc:
            logger.warning("Saved %s to %s but could not record it: %s", job.execution_id, path, exc)

    async def _fetch(self, job: Job, directory: Path, name: str | None) -> Path:
        """Download, asking HeyGen once for a freshly signed link if the stored one has expired."""
        assert job.execution_id is not None and job.video_url is not None
        filename = name or default_filename(job.created_at, job.prompt, job.execution_id)
        try:
            return await self._download(job.execution_id, job.video_url, directory, filename)
        except errors.LinkExpired as expired:
            try:
                fresh = await self._library.observed(await self._following.sessions.read(job.execution_id))
            except errors.HeyGenError:
                raise expired from None
            if not fresh.video_url or fresh.video_url == job.video_url:
                raise
            return await self._download(job.execution_id, fresh.video_url, directory, filename)

    async def _download(self, execution_id: str, url: str, directory: Path, filename: str) -> Path:
        on_bytes = self._on_bytes
        return await download(
            self._client.http,
            url,
            directory,
            filename,
            max_bytes=self._settings.max_video_bytes,
            allow_private=self._settings.private_video_hosts,
            progress=None if on_bytes is None else lambda done, total: on_bytes(execution_id, done, total),
        )


def saved(job: Job) -> bool:
    return bool(job.local_path) and os.path.isfile(job.local_path or "")  # no Path: this runs on every read
