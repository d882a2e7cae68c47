"""MCP prompts: turn a person's idea into a detailed shot description and run the whole flow.

Each prompt returns one user message that asks the assistant to write the shot, show it, and then drive
generate_video -> wait_for_video until the video is saved.
"""

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Final

from mcp import MCPError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Prompt
from mcp.types import (
    INVALID_PARAMS,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from pydantic import Field

from heygen_video_mcp.tools.calls import AppState
from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.providers import COMMON_ASPECT_RATIOS, DEFAULT_PROVIDER, PROVIDER_VALUES
from heygen_video_mcp.tools.request import VideoRequest

_FLOW = f"""Then run it:
1. Call generate_video with the prompt you wrote, aspect_ratio {{aspect_ratio}} and provider {{provider}}.
2. Call wait_for_video with the execution_id it returns; while done is false, tell me it is still rendering
   and call wait_for_video again (renders take 1-5 minutes).
3. When it is completed, give me the saved file's path (the video URL is temporary). If HeyGen fails the
   job, tell me its message and suggest a revised prompt.
Provider guide: {DEFAULT_PROVIDER} is the highest quality; ltx_distilled or veo3_fast are fastest."""

_SHOT = """Write one video-generation prompt of 60-120 words, in present tense, as a single continuous shot
description. Cover, in this order: the subject and what it does; the setting and time of day; the camera
(shot size, lens feel, movement such as dolly-in, crane up, orbit, handheld, drone); the lighting (quality,
direction, colour); the visual style and film look; the mood; and any sound or ambience worth hearing.
Be concrete: name colours, materials and motion. Avoid on-screen text, logos and real people's names.
Show me the prompt in a quote block before submitting it."""


def _checked(provider: str, aspect_ratio: str, image_url: str | None = None) -> None:
    """The same checks generate_video makes, so a prompt never leads the assistant into a refused call.
    A protocol error (not a rendering failure) carries our message to the client as it is."""
    try:
        VideoRequest.checked(
            prompt="-", provider=provider, aspect_ratio=aspect_ratio, reference_image_url=image_url or None
        )
    except InvalidInput as exc:
        raise MCPError(code=INVALID_PARAMS, message=str(exc)) from None


class _CheckedPrompt(Prompt):
    """A missing argument is the caller's mistake: say which, as a protocol error the client shows as it is
    (the SDK's own check raises a plain error that reaches the client as "Internal server error")."""

    async def render(self, arguments: dict[str, Any] | None, context: Context[Any, Any]) -> Any:
        missing = [arg for arg in self.arguments or [] if arg.required and arg.name not in (arguments or {})]
        if missing:
            needed = "; ".join(f"{arg.name} ({arg.description})" for arg in missing)
            raise MCPError(code=INVALID_PARAMS, message=f"The {self.name} prompt needs: {needed}.")
        return await super().render(arguments, context)


PLATFORMS: Final = ("Instagram Reels", "TikTok", "YouTube Shorts", "Facebook Reels", "Snapchat Spotlight")
# The arguments with a known set of values, offered to clients through MCP completion (completion/complete).
CHOICES: Final[dict[str, tuple[str, ...]]] = {
    "provider": PROVIDER_VALUES,
    "aspect_ratio": tuple(COMMON_ASPECT_RATIOS),
    "platform": PLATFORMS,
}

Idea = Annotated[str, Field(description="What the video is about, in the person's own words.")]
Ratio = Annotated[str, Field(description=f"W:H; common: {', '.join(COMMON_ASPECT_RATIOS)}.")]
ProviderArg = Annotated[str, Field(description="HeyGen provider value; see list_providers.")]


def cinematic_video(
    idea: Idea,
    aspect_ratio: Ratio = "16:9",
    style: Annotated[str, Field(description="Look and feel, e.g. 'cinematic', 'documentary', 'anime'.")] = "cinematic",
    provider: ProviderArg = DEFAULT_PROVIDER,
) -> str:
    _checked(provider, aspect_ratio)
    return f"I want a {style} video about: {idea}\n\n{_SHOT}\n\n" + _FLOW.format(
        aspect_ratio=aspect_ratio, provider=provider
    )


def animate_product_photo(
    image_url: Annotated[str, Field(description="Public http(s) URL of the product photo.")],
    product: Annotated[str, Field(description="What the product is, e.g. 'a ceramic pour-over coffee set'.")],
    motion: Annotated[
        str, Field(description="The movement wanted, e.g. 'slow orbit with soft particles'.")
    ] = "a slow push-in with soft, drifting light particles",
    aspect_ratio: Ratio = "1:1",
    provider: ProviderArg = "kling_pro",
) -> str:
    _checked(provider, aspect_ratio, image_url)
    return (
        f"Animate my product photo of {product} into a short product video. Photo: {image_url}\n\n"
        "Write a prompt that keeps the product exactly as photographed (shape, colour, label) and moves the "
        f"camera and light around it: {motion}. Describe the backdrop, the lighting changes, the pace and "
        "the premium mood; the product itself must not morph. Show me the prompt before submitting it.\n\n"
        + _FLOW.format(aspect_ratio=aspect_ratio, provider=provider)
        + f"\nPass reference_image_url={image_url} to generate_video."
    )


def social_vertical_video(
    idea: Idea,
    platform: Annotated[str, Field(description=f"Where it will be posted: {', '.join(PLATFORMS)}, or another.")] = (
        "Instagram Reels"
    ),
    provider: ProviderArg = DEFAULT_PROVIDER,
) -> str:
    _checked(provider, "9:16")
    return (
        f"Make a vertical video for {platform} about: {idea}\n\n{_SHOT}\n"
        "It is for a phone screen: frame the subject in the centre third, open with a strong visual hook in "
        "the first second, keep the motion energetic, and leave room at top and bottom for captions.\n\n"
        + _FLOW.format(aspect_ratio="9:16", provider=provider)
    )


PROMPTS: Final[tuple[tuple[Callable[..., str], str, str], ...]] = (
    (
        cinematic_video,
        "Cinematic video from an idea",
        "Turn an idea into a detailed cinematic shot description, then generate and fetch the video.",
    ),
    (
        animate_product_photo,
        "Animate a product photo",
        "Image-to-video: animate a product photo with controlled camera and light, then generate and fetch the video.",
    ),
    (
        social_vertical_video,
        "Vertical social-media video",
        "A 9:16 video for Reels, TikTok or Shorts with a strong hook, then generate and fetch it.",
    ),
)
_ARGUMENTS: Final = {fn.__name__: frozenset(inspect.signature(fn).parameters) for fn, _, _ in PROMPTS}


def complete(ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument) -> Completion | None:
    """The values of a prompt argument that has a fixed set, those starting with what was typed first."""
    if not isinstance(ref, PromptReference) or argument.name not in _ARGUMENTS.get(ref.name, ()):
        return None
    typed = argument.value.casefold()
    found = [value for value in CHOICES.get(argument.name, ()) if typed in value.casefold()]
    found.sort(key=lambda value: not value.casefold().startswith(typed))
    return Completion(values=found, total=len(found), has_more=False)


def register(server: MCPServer[AppState]) -> None:
    for fn, title, description in PROMPTS:
        server.add_prompt(_CheckedPrompt.from_function(fn, title=title, description=description))

    @server.completion()  # type: ignore[no-untyped-call, untyped-decorator]  # the SDK leaves it untyped
    async def completion(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        return complete(ref, argument)
