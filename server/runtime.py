"""The job logic built from the settings, for everything that drives it: the MCP server's lifespan and the
command line share one library and one set of background tasks per run, and a HeyGen client per tenant
(just one, the server's own user's, outside remote mode). Each tenant's is made at its first call, and
tools/jobs is loaded then: a server's start-up, up to its first answer, does not need it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Final

import anyio
import httpx2

from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.tools.client import HeyGenClient, SharedHttp
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.publichost import is_loopback_url, local_host
from heygen_video_mcp.tools.tenancy import OWN, Tenancy, Tenants, missing_key_message, tenant_folder

if TYPE_CHECKING:
    from heygen_video_mcp.tools.jobs.front import VideoJobs
    from heygen_video_mcp.tools.jobs.settings import JobSettings, SaveProgress

CALLBACK_PATH: Final = "/heygen/callbacks/"


def callback_base(settings: Settings, public_url: str | None) -> str | None:
    """Where HeyGen calls this server back, the callback id appended (server/callbacks.py), or None: no public
    URL, or, with the real HeyGen, one it could never call (on this machine or a private network), or one
    without HTTPS, which its callback_url requires (heygen-cli gen/ai-clipping.go); the renders would be read
    only at the slow safety pace. The sandbox, on loopback itself, calls back over plain HTTP there."""
    if public_url is None:
        return None
    if local_host(settings.api_base_url) is None and (
        local_host(public_url) is not None or not public_url.startswith("https://")
    ):
        return None
    return public_url.rstrip("/") + CALLBACK_PATH


def job_settings(
    settings: Settings, tenant: str = OWN, budget: int | None = None, callback_base: str | None = None
) -> JobSettings:
    from heygen_video_mcp.tools.jobs.settings import JobSettings

    return JobSettings(
        poll_interval=settings.poll_interval,
        duplicate_window=settings.duplicate_window,
        download=settings.download,
        output_dir=settings.output_dir / tenant_folder(tenant) if tenant else settings.output_dir,
        not_found_grace=settings.not_found_grace,
        agent_thinking_seconds=settings.agent_thinking_seconds,
        reads_per_second=settings.max_reads_per_second,
        batch_status_reads=settings.batch_status_reads,
        max_video_bytes=settings.max_video_bytes,
        private_video_hosts=local_host(settings.api_base_url) is not None,  # the sandbox, a proxy
        loopback_images=is_loopback_url(settings.api_base_url),
        daily_renders=budget,
        callback_base=callback_base,
    )


@asynccontextmanager
async def running_jobs(
    settings: Settings,
    library: Library,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    on_bytes: SaveProgress | None = None,
) -> AsyncIterator[VideoJobs]:
    """VideoJobs for one run of the server's own user (see running_tenants)."""
    async with running_tenants(settings, library, Tenancy(), transport=transport, on_bytes=on_bytes) as tenants:
        yield tenants.jobs(OWN)


@asynccontextmanager
async def running_tenants(
    settings: Settings,
    library: Library,
    tenancy: Tenancy,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    on_bytes: SaveProgress | None = None,
    public_url: str | None = None,
) -> AsyncIterator[Tenants]:
    """The job logic of each tenant for one run, made on first use; the server's own user ('') works in
    `library` as given, with HEYGEN_API_KEY. The library is checked unless it already was in this process.
    The HTTP client, one shared by all, is built on the first request to HeyGen, not here. On the way out,
    submissions already sent get their answers recorded; a save in progress stops and resumes next time."""
    if not library.migrated:
        await anyio.to_thread.run_sync(library.migrate)
    own_key = settings.api_key.get_secret_value() if settings.api_key else None
    tenancy = replace(tenancy, keys={**tenancy.keys, OWN: own_key}) if own_key else tenancy
    timeout = httpx2.Timeout(
        connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=5.0
    )
    http = SharedHttp(timeout, transport)  # one for every tenant and caller key
    try:
        # Submissions on the wire and video saves run here, beyond the calls that start them.
        async with anyio.create_task_group() as background:

            def make(tenant: str, key: str | None, budget: int | None, rejected_key: str | None) -> VideoJobs:
                from heygen_video_mcp.tools.jobs.front import VideoJobs

                client = HeyGenClient(
                    api_key=key,
                    base_url=settings.api_base_url,
                    timeout=timeout,
                    max_retries=settings.max_retries,
                    missing_key=missing_key_message(tenant, tenancy) if tenant else None,
                    rejected_key=rejected_key,
                    shared=http,
                )
                view = library.for_tenant(tenant) if tenant else library
                made = job_settings(settings, tenant, budget, callback_base(settings, public_url))
                return VideoJobs(client, view, made, background, on_bytes=on_bytes)

            tenants = Tenants(tenancy, make)
            try:
                yield tenants
            finally:
                with anyio.CancelScope(shield=True):
                    async with anyio.create_task_group() as closing:
                        for jobs in tenants.all():
                            closing.start_soon(jobs.aclose, settings.read_timeout + settings.connect_timeout)
                background.cancel_scope.cancel()
    finally:
        await http.aclose()
        library.close()
