"""download_video: keep a finished video on this computer, where the user chooses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from tools.results import AppState, ExecutionId, VideoResult, reported, state, tool_result, video_result

DESCRIPTION = """Save a completed HeyGen video as an MP4 on this computer and return its absolute path.
Finished videos are already saved automatically into the output folder; use this to save a copy elsewhere
or under a chosen name, or to retry a save that failed. Existing files are never overwritten (a number is
added to the name). HeyGen's video URLs expire, so save soon after the video is done."""


async def download_video(
    ctx: Context[AppState, Any],
    execution_id: ExecutionId,
    directory: Annotated[
        str | None,
        Field(
            description="Folder to save into, created if missing; a relative path is inside the output folder. "
            "Omit for the output folder itself."
        ),
    ] = None,
    filename: Annotated[
        str | None,
        Field(description="Plain file name such as 'coffee-shop.mp4' (no folders). Omit for a generated name."),
    ] = None,
) -> Annotated[CallToolResult, VideoResult]:
    with reported(execution_id):
        job = await state(ctx).jobs.save(execution_id, Path(directory) if directory else None, filename)
    return tool_result(video_result(job))


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        download_video,
        title="Download a video",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Download a video",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
