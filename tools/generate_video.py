"""generate_video: submit one prompt to HeyGen, once."""

from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, links, state
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.providers import (
    COMMON_ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_PROVIDER,
    PROVIDER_VALUES,
)
from heygen_video_mcp.tools.request import (
    MAX_AGENT_PROMPT_CHARS,
    MAX_PROMPT_CHARS,
    VideoRequest,
    read_local_image,
)
from heygen_video_mcp.tools.results import VideoAnswer, job_answer
from heygen_video_mcp.tools.routes import VIDEO_AGENT, VIDEO_AGENT_USD_PER_SECOND

DESCRIPTION = f"""Start rendering an AI video with HeyGen from a text prompt (optionally animating an image).

Write the prompt like a shot description, in detail: the subject and action, the setting, camera movement
(dolly-in, drone shot, slow pan, handheld), lighting (golden hour, neon, soft window light), style
(cinematic, documentary, anime, product ad) and mood. Vague prompts give vague videos.

Each call creates a paid HeyGen job. Rendering takes 1-5 minutes, so this returns at once with an
execution_id; then call wait_for_video with it (repeatedly, until done) to follow the render and get the
video. An identical request made in the last few minutes is not sent again: its existing execution is
returned (duplicate=true); pass allow_duplicate=true only when the user really wants a second copy.

provider defaults to {DEFAULT_PROVIDER} (highest quality); use ltx_distilled or veo3_fast when speed matters
(list_providers describes them all). These 13 model providers make one raw clip through HeyGen's v1
executions API, which HeyGen retired on November 1, 2026: if it answers as retired, tell the user and offer
provider="video_agent" instead, but only with their consent, since it is a different product.
provider="video_agent" is HeyGen's v3 Video Agent: it writes a script and makes a produced video with scenes,
narration and an AI avatar presenter, at $0.0333 per second of finished video (a 60 s video is about
$2); it takes 16:9 or 9:16, reference_image_url as a file, no tail_image_url, and config keys avatar_id,
voice_id and style_id. Its execution_id looks like "video_agent:<video_id>"; every tool takes it as returned.
aspect_ratio: {", ".join(f"{k} {v}" for k, v in COMMON_ASPECT_RATIOS.items())}."""

Prompt = Annotated[
    str,
    Field(
        description=(
            "Detailed description of the video: subject, action, setting, camera movement, lighting, style, "
            f"mood. At most {MAX_PROMPT_CHARS} characters ({MAX_AGENT_PROMPT_CHARS} for video_agent, where it may "
            "also say what the presenter should say)."
        )
    ),
]
# A plain string with the enum in the schema: an unknown value reaches our check, whose answer lists the
# valid ones in one sentence, instead of pydantic's validation report.
ProviderParam = Annotated[
    str,
    Field(
        description="HeyGen provider. veo_3_1 = highest quality; ltx_distilled = fastest; video_agent = HeyGen's "
        "v3 Video Agent (a produced video with an avatar presenter, about $0.033 per second).",
        json_schema_extra={"enum": list(PROVIDER_VALUES)},
    ),
]
AspectRatio = Annotated[
    str,
    Field(description="Frame shape as W:H: 16:9 landscape, 9:16 vertical (stories, reels), 1:1 square."),
]
ImageUrl = Annotated[
    str | None,
    Field(description="Public http(s) URL of an image."),
]
Config = Annotated[
    dict[str, Any] | None,
    Field(
        description="Provider-specific configuration overrides, passed to HeyGen unchanged. Usually omit. For "
        "video_agent only avatar_id, voice_id and style_id (HeyGen ids)."
    ),
]
AllowDuplicate = Annotated[
    bool,
    Field(description="Submit even if an identical request was made in the last few minutes (pays again)."),
]


async def generate_video(
    ctx: Context[AppState, Any],
    prompt: Prompt,
    provider: ProviderParam = DEFAULT_PROVIDER,
    aspect_ratio: AspectRatio = DEFAULT_ASPECT_RATIO,
    reference_image_url: Annotated[
        ImageUrl, Field(description="Image to animate (image-to-video), as a public http(s) URL.")
    ] = None,
    tail_image_url: Annotated[
        ImageUrl, Field(description="Image the video should end on (last-frame guidance), as a public http(s) URL.")
    ] = None,
    config: Config = None,
    allow_duplicate: AllowDuplicate = False,
    reference_image_path: Annotated[
        str | None,
        Field(
            description="Instead of reference_image_url: the full path of a PNG or JPEG image on this computer "
            "(at most 32 MB), uploaded to HeyGen first. Only when this server runs on the user's computer (stdio)."
        ),
    ] = None,
) -> Annotated[CallToolResult, VideoAnswer]:
    app = state(ctx)
    remote = links(ctx) is not None

    async def work() -> CallToolResult:
        image = None
        if reference_image_path is not None and reference_image_path.strip():
            if remote:  # the path would name a file on the server's machine, not the user's
                raise InvalidInput(
                    "reference_image_path names a file on your computer, but this server runs remotely and cannot "
                    "read it. Give the image as reference_image_url (a public http(s) URL). Nothing was sent."
                )
            image = await anyio.to_thread.run_sync(read_local_image, reference_image_path)
        request = VideoRequest.checked(
            prompt=prompt,
            provider=provider,
            aspect_ratio=aspect_ratio,
            reference_image_url=reference_image_url,
            tail_image_url=tail_image_url,
            config=config,
            reference_image=image,
        )
        outcome = await app.jobs.submit(request, allow_duplicate=allow_duplicate)
        # What the user pays, said with the job.
        price = request.provider == VIDEO_AGENT and not outcome.duplicate
        note = f" Price: ${VIDEO_AGENT_USD_PER_SECOND} per second of finished video." if price else ""
        return job_answer(outcome.job, duplicate=outcome.duplicate, links=links(ctx), note=note)

    return await answer(work, action="generate_video", seconds=app.call_seconds, remote=remote)


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        generate_video,
        title="Generate a video",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Generate a video",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
    )
