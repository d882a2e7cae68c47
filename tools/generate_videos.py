"""generate_videos: submit several prompts in one call, each checked and guarded against duplicates alone."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.batch import MAX_GENERATE, each
from heygen_video_mcp.tools.calls import AppState, links, state
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.generate_video import AllowDuplicate, AspectRatio, Config, ImageUrl, Prompt, ProviderParam
from heygen_video_mcp.tools.providers import DEFAULT_ASPECT_RATIO, DEFAULT_PROVIDER
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.results import BatchResult, VideoResult, batch_answer, video_result

DESCRIPTION = f"""Start rendering several AI videos with HeyGen in one call (at most {MAX_GENERATE}): a storyboard's
shots, one idea in several aspect ratios, or takes with different providers. Each request has the same fields
as generate_video and is handled on its own: checked, guarded against duplicates (an identical request made in
the last few minutes, including an identical one earlier in this list, returns the existing job with
duplicate=true), and submitted. Each one is a paid HeyGen job.

Returns one result per request, in order: ok=true with the job (execution_id), or ok=false with why (bad
input in that request, a HeyGen error) and what to do; one failure does not stop the others. Then call
wait_for_videos with the execution_ids."""


class VideoSpec(BaseModel):
    """One request of generate_videos: generate_video's arguments."""

    model_config = ConfigDict(extra="forbid")

    prompt: Prompt
    provider: ProviderParam = DEFAULT_PROVIDER
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO
    reference_image_url: ImageUrl = None
    tail_image_url: ImageUrl = None
    config: Config = None
    allow_duplicate: AllowDuplicate = False


# Items arrive as plain JSON and are checked one by one here, so a malformed one fails alone; the schema
# still shows a client what each request holds.
Requests = Annotated[
    list[Any],
    Field(
        description=f"The videos to make, 1 to {MAX_GENERATE}, each with generate_video's fields.",
        json_schema_extra={"items": VideoSpec.model_json_schema(), "minItems": 1, "maxItems": MAX_GENERATE},
    ),
]


def spec(index: int, item: Any) -> tuple[VideoRequest, bool]:
    """Request `index`, checked as generate_video checks its arguments, and its allow_duplicate."""
    try:
        given = VideoSpec.model_validate(item)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'the request'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidInput(
            f"request {index} is not valid ({problems}). Give an object with a prompt and, optionally, provider, "
            "aspect_ratio, reference_image_url, tail_image_url, config and allow_duplicate."
        ) from None
    request = VideoRequest.checked(**given.model_dump(exclude={"allow_duplicate"}))
    return request, given.allow_duplicate


async def generate_videos(ctx: Context[AppState, Any], requests: Requests) -> Annotated[CallToolResult, BatchResult]:
    app = state(ctx)

    async def work() -> CallToolResult:
        caller = links(ctx)
        if not 1 <= len(requests) <= MAX_GENERATE:
            raise InvalidInput(
                f"requests has {len(requests)} items; give 1 to {MAX_GENERATE} per call (split a longer list)."
            )

        async def submit(index: int) -> VideoResult:
            request, allow_duplicate = spec(index, requests[index])
            outcome = await app.jobs.submit(request, allow_duplicate=allow_duplicate)
            return video_result(outcome.job, duplicate=outcome.duplicate, links=caller)

        items = await each(len(requests), submit, action="generate_videos", execution_ids=[None] * len(requests))
        return batch_answer(
            items,
            "Call wait_for_videos with the execution_ids of the ok items (again while some are not done); fix or "
            "retry the failed ones as each says.",
        )

    return await answer(work, action="generate_videos", seconds=app.call_seconds, remote=links(ctx) is not None)


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        generate_videos,
        title="Generate several videos",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Generate several videos",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
