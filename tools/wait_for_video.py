"""wait_for_video: follow a render for a bounded time, with progress, and never lose the id."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from heygen_video_mcp.tools import deadline
from heygen_video_mcp.tools.answer import answer, error_result
from heygen_video_mcp.tools.calls import AppState, ExecutionId, links, state
from heygen_video_mcp.tools.results import VideoAnswer, job_answer
from heygen_video_mcp.tools.timing import WAIT_AT_LEAST, WAIT_MARGIN

DESCRIPTION = """Wait for a HeyGen video job to finish, reporting progress, for at most max_wait_seconds per
call (default {default:g} s, at most {cap:g} s, because clients cut long tool calls off).

Returns completed (with the temporary video_url, and the saved file's path, or saving=true while it is
being saved in the background), or an error result if HeyGen failed the job (with HeyGen's message). If
the video is still rendering when the time is up, it returns normally with status processing/submitted and
done=false: call wait_for_video again with the same execution_id. Renders usually take 1-5 minutes (a
video_agent video 2-10), so several calls are normal."""


MaxWaitSeconds = Annotated[
    float | None,
    Field(description="Longest this call waits before returning (seconds). Omit for the server default."),
]


def wait_budget(app: AppState, max_wait_seconds: float | None, again: str) -> float | CallToolResult:
    """How long this call may wait, counted from its request's arrival (time it spent queued behind other
    calls is spent; a short look is always left), or the error result for a max_wait_seconds out of range."""
    budget = app.wait_seconds if max_wait_seconds is None else max_wait_seconds
    if 0 < budget <= app.wait_cap:
        return max(budget - deadline.queued(), min(budget, WAIT_AT_LEAST))
    return error_result(
        "invalid_input",
        f"max_wait_seconds must be between 1 and {app.wait_cap:g} (clients cut longer calls off).",
        execution_id=None,
        retryable=False,
        next_step=f"Omit max_wait_seconds for the default, and {again}.",
    )


async def wait_for_video(
    ctx: Context[AppState, Any],
    execution_id: ExecutionId,
    max_wait_seconds: MaxWaitSeconds = None,
) -> Annotated[CallToolResult, VideoAnswer]:
    app = state(ctx)
    budget = wait_budget(app, max_wait_seconds, "call wait_for_video again if the video is not ready")
    if isinstance(budget, CallToolResult):
        return budget

    told = 0.0

    async def progress(status: str, elapsed: float, total: float, message: str) -> None:
        # Each notification's progress must exceed the last (the spec); a read due a moment after a tick
        # would tell the same tenth of a second again.
        nonlocal told
        told = max(round(elapsed, 1), round(told + 0.1, 1))
        await ctx.report_progress(told, max(round(total, 1), told), message)

    async def work() -> CallToolResult:
        outcome = await app.jobs.wait(execution_id, budget, progress)
        job = outcome.job
        return job_answer(job, waited=outcome.waited, saving=app.jobs.saving(job), links=links(ctx))

    return await answer(
        work,
        action="wait_for_video",
        seconds=budget + WAIT_MARGIN,
        execution_id=execution_id,
        remote=links(ctx) is not None,
    )


def register(
    server: MCPServer[AppState], default_wait: float, wait_cap: float, meta: dict[str, Any] | None = None
) -> None:
    server.add_tool(
        wait_for_video,
        title="Wait for a video",
        description=DESCRIPTION.format(default=default_wait, cap=wait_cap),
        annotations=ToolAnnotations(
            title="Wait for a video", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
        meta=meta,
    )
