"""check_status: one look at a job, without waiting."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, ExecutionId, links, state
from heygen_video_mcp.tools.results import VideoAnswer, job_answer

DESCRIPTION = """Check a HeyGen video job once and return at once: submitted, processing, completed, failed or
not_found. When completed it gives the video_url (temporary: it expires), video_id and asset_id, and the path
of the MP4 saved on this computer. Takes the execution_id exactly as generate_video returned it (a Video Agent
video's is "video_agent:<video_id>"). To follow a render until it finishes, prefer wait_for_video."""


async def check_status(
    ctx: Context[AppState, Any], execution_id: ExecutionId
) -> Annotated[CallToolResult, VideoAnswer]:
    app, reach = state(ctx), links(ctx)

    async def work() -> CallToolResult:
        job = await app.jobs.check(execution_id)
        return job_answer(job, saving=app.jobs.saving(job), links=reach)

    return await answer(
        work, action="check_status", seconds=app.call_seconds, execution_id=execution_id, remote=reach is not None
    )


def register(server: MCPServer[AppState], meta: dict[str, Any] | None = None) -> None:
    server.add_tool(
        check_status,
        title="Check a video's status",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Check a video's status", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
        meta=meta,
    )
