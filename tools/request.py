"""What a caller may ask for, checked before anything is sent to HeyGen."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from heygen_video_mcp.tools.errors import InvalidInput
from heygen_video_mcp.tools.providers import PROVIDER_VALUES, Provider, parse_aspect_ratio
from heygen_video_mcp.tools.publichost import local_host
from heygen_video_mcp.tools.routes import SESSION_PREFIX, VIDEO_AGENT, VIDEO_AGENT_PREFIX
from heygen_video_mcp.tools.status import JOB_STATUSES

# The contract sets no prompt limit; HeyGen's providers take a few thousand characters at most. The Video
# Agent takes up to 10,000 (its reference page), room for a script.
MAX_PROMPT_CHARS: Final = 5000
MAX_AGENT_PROMPT_CHARS: Final = 10_000
MAX_URL_CHARS: Final = 2048
MAX_CONFIG_BYTES: Final = 10_000
# Ids HeyGen hands out look like "node-gw-v1d2e3o4" (a Video Agent video's, "video_agent:<video_id>"):
# anything that could change the URL path is refused.
_EXECUTION_ID: Final = re.compile(rf"({SESSION_PREFIX}|{VIDEO_AGENT_PREFIX})?[A-Za-z0-9][A-Za-z0-9_-]{{0,127}}")
# The Video Agent's two orientations, and the optional fields of its request that config may set.
ORIENTATIONS: Final = {"16:9": "landscape", "9:16": "portrait"}
AGENT_CONFIG_KEYS: Final = ("avatar_id", "voice_id", "style_id")
# Characters a person cannot see: zero-width spaces and joiners, the BOM. str.split() does not treat them
# as whitespace, so they are dropped before comparing requests.
_INVISIBLE: Final = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# Control characters (C0 and DEL) have no place in any argument: a NUL is refused by PostgreSQL, cuts a path
# short, and would reach HeyGen from SQLite. Text that may run over lines (a prompt, config's text values)
# keeps tab, line feed and carriage return; ids, names, folders, URLs and filters are one plain line.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class VideoRequest:
    prompt: str
    provider: Provider
    aspect_ratio: str
    reference_image_url: str | None = None
    tail_image_url: str | None = None
    config: dict[str, Any] | None = None

    @classmethod
    def checked(
        cls,
        *,
        prompt: str,
        provider: str,
        aspect_ratio: str,
        reference_image_url: str | None = None,
        tail_image_url: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> VideoRequest:
        refuse_control("prompt", prompt, text=True)
        for name, value in (
            ("provider", provider),
            ("aspect_ratio", aspect_ratio),
            ("reference_image_url", reference_image_url),
            ("tail_image_url", tail_image_url),
        ):
            refuse_control(name, value)
        refuse_control("config", config, text=True)
        prompt = _visible(prompt).strip()
        if not prompt:
            raise InvalidInput(
                "prompt is empty. Describe the video: subject, setting, camera movement, lighting, style, mood."
            )
        limit = MAX_AGENT_PROMPT_CHARS if provider == VIDEO_AGENT else MAX_PROMPT_CHARS
        if len(prompt) > limit:
            raise InvalidInput(
                f"prompt is {len(prompt)} characters; the limit is {limit}. Shorten it and keep "
                "the essentials: subject, action, camera, lighting, mood."
            )
        if provider not in PROVIDER_VALUES:
            raise InvalidInput(f"provider {provider!r} is unknown. Valid providers: {', '.join(PROVIDER_VALUES)}.")
        ratio = parse_aspect_ratio(aspect_ratio)
        if ratio is None:
            raise InvalidInput(
                f"aspect_ratio {aspect_ratio[:40]!r} is not W:H. Use 16:9 (landscape), 9:16 (vertical, "
                "social stories and reels) or 1:1 (square)."
            )
        if config is not None and len(_config_json(config)) > MAX_CONFIG_BYTES:
            raise InvalidInput(f"config is larger than {MAX_CONFIG_BYTES} bytes of JSON; pass only the overrides.")
        if provider == VIDEO_AGENT:
            _check_agent(f"{ratio[0]}:{ratio[1]}", reference_image_url, tail_image_url, config)
        return cls(
            prompt=prompt,
            provider=provider,  # type: ignore[arg-type]  # checked against PROVIDER_VALUES above
            aspect_ratio=f"{ratio[0]}:{ratio[1]}",
            reference_image_url=checked_url("reference_image_url", reference_image_url),
            tail_image_url=checked_url("tail_image_url", tail_image_url),
            # An empty config asks for nothing: it is the same request as none, and is not sent.
            config=config or None,
        )

    def api_input(self) -> dict[str, Any]:
        """The contract's `input` object; optional fields are left out when unset, as in HeyGen's sample."""
        body: dict[str, Any] = {"prompt": self.prompt, "provider": self.provider, "aspect_ratio": self.aspect_ratio}
        for key in ("reference_image_url", "tail_image_url", "config"):
            value = getattr(self, key)
            if value is not None:
                body[key] = value
        return body

    def video_agent_body(self) -> dict[str, Any]:
        """POST /v3/video-agents' body (tools/routes.py says from where): the aspect ratio as orientation, the
        reference image as a file, config's avatar_id, voice_id and style_id as they are."""
        body: dict[str, Any] = {"prompt": self.prompt, "orientation": ORIENTATIONS[self.aspect_ratio]}
        if self.reference_image_url is not None:
            body["files"] = [{"type": "url", "url": self.reference_image_url}]
        return body | (self.config or {})

    def fingerprint(self) -> str:
        """Equal for requests that would buy the same video. Not differences: Unicode normalisation form,
        whitespace runs and invisible characters in the prompt, 8 against 8.0, key order, {} against no config."""
        canonical = _canonical(dict(self.api_input(), prompt=" ".join(self.prompt.split())))
        return hashlib.sha256(json.dumps(canonical, sort_keys=True, allow_nan=False).encode()).hexdigest()


