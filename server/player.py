"""A player in the chat (MCP Apps): `wait_for_video` and `check_status` are bound to a `ui://` page that plays
the video with its prompt, provider and aspect ratio. Hosts without MCP Apps ignore the binding and show
the same text and resource link as before: the results do not change, only the tools' `_meta` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from mcp.server.apps import Apps, ResourceCsp
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

PLAYER_URI: Final = "ui://heygen-video/player.html"

# What a tool carries to say "render my results with the player" (`_meta.ui.resourceUri`).
TOOL_META: Final[dict[str, Any]] = {"ui": {"resourceUri": PLAYER_URI}}

# Where HeyGen serves finished videos (the API documents resource.heygen.ai). A host's sandbox lets the page
# load media only from the origins declared here, so the API's own origin is added for the sandbox or a proxy.
HEYGEN_VIDEO_ORIGINS: Final = ("https://*.heygen.ai", "https://*.heygen.com")


def player_extension(api_base_url: str, public_url: str | None = None) -> Apps:
    """The MCP Apps extension with the player page, allowed to play videos from HeyGen, `api_base_url` and
    (remote mode) this server's `public_url`, where its signed video links point (without one, each read
    adds the caller's own address: play_from_caller_origin)."""
    origins = [*HEYGEN_VIDEO_ORIGINS, *(_origin(url) for url in (api_base_url, public_url) if url)]
    apps = Apps()
    apps.add_html_resource(
        PLAYER_URI,
        # Beside this module (package data); read as a plain file, which costs the server's start no imports.
        Path(__file__).with_name("player.html").read_text(encoding="utf-8"),
        name="video-player",
        title="HeyGen video player",
        description="Plays a finished video with its prompt, provider, aspect ratio and a download link.",
        csp=ResourceCsp(resource_domains=origins),
        prefers_border=True,
    )
    return apps


async def play_from_caller_origin(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """Middleware for remote mode without a public URL, where video links point at the address each caller
    reached this server by (its Host, which the DNS-rebinding check has vouched for): the player page read
    over HTTP may play from that origin too, declared in its `_meta.ui.csp`."""
    result = await call_next(ctx)
    base_url = getattr(ctx.request, "base_url", None)  # a Starlette request over HTTP; none on stdio
    if ctx.method != "resources/read" or base_url is None:
        return result
    # The result as it goes on the wire, this read's own (a handler's model is dumped as the SDK would).
    wire = result.model_dump(mode="json", by_alias=True, exclude_none=True) if isinstance(result, BaseModel) else result
    origin = _origin(str(base_url))
    for content in (wire or {}).get("contents", []):
        domains = content.get("_meta", {}).get("ui", {}).get("csp", {}).get("resourceDomains")
        if content.get("uri") == PLAYER_URI and isinstance(domains, list) and origin not in domains:
            domains.append(origin)
    return wire


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
