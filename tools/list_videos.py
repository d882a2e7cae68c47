"""list_videos: the local library of every job this computer submitted, as a tool and as resources."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, Field

from tools.client import Status
from tools.library import Library
from tools.request import EXECUTION_ID_RE
from tools.results import AppState, VideoResult, render, reported, state, video_result

DESCRIPTION = """List the videos this computer has asked HeyGen for, newest first, from the local library
that survives restarts: prompt, provider, status, when, the saved file's path and the temporary URL.
Use it to answer "what videos did I make yesterday?" or "where is the coffee-shop clip?". Unfinished jobs
are re-checked with HeyGen, and finished ones not yet saved are saved."""


class VideoList(BaseModel):
    videos: list[VideoResult]
    count: int = Field(description="How many videos are listed.")


async def list_videos(
    ctx: Context[AppState, Any],
    status: Annotated[Status | None, Field(description="Only videos in this status. Omit for all.")] = None,
    limit: Annotated[int, Field(ge=1, le=200, description="At most this many videos (1-200).")] = 20,
    query: Annotated[
        str | None,
        Field(max_length=200, description="Words to find in the prompt, or a provider or execution id."),
    ] = None,
) -> Annotated[CallToolResult, VideoList]:
    with reported():
        jobs = await state(ctx).jobs.list(status=status, limit=limit, query=query)
    videos = [video_result(job) for job in jobs]
    text = "\n\n".join(render(v) for v in videos) if videos else "No videos match; generate_video makes one."
    result = VideoList(videos=videos, count=len(videos))
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


def register(server: MCPServer[AppState], library: Library) -> None:
    server.add_tool(
        list_videos,
        title="List my videos",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="List my videos", read_only_hint=True, open_world_hint=True),
    )

    # Resources read the library as stored; only the tool contacts HeyGen.
    @server.resource(
        "heygen://videos",
        name="videos",
        title="My HeyGen videos",
        description="The 50 newest videos in the local library (JSON).",
        mime_type="application/json",
    )
    async def videos() -> str:
        jobs = await library.jobs(limit=50)
        return VideoList(videos=[video_result(j) for j in jobs], count=len(jobs)).model_dump_json(indent=2)

    @server.resource(
        "heygen://videos/{execution_id}",
        name="video",
        title="One HeyGen video",
        description="One video from the local library with its status history (JSON).",
        mime_type="application/json",
    )
    async def video(execution_id: str) -> str:
        job = await library.get(execution_id=execution_id) if EXECUTION_ID_RE.match(execution_id) else None
        if job is None:
            raise ResourceNotFoundError(f"No video with execution id {execution_id[:60]!r} in the library.")
        history = [{"status": s, "at": at, "error": error} for s, at, error in await library.history(job.id)]
        return json.dumps({"video": video_result(job).model_dump(mode="json"), "history": history}, indent=2)
