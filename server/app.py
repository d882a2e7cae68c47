"""The MCP application: `create_server(settings)` wires the tools, resources and prompts to one HeyGen
client and one video library, held by the lifespan."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import anyio
import httpx2
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

if TYPE_CHECKING:
    from heygen_video_mcp.server.videolinks import VideoLinks

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
    links: VideoLinks | None = None,
) -> MCPServer[AppState]:
    """The server, its library (`library`, or the one `settings` names) checked at the start of each lifespan
    unless it already was in this process (the command line checks it while the SDK loads). The HTTP
    client is built on the first request to HeyGen, not at start. With `links` (remote mode), results
    hand out saved videos as links signed by it, not as paths on this machine."""
    library = library or settings.library()

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
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
        job_settings = JobSettings(
            poll_interval=settings.poll_interval,
            duplicate_window=settings.duplicate_window,
            download=settings.download,
            output_dir=settings.output_dir,
            not_found_grace=settings.not_found_grace,
            reads_per_second=settings.max_reads_per_second,
            max_video_bytes=settings.max_video_bytes,
            private_video_hosts=_is_private(settings.api_base_url),
        )
        try:
            # Submissions on the wire and video saves run here, beyond the calls that start them.
            async with anyio.create_task_group() as background:
                jobs = VideoJobs(client, library, job_settings, background)
                try:
                    yield AppState(
                        jobs=jobs,
                        wait_seconds=settings.wait_seconds,
                        wait_cap=WAIT_CAP_SECONDS,
                        call_seconds=settings.call_seconds,
                        sign_link=links.sign if links else None,
                        public_url=links.public_url if links else None,
                    )
                finally:
                    # A submission already sent gets its answer recorded before the server goes; a save
                    # stops and resumes on the next start.
                    with anyio.CancelScope(shield=True):
                        await jobs.aclose(grace=settings.read_timeout + settings.connect_timeout)
                    background.cancel_scope.cancel()
        finally:
            await client.aclose()
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
