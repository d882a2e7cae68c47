"""The MCP application: `create_server(settings)` wires the tools, resources and prompts to one HeyGen
client and one video library, held by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

import httpx2
from mcp.server.mcpserver import MCPServer

from heygen_video_mcp import prompts
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.legacytasks import TasksBothEras
from heygen_video_mcp.server.player import TOOL_META, play_from_caller_origin, player_extension
from heygen_video_mcp.server.runtime import running_tenants
from heygen_video_mcp.server.tasks import tool_runner
from heygen_video_mcp.tools import (
    cancel_video,
    check_credits,
    check_status,
    download_video,
    generate_video,
    generate_videos,
    list_providers,
    list_video_agent_options,
    list_videos,
    wait_for_video,
    wait_for_videos,
)
from heygen_video_mcp.tools.calls import AppState, Links
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.tasks import Tasks
from heygen_video_mcp.tools.tenancy import Tenancy
from heygen_video_mcp.tools.timing import WAIT_CAP_SECONDS

if TYPE_CHECKING:
    from heygen_video_mcp.server.callbacks import Callbacks
    from heygen_video_mcp.server.videolinks import VideoLinks

INSTRUCTIONS = """Makes AI videos with HeyGen (VEO 3.1, Kling, Sora, Runway, Seedance, LTX).
Flow: write a detailed shot description -> generate_video -> wait_for_video (call again while done is
false; renders take minutes) -> give the user the saved file's path. For several videos at once (shots of a
storyboard, takes), generate_videos -> wait_for_videos. Every generate_video costs the user
HeyGen credits; identical repeats within minutes are reused, not re-bought. list_videos finds past videos.
provider="video_agent" is HeyGen's v3 Video Agent (a produced video with an avatar presenter, about $0.033/s);
if the model providers' v1 API answers as retired, offer it to the user, never switch without asking."""


def _version() -> str:
    try:
        return version("heygen-video-mcp")
    except PackageNotFoundError:  # running from a source tree
        return "0.0.0"


def create_server(
    settings: Settings,
    *,
    transport: httpx2.AsyncBaseTransport | None = None,
    library: Library | None = None,
    tenancy: Tenancy | None = None,
    links: VideoLinks | None = None,
    callbacks: Callbacks | None = None,
) -> MCPServer[AppState]:
    """The server, its library (`library`, or the one `settings` names) checked at the start of each lifespan
    unless it already was in this process (the command line checks it while the SDK loads). The HTTP
    client is built on the first request to HeyGen, not at start. `tenancy`: remote mode's tenants (see
    tools/tenancy.py); without it every caller is the server's own user. With `links` (remote mode), results
    hand out saved videos as links signed by it, not as paths on this machine."""
    library = library or settings.library()
    tasks = Tasks()  # renders followed as MCP Tasks (server/tasks.py): it learns how far each save has got
    task_extension = TasksBothEras(tasks, settings.confirm_above_usd)

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        async with running_tenants(
            settings,
            library,
            tenancy or Tenancy(),
            transport=transport,
            on_bytes=tasks.saved_bytes,
            public_url=links.public_url if links else None,
        ) as tenants:
            if callbacks is not None:  # a callback reads with the job logic of the job's tenant
                callbacks.tenants = tenants
            yield AppState(
                tenants=tenants,
                wait_seconds=settings.wait_seconds,
                wait_cap=WAIT_CAP_SECONDS,
                call_seconds=settings.call_seconds,
                sign_link=links.sign if links else None,
                public_url=links.public_url if links else None,
            )

    server: MCPServer[AppState] = MCPServer(
        "heygen-video-mcp",
        title="HeyGen video generation",
        instructions=INSTRUCTIONS,
        version=_version(),
        lifespan=lifespan,
        extensions=[
            player_extension(settings.api_base_url, links.public_url if links else None),
            task_extension,
        ],
        # Links under each caller's own address (no public URL): the player may play from that address too.
        middleware=[*([play_from_caller_origin] if links and not links.public_url else []), task_extension.middleware],
    )
    task_extension.run_tool = tool_runner(server)  # a held call, once accepted, is sent as the tool sends it
    generate_video.register(server)
    # Hosts with MCP Apps show these two tools' results in the player page; others ignore the binding.
    check_status.register(server, meta=TOOL_META)
    wait_for_video.register(server, settings.wait_seconds, WAIT_CAP_SECONDS, meta=TOOL_META)
    generate_videos.register(server)
    wait_for_videos.register(server, settings.wait_seconds, WAIT_CAP_SECONDS)
    download_video.register(server)
    list_videos.register(server, library, Links(links.sign, links.public_url or "") if links else None)
    list_providers.register(server)
    cancel_video.register(server)
    check_credits.register(server)
    list_video_agent_options.register(server)
    prompts.register(server)
    return server