def _check_agent(
    ratio: str, reference_image_url: str | None, tail_image_url: str | None, config: dict[str, Any] | None
) -> None:
    """What the Video Agent cannot take, said before anything is sent."""
    if ratio not in ORIENTATIONS:
        raise InvalidInput(
            f"video_agent makes landscape or portrait videos only: use aspect_ratio 16:9 or 9:16, not {ratio} "
            "(or a model provider such as veo_3_1 for other shapes)."
        )
    if tail_image_url and tail_image_url.strip():
        raise InvalidInput(
            "video_agent has no last-frame guidance, so tail_image_url cannot be used with it: leave it out, "
            "pass the image as reference_image_url, or use a model provider such as kling_pro."
        )
    if reference_image_url and not reference_image_url.strip().startswith("https://"):
        raise InvalidInput("video_agent fetches reference_image_url itself and needs an https:// URL.")
    for key, value in (config or {}).items():
        if key not in AGENT_CONFIG_KEYS:
            raise InvalidInput(
                f"config key {key[:40]!r} is not a Video Agent option; video_agent takes only "
                f"{', '.join(AGENT_CONFIG_KEYS)} (HeyGen ids, from the HeyGen app or its API)."
            )
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidInput(f"config {key} must be a HeyGen id: a non-empty string of at most 200 characters.")


def _visible(text: str) -> str:
    return unicodedata.normalize("NFC", text).translate(_INVISIBLE)


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return _visible(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {_visible(str(key)): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


def _config_json(config: dict[str, Any]) -> str:
    try:
        return json.dumps(config, allow_nan=False)
    except ValueError:
        raise InvalidInput(
            "config contains NaN or Infinity, which JSON cannot carry; use ordinary numbers. Nothing was sent."
        ) from None
    except TypeError as exc:
        raise InvalidInput(f"config must hold only JSON values ({exc}). Nothing was sent.") from None


def refuse_control(name: str, value: object, *, text: bool = False) -> None:
    """Raise InvalidInput, naming argument `name`, if `value` holds a control character: anywhere in a
    string, or in a dict's keys or a dict's or list's items at any depth. With `text`, strings (not keys)
    may hold tabs and line breaks."""
    found = _control_in(value, _CONTROL_IN_TEXT if text else _CONTROL)
    if found is not None:
        allowed = "only tabs and line breaks are allowed in it" if text else "it must be one line of plain text"
        raise InvalidInput(
            f"{name} contains a control character ({found!r}), which no argument may hold: {allowed}. Remove it "
            "and call again; nothing was sent."
        )


def _control_in(value: object, pattern: re.Pattern[str]) -> str | None:
    if isinstance(value, str):
        match = pattern.search(value)
        return match[0] if match else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _control_in(str(key), _CONTROL) or _control_in(item, pattern)
            if found is not None:
                return found
    if isinstance(value, list | tuple):
        for item in value:
            if (found := _control_in(item, pattern)) is not None:
                return found
    return None


def checked_url(name: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(value) > MAX_URL_CHARS:
        raise InvalidInput(
            f"{name} must be a public http(s) URL of an image (at most {MAX_URL_CHARS} characters), "
            f"e.g. https://example.com/photo.png; got {value[:60]!r}."
        )
    return value


def refuse_local_images(request: VideoRequest, *, allow_loopback: bool) -> None:
    """HeyGen fetches the image URLs it is given: one at a local or private address would have it (or a
    HeyGen stand-in on this network) fetch from this machine's network. Loopback is allowed only while HeyGen
    itself is on loopback (the sandbox), which then fetches from this machine by design."""
    for name in ("reference_image_url", "tail_image_url"):
        url = getattr(request, name)
        what = local_host(url, allow_loopback=allow_loopback) if url else None
        if what is not None:
            raise InvalidInput(
                f"{name} points at {urlsplit(url).hostname}, {what}, which HeyGen cannot fetch from and this "
                "server does not let it try. Give a public http(s) URL of the image (e.g. on a CDN or image "
                "host), such as https://example.com/photo.png. Nothing was sent."
            )


def is_execution_id(value: str) -> bool:
    """The one check of an execution id, wherever one comes in (a tool's argument, a resource or link path)."""
    return _EXECUTION_ID.fullmatch(value) is not None


def checked_execution_id(value: str) -> str:
    refuse_control("execution_id", value)
    value = value.strip()
    if not is_execution_id(value):
        raise InvalidInput(
            f"execution_id {value[:40]!r} is not a HeyGen execution id.",
            advice="Use the execution_id that generate_video returned (letters, digits, '-' and '_', like "
            "'node-gw-v1d2e3o4', or 'video_agent:' and a video id for a Video Agent video); list_videos shows "
            "the ones this server has submitted.",
        )
    return value


MAX_LIMIT: Final = 200
MAX_QUERY_CHARS: Final = 200


def check_filters(status: str | None, limit: int, query: str | None) -> None:
    """What list_videos and the command line's `list` accept; InvalidInput says what is valid."""
    refuse_control("status", status)
    refuse_control("query", query)
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInput(f"status {status[:40]!r} is unknown; use one of {', '.join(JOB_STATUSES)}, or omit it.")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}; got {limit}.")
    if query is not None and len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"query is {len(query)} characters; use at most {MAX_QUERY_CHARS} (a few words).")
