"""What a submission is expected to cost, so that a costly one can ask the user first (HEYGEN_CONFIRM_ABOVE_USD).

Only the Video Agent has a known price ($0.0333 per second of finished video). Its length is the one the
prompt names ("a 60-second explainer", "2 minutes"), else 60 s, the length HeyGen's agent tends to make. The
13 model providers' prices are not published per call, so their requests are never estimated (never held)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.providers import DEFAULT_ASPECT_RATIO, DEFAULT_PROVIDER
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.routes import VIDEO_AGENT, VIDEO_AGENT_USD_PER_SECOND

DEFAULT_AGENT_SECONDS: Final = 60.0
# "90-second", "90 seconds", "90s", "1.5 minutes", "2-min": the first length the prompt names.
_LENGTH: Final = re.compile(r"(\d+(?:\.\d+)?)\s*-?\s*(seconds?|secs?|s|minutes?|mins?)\b", re.IGNORECASE)


_TEXT: Final = ("prompt", "provider", "aspect_ratio")
_URLS: Final = ("reference_image_url", "tail_image_url")


@dataclass(frozen=True)
class Estimate:
    usd: float
    words: str  # how it was reached, for the user deciding


def agent_seconds(prompt: str) -> float | None:
    """The length a Video Agent prompt names, in seconds; None when it names none."""
    found = _LENGTH.search(prompt)
    if found is None:
        return None
    amount = float(found.group(1))
    return amount * 60 if found.group(2).lower().startswith("m") else amount


def estimate(tool: str, arguments: dict[str, Any]) -> Estimate | None:
    """The estimated cost of a generate_video (or generate_videos) call's Video Agent videos; None when it has
    none, or when a request is not valid (its call answers with the error, and sends nothing for it)."""
    items = arguments.get("requests") if tool == "generate_videos" else [arguments]
    if not isinstance(items, list):
        return None
    usd = 0.0
    parts: list[str] = []
    for item in items:
        request = _request(item)
        if request is None:
            return None
        if request.provider != VIDEO_AGENT:
            continue
        named = agent_seconds(request.prompt)
        seconds = DEFAULT_AGENT_SECONDS if named is None else named
        usd += seconds * VIDEO_AGENT_USD_PER_SECOND
        parts.append(f"{seconds:.0f} s" + ("" if named else " (no length named in the prompt, so 60 s assumed)"))
    if not parts:
        return None
    rate = f"${VIDEO_AGENT_USD_PER_SECOND} per second of finished video"
    return Estimate(usd, f"about ${usd:.2f}: Video Agent, {' + '.join(parts)} at {rate}")


def _request(item: Any) -> VideoRequest | None:
    """A request's arguments checked as generate_video checks them; None if they are not valid."""
    if not isinstance(item, dict) or not isinstance(item.get("prompt"), str):
        return None
    if any(not isinstance(item.get(key, ""), str) for key in _TEXT) or not isinstance(item.get("config"), dict | None):
        return None
    if any(not isinstance(item.get(key), str | None) for key in _URLS):
        return None
    try:
        return VideoRequest.checked(
            prompt=item["prompt"],
            provider=item.get("provider", DEFAULT_PROVIDER),
            aspect_ratio=item.get("aspect_ratio", DEFAULT_ASPECT_RATIO),
            reference_image_url=item.get("reference_image_url"),
            tail_image_url=item.get("tail_image_url"),
            config=item.get("config"),
        )
    except errors.HeyGenError:
        return None
