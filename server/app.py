"""The MCP application: `create_server(settings)` wires the tools, resources and prompts to one HeyGen
client and one video library, held by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

import httpx2
from mcp.server.mcpserver import MCPServer

import prompts
from server.config import WAIT_CAP_SECONDS, Settings
from tools import check_status, download_video, generate_video, list_providers, list_videos, wait_for_video
from tools.client import HeyGenClient
from tools.jobs import JobSettings, VideoJobs
from tools.library import Library
from tools.results import AppState

INSTRUCTIONS = """Makes AI videos with HeyGen (VEO 3.1, Kling, Sora, Runway, Seedance, LTX).
Flow: write a detailed shot description -> generate_video -> wait_for_video (call again while done is
false; renders take minutes) -> give the user the saved file's path. Every generate_video costs the user
HeyGen credits; identical repeats within minutes are reused, not re-bought. list_videos finds past videos."""


def _version() -> str:
    try:
        return version("heygen-video-mcp")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def create_server(settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> MCPServer[AppState]:
    library = Library(settings.library_file)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        library.migrate()
        client = HeyGenClient(
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            base_url=settings.api_base_url,
            timeout=httpx2.Timeout(
                connect=settings.connect_timeout, read=settings.read_timeout, write=settings.read_timeout, pool=5.0
            ),
            max_retries=settings.max_retries,
            transport=transport,
        )
        jobs = VideoJobs(
            client,
            library,
            JobSettings(
                poll_interval=settings.poll_interval,
                duplicate_window=settings.duplicate_window,
                download=settings.download,
                output_dir=settings.output_dir,
            ),
        )
        try:
            yield AppState(jobs=jobs, wait_seconds=settings.wait_seconds, wait_cap=WAIT_CAP_SECONDS)
        finally:
            await client.aclose()

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
