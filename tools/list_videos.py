"""list_videos: the local library of every job this computer submitted, as a tool and as resources."""

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, Links, links, state
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.request import MAX_LIMIT, check_filters, is_execution_id
from heygen_video_mcp.tools.results import VideoList, iso_time, list_answer, video_result
from heygen_video_mcp.tools.status import JOB_STATUSES
from heygen_video_mcp.tools.tenancy import callers

DESCRIPTION = """List the videos this computer has asked HeyGen for, newest first, from the local library
that survives restarts: prompt, provider, status, when, the saved file's path and the temporary URL.
Submissions whose answer from HeyGen is still on the way (submitting) or was lost (submit_uncertain, maybe
paid for) are listed too, with what to do about them.
Use it to answer "what videos did I make yesterday?" or "where is the coffee-shop clip?". Unfinished jobs
are re-checked with HeyGen, and finished ones not yet saved are saved."""


async def list_videos(
    ctx: Context[AppState, Any],
    # Plain types with the allowed values in the schema: a bad value gets our one-sentence answer.
    status: Annotated[
        str | None,
        Field(description="Only videos in this status. Omit for all.", json_schema_extra={"enum": list(JOB_STATUSES)}),
    ] = None,
    limit: Annotated[
        int, Field(description=f"At most this many videos (1-{MAX_LIMIT}).", json_schema_extra={"minimum": 1})
    ] = 20,
    query: Annotated[
        str | None,
        Field(description="Words to find in the prompt, or a provider or execution id."),
    ] = None,
) -> Annotated[CallToolResult, VideoList]:
    app = state(ctx)

    async def work() -> CallToolResult:
        check_filters(status, limit, query)
        jobs = await app.jobs.list(status=status, limit=limit, query=query)
        return list_answer(jobs, [app.jobs.saving(job) for job in jobs], links(ctx))

    return await answer(work, action="list_videos", seconds=app.call_seconds, remote=links(ctx) is not None)


def register(server: MCPServer[AppState], library: Library, remote: Links | None = None) -> None:
    """`remote`: in remote mode, how the resources sign links to saved videos, whose server paths they never
    show. A static resource has no request to take the server's address from: without HEYGEN_MCP_PUBLIC_URL
    its links are relative to the server."""
    server.add_tool(
        list_videos,
        title="List my videos",
        description=DESCRIPTION,
        annotations=ToolAnnotations(title="List my videos", read_only_hint=True, open_world_hint=True),
    )

    # Resources read the library as stored, the caller's jobs only; only the tool contacts HeyGen.
    @server.resource(
        "heygen://videos",
        name="videos",
        title="My HeyGen videos",
        description="The 50 newest videos in the local library (JSON).",
        mime_type="application/json",
    )
    async def videos() -> str:
        jobs = await callers(library).jobs(limit=50, include_unsent=True)
        videos = [video_result(j, links=remote) for j in jobs]
        return VideoList(videos=videos, count=len(jobs)).model_dump_json(indent=2)

    @server.resource(
        "heygen://videos/{execution_id}",
        name="video",
        title="One HeyGen video",
        description="One video from the local library with its status history (JSON).",
        mime_type="application/json",
    )
    async def video(execution_id: str, ctx: Context[AppState, Any]) -> str:
        mine = callers(library)
        job = await mine.get(execution_id=execution_id) if is_execution_id(execution_id) else None
        if job is None:
            raise ResourceNotFoundError(f"No video with execution id {execution_id[:60]!r} in the library.")
        history = [{"status": s, "at": iso_time(at), "error": error} for s, at, error in await mine.history(job.id)]
        found = video_result(job, links=links(ctx) if remote else None)
        return json.dumps({"video": found.model_dump(mode="json"), "history": history}, indent=2)
