"""cancel_video: stop a Video Agent render (POST /v3/video-agents/{session_id}/stop)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, ExecutionId, links, state
from heygen_video_mcp.tools.results import VideoAnswer, job_answer

DESCRIPTION = """Stop a HeyGen Video Agent render (provider="video_agent") that the user no longer wants:
HeyGen halts the agent's run at its next checkpoint; what it already made may still be billed. Only on the
user's request. The executions API (VEO, Kling, Sora, ...) has no stop: for those this says so and sends
nothing. Answers with the job's status after the stop."""


async def cancel_video(
    ctx: Context[AppState, Any], execution_id: ExecutionId
) -> Annotated[CallToolResult, VideoAnswer]:
    app = state(ctx)

    async def work() -> CallToolResult:
        job = await app.jobs.stop(execution_id)
        # Finished first, or halted by HeyGen at its next checkpoint, or stopped (as the user asked).
        return job_answer(job, saving=app.jobs.saving(job), links=links(ctx), stopped=True)

    return await answer(
        work, action="cancel_video", seconds=app.call_seconds, execution_id=execution_id, remote=links(ctx) is not None
    )


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        cancel_video,
        title="Stop a Video Agent render",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Stop a Video Agent render",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=True,
        ),
    )
