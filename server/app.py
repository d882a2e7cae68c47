"""The MCP application: `create_server(settings)` wires the tools, resources and prompts to one HeyGen
client and one video library, held by the lifespan."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

import anyio
import httpx2
from anyio.abc import TaskGroup
from mcp.server.mcpserver import MCPServer

from heygen_video_mcp import prompts
from heygen_video_mcp.server.config import WAIT_CAP_SECONDS, Settings
from heygen_video_mcp.tools import (
    check_status,
    download_video,
    generate_video,
    list_providers,
    list_videos,
    wait_for_video,
)
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.jobs import JobSettings, VideoJobs
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.results import AppState
from heygen_video_mcp.tools.tenancy import OWN, Tenancy, Tenants, missing_key_message, tenant_folder

INSTRUCTIONS = """Makes AI videos with HeyGen (VEO 3.1, Kling, Sora, Runway, Seedance, LTX).
Flow: write a detailed shot description -> generate_video -> wait_for_video (call again while done is
false; renders take minutes) -> give the user the saved file's path. Every generate_video costs the user
HeyGen credits; identical repeats within minutes are reused, not re-bought. list_videos finds past videos."""


def _version() -> str:
    try:
        return version("heygen-video-mcp")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


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


def create_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    library: Library | None = None,
    tenancy: Tenancy | None = None,
) -> MCPServer[AppState]:
    """The server, its library (`library`, or the one `settings` names) checked at the start of each lifespan
    unless it already was in this process (the command line checks it while the SDK loads). HTTP clients
    are built on the first request to HeyGen, not at start. `tenancy`: remote mode's tenants and their keys;
    without it, every caller is the server's own user."""
    library = library or settings.library()
    own_key = settings.api_key.get_secret_value() if settings.api_key else None
    tenancy = tenancy or Tenancy()
    tenancy = replace(tenancy, keys={**tenancy.keys, OWN: own_key} if own_key else tenancy.keys)

    def job_logic(tenant: str, key: str | None, budget: int | None, background: TaskGroup) -> VideoJobs:
        client = HeyGenClient(
            api_key=key,
            base_url=settings.api_base_url,
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=5.0
            ),
            max_retries=settings.max_retries,
            transport=transport,
            missing_key=None if tenant == OWN else missing_key_message(tenant, tenancy),
        )
        job_settings = JobSettings(
            poll_interval=settings.poll_interval,
            duplicate_window=settings.duplicate_window,
            download=settings.download,
            output_dir=settings.output_dir / tenant_folder(tenant) if tenant else settings.output_dir,
            not_found_grace=settings.not_found_grace,
            reads_per_second=settings.max_reads_per_second,
            max_video_bytes=settings.max_video_bytes,
            private_video_hosts=_is_private(settings.api_base_url),
            daily_renders=budget,
        )
        # The server's own user works in `library` as given (which may itself be a tenant's view).
        return VideoJobs(client, library.for_tenant(tenant) if tenant else library, job_settings, background)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        if not library.migrated:
            await anyio.to_thread.run_sync(library.migrate)
        tenants: Tenants | None = None
        try:
            # Submissions on the wire and video saves run here, beyond the calls that start them.
            async with anyio.create_task_group() as background:
                tenants = Tenants(tenancy, partial(job_logic, background=background))
                try:
                    yield AppState(
                        jobs=tenants.jobs(OWN),
                        wait_seconds=settings.wait_seconds,
                        wait_cap=WAIT_CAP_SECONDS,
                        call_seconds=settings.call_seconds,
                        tenants=tenants,
                    )
                finally:
                    # A submission already sent gets its answer recorded before the server goes; a save
                    # stops and resumes on the next start.
                    with anyio.CancelScope(shield=True):
                        async with anyio.create_task_group() as closing:
                            for jobs in tenants.all():
                                closing.start_soon(jobs.aclose, settings.read_timeout + settings.connect_timeout)
                    background.cancel_scope.cancel()
        finally:
            for jobs in tenants.all() if tenants else []:
                await jobs.client.aclose()
            library.close()

    server: MCPServer[AppState] = MCPServer(
        "heygen-video-mcp",
        title="HeyGen video generation",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=lifespan,
    )
    generate_video.register(server)
    check_status.register(server)
    wait_for_video.register(server, settings.wait_seconds, WAIT_CAP_SECONDS)
    download_video.register(server)
    list_videos.register(server, library)
    list_providers.register(server)
    prompts.register(server)
    return server
