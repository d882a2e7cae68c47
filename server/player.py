"""A player in the chat (MCP Apps): `wait_for_video` and `check_status` are bound to a `ui://` page that plays
the video with its prompt, provider and aspect ratio. Hosts without MCP Apps ignore the binding and show
the same text and resource link as before: the results do not change, only the tools' `_meta` does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from mcp.server.apps import Apps, ResourceCsp

PLAYER_URI: Final = "ui://heygen-video/player.html"

# What a tool carries to say "render my results with the player" (`_meta.ui.resourceUri`).
TOOL_META: Final[dict[str, Any]] = {"ui": {"resourceUri": PLAYER_URI}}

# Where HeyGen serves finished videos (the API documents resource.heygen.ai). A host's sandbox lets the page
# load media only from the origins declared here, so the API's own origin is added for the sandbox or a proxy.
HEYGEN_VIDEO_ORIGINS: Final = ("https://*.heygen.ai", "https://*.heygen.com")


def player_extension(api_base_url: str, public_url: str | None = None) -> Apps:
    """The MCP Apps extension with the player page, allowed to play videos from HeyGen, `api_base_url` and
    (remote mode) this server's `public_url`, where its signed video links point."""
    origins = [*HEYGEN_VIDEO_ORIGINS]
    for url in (api_base_url, public_url):
        if url:
            base = urlsplit(url)
            origins.append(f"{base.scheme}://{base.netloc}")
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
