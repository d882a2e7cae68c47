"""cancel_video: stop a Video Agent render (POST /v3/video-agents/{session_id}/stop)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, ExecutionId, links, state
from heygen_video_mcp.tools.results import (
    VideoAnswer,
    structured,
    tool_result,
    video_content,
    video_result,
)

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
        result = video_result(job, saving=app.jobs.saving(job), links=links(ctx))
        if result.status == "completed" or not result.done:
            return tool_result(result)  # it finished first, or HeyGen halts it at its next checkpoint
        # Stopped, as the user asked: not a failure to report, and nothing to retry.
        result.next_step = (
            "The Video Agent session was stopped, as the user asked; nothing more is rendered. Tell the user; only "
            "if they want the video after all, call generate_video again (a new, paid render)."
        )
        return CallToolResult(content=video_content(result), structured_content=structured(result), is_error=False)

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
