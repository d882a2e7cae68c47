"""What the Video Agent's config may name: its styles (GET /v3/video-agents/styles), avatar looks
(GET /v3/avatars/looks, whose id is the avatar_id) and voices (GET /v3/voices), one page of each (heygen-cli
gen/video-agent.go, gen/avatar.go, gen/voice.go). Three reads at once, kept 10 minutes per HeyGen key: the lists
change rarely, and an assistant choosing looks at them several times in a conversation."""

from __future__ import annotations

import time
import weakref
from typing import Any, Final

import anyio
from pydantic import BaseModel, ConfigDict, Field

from heygen_video_mcp.tools import errors, routes
from heygen_video_mcp.tools.answer import admit_errors
from heygen_video_mcp.tools.client import HeyGenClient

KEEP_SECONDS: Final = 600.0
# One page each, as large as HeyGen allows (styles and voices 1-100, looks 1-50).
_PAGES: Final = {
    "styles": f"{routes.AGENT_STYLES}?limit=100",
    "avatars": f"{routes.AVATAR_LOOKS}?limit=50",
    "voices": f"{routes.VOICES}?limit=100",
}


class Style(BaseModel):
    style_id: str
    name: str
    tags: list[str] = Field(default_factory=list)
    aspect_ratio: str | None = None
    thumbnail_url: str | None = None


class Avatar(BaseModel):
    avatar_id: str = Field(description="An avatar look's id: config's avatar_id.")
    name: str
    gender: str | None = None
    preferred_orientation: str | None = None
    default_voice_id: str | None = None
    preview_image_url: str | None = None


class Voice(BaseModel):
    voice_id: str
    name: str
    language: str | None = None
    gender: str | None = None
    preview_audio_url: str | None = None


class AgentOptions(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    styles: list[Style] = Field(description="For config's style_id: a curated visual template.")
    avatars: list[Avatar] = Field(description="For config's avatar_id: the presenter.")
    voices: list[Voice] = Field(description="For config's voice_id: the narration's voice.")
    more: dict[str, bool] = Field(description="Per list, whether HeyGen has more than this first page.")
    read_at: str = Field(description="When HeyGen was asked (ISO 8601, UTC); answers are kept 10 minutes.")
    summary: str


_kept: weakref.WeakKeyDictionary[HeyGenClient, tuple[float, AgentOptions]] = weakref.WeakKeyDictionary()


async def read(client: HeyGenClient) -> AgentOptions:
    """The options, from the last 10 minutes' answer for this key, or three reads at once."""
    kept = _kept.get(client)
    if kept is not None and time.monotonic() - kept[0] < KEEP_SECONDS:
        return kept[1]
    bodies: dict[str, Any] = {}

    async def one(name: str, path: str) -> None:
        bodies[name] = await client.v3_get(path)

    try:
        async with anyio.create_task_group() as group:
            for name, path in _PAGES.items():
                group.start_soon(one, name, path)
    except BaseExceptionGroup as failed:  # the first failure (a missing key, a refusal) says it for all three
        raise failed.exceptions[0] from None
    options = _options(bodies)
    _kept[client] = (time.monotonic(), options)
    return options


def _options(bodies: dict[str, Any]) -> AgentOptions:
    items = {name: _items(body) for name, body in bodies.items()}
    styles = [
        Style(
            style_id=i["style_id"],
            name=i["name"],
            tags=[t for t in i.get("tags") or [] if isinstance(t, str)],
            aspect_ratio=_text(i.get("aspect_ratio")),
            thumbnail_url=_text(i.get("thumbnail_url")),
        )
        for i in items["styles"]
        if _text(i.get("style_id")) and _text(i.get("name"))
    ]
    avatars = [
        Avatar(avatar_id=i["id"], name=i["name"], **{k: _text(i.get(k)) for k in _AVATAR_TEXT})
        for i in items["avatars"]
        if _text(i.get("id")) and _text(i.get("name"))
    ]
    voices = [
        Voice(voice_id=i["voice_id"], name=i["name"], **{k: _text(i.get(k)) for k in _VOICE_TEXT})
        for i in items["voices"]
        if _text(i.get("voice_id")) and _text(i.get("name"))
    ]
    more = {name: bool(body.get("has_more")) for name, body in bodies.items()}
    summary = (
        f"{len(styles)} Video Agent styles, {len(avatars)} avatars and {len(voices)} voices"
        + (" (the first page of each; HeyGen has more)" if any(more.values()) else "")
        + '. Pass the chosen ids to generate_video with provider="video_agent" as config style_id, avatar_id '
        "and voice_id; leave any out to let the agent choose."
    )
    return AgentOptions(
        styles=styles,
        avatars=avatars,
        voices=voices,
        more=more,
        read_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        summary=summary,
    )


_AVATAR_TEXT: Final = ("gender", "preferred_orientation", "default_voice_id", "preview_image_url")
_VOICE_TEXT: Final = ("language", "gender", "preview_audio_url")


def _items(body: Any) -> list[dict[str, Any]]:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise errors.UnexpectedResponse("HeyGen's list had no 'data' list. Try again shortly.")
    return [item for item in data if isinstance(item, dict)]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
