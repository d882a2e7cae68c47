"""The job logic built from the settings, for everything that drives it: the MCP server's lifespan and the
command line share one HeyGen client, one library and one set of background tasks per run."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import anyio
import httpx2

from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.jobs import JobSettings, SaveProgress, VideoJobs
from heygen_video_mcp.tools.library import Library


def _is_private(url: str) -> bool:
    """Whether HeyGen's base URL is on this machine or a private network (the sandbox, a proxy)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def job_settings(settings: Settings) -> JobSettings:
    return JobSettings(
        poll_interval=settings.poll_interval,
        duplicate_window=settings.duplicate_window,
        download=settings.download,
        output_dir=settings.output_dir,
        not_found_grace=settings.not_found_grace,
        reads_per_second=settings.max_reads_per_second,
        max_video_bytes=settings.max_video_bytes,
        private_video_hosts=_is_private(settings.api_base_url),
    )


@asynccontextmanager
async def running_jobs(
    settings: Settings,
    library: Library,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    on_bytes: SaveProgress | None = None,
) -> AsyncIterator[VideoJobs]:
    """VideoJobs for one run, its library checked unless it already was in this process. The HTTP client
    is built on the first request to HeyGen, not here. On the way out, submissions already sent get their
    answers recorded; a save in progress stops and resumes next time."""
    if not library.migrated:
        await anyio.to_thread.run_sync(library.migrate)
    client = HeyGenClient(
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        base_url=settings.api_base_url,
        timeout=httpx2.Timeout(
            connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=5.0
        ),
        max_retries=settings.max_retries,
        transport=transport,
    )
    try:
        # Submissions on the wire and video saves run here, beyond the calls that start them.
        async with anyio.create_task_group() as background:
            jobs = VideoJobs(client, library, job_settings(settings), background, on_bytes=on_bytes)
            try:
                yield jobs
            finally:
                with anyio.CancelScope(shield=True):
                    await jobs.aclose(grace=settings.read_timeout + settings.connect_timeout)
                background.cancel_scope.cancel()
    finally:
        await client.aclose()
        library.close()
