"""wait_for_videos: follow several renders in one bounded call, with one progress for them all."""

from typing import Annotated, Any, Final

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.batch import MAX_WAIT, each
from heygen_video_mcp.tools.calls import AppState, links, state
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.results import BatchResult, VideoResult, batch_answer, video_result
from heygen_video_mcp.tools.status import final
from heygen_video_mcp.tools.timing import WAIT_MARGIN
from heygen_video_mcp.tools.wait_for_video import MaxWaitSeconds, wait_budget

_CREEP: Final = 0.0001

DESCRIPTION = """Wait for several HeyGen video jobs at once (at most {most}), reporting progress, for at most
max_wait_seconds per call (default {default:g} s, at most {cap:g} s). Use it after generate_videos, or for
any execution_ids you are following.

Returns when every job has ended or the time is up, with one result per execution_id in order: completed
(the temporary video_url and the saved file, or saving=true), still rendering (done=false: call
wait_for_videos again with the ids that are not done), or ok=false with why (the job failed, HeyGen does
not know the id, the id is malformed, HeyGen could not be reached). One job's failure does not stop the
others."""


async def wait_for_videos(
    ctx: Context[AppState, Any],
    execution_ids: Annotated[
        list[str],
        Field(
            description=f"The execution_ids that generate_videos or generate_video returned, 1 to {MAX_WAIT}.",
            json_schema_extra={"minItems": 1, "maxItems": MAX_WAIT},
        ),
    ],
    max_wait_seconds: MaxWaitSeconds = None,
) -> Annotated[CallToolResult, BatchResult]:
    app = state(ctx)
    budget = wait_budget(app, max_wait_seconds, "call wait_for_videos again for videos not ready")
    if isinstance(budget, CallToolResult):
        return budget
    count = len(execution_ids)
    # One progress for the call: each job counts its share of the render done (1 once it ends), never going
    # backwards when a job's expected length grows. Each notification's progress must exceed the last (the
    # spec), so while a job runs past its estimate (its share holds) the call's creeps by a hair, below count.
    shares = [0.0] * count
    told = 0.0

    async def work() -> CallToolResult:
        caller = links(ctx)
        if not 1 <= count <= MAX_WAIT:
            raise InvalidInput(f"execution_ids has {count} items; give 1 to {MAX_WAIT} per call.")

        async def follow(index: int) -> VideoResult:
            execution_id = execution_ids[index]

            async def progress(status: str, elapsed: float, total: float, message: str) -> None:
                nonlocal told
                ended = final(status)
                shares[index] = max(shares[index], 1.0 if ended else min(elapsed / total, 0.99) if total else 0.0)
                done = sum(shares)
                value = round(done if done == count else min(max(done, told + _CREEP), count - _CREEP), 4)
                if value > told:
                    told = value
                    await ctx.report_progress(told, count, f"{execution_id}: {message}")

            outcome = await app.jobs.wait(execution_id, budget, progress)
            job = outcome.job
            return video_result(job, waited=outcome.waited, saving=app.jobs.saving(job), links=caller)

        items = await each(count, follow, action="wait_for_videos", execution_ids=list(execution_ids))
        return batch_answer(
            items,
            "Give the user the saved files of the completed ones; call wait_for_videos again with the execution_ids "
            "whose done is false; for the ones not ok, do what each says.",
        )

    return await answer(work, action="wait_for_videos", seconds=budget + WAIT_MARGIN, remote=links(ctx) is not None)


def register(server: MCPServer[AppState], default_wait: float, wait_cap: float) -> None:
    server.add_tool(
        wait_for_videos,
        title="Wait for several videos",
        description=DESCRIPTION.format(most=MAX_WAIT, default=default_wait, cap=wait_cap),
        annotations=ToolAnnotations(
            title="Wait for several videos", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
