"""HeyGen's contract as the sandbox reads it, on its own: its paths, its providers and aspect ratios, and how
the server under test names a job. It shares nothing with the client it stands in for (tools/routes.py,
tools/providers.py), so a wrong path or provider name there meets a 404 or a 400 here, as it would at HeyGen.
Where each fact comes from: docs/heygen-api.md."""

from __future__ import annotations

import re
from typing import Final

EXECUTIONS: Final = "/v1/workflows/executions"
VIDEO_AGENTS: Final = "/v3/video-agents"
VIDEOS: Final = "/v3/videos"
VIDEO_STATUSES: Final = "/v3/videos/statuses"  # ?video_ids=a,b: up to 100 in one read
USERS_ME: Final = "/v3/users/me"

# The executions API's providers, as the contract lists them.
PROVIDERS: Final = (
    "veo_3_1",
    "veo_3_1_fast",
    "veo3",
    "veo3_fast",
    "veo2",
    "kling_pro",
    "kling_v2",
    "sora_v2",
    "sora_v2_pro",
    "runway_gen4",
    "seedance_lite",
    "seedance_pro",
    "ltx_distilled",
)
DEFAULT_PROVIDER: Final = "veo_3_1"
DEFAULT_ASPECT_RATIO: Final = "16:9"
_ASPECT_RATIO: Final = re.compile(r"([1-9][0-9]?):([1-9][0-9]?)")

# How the server under test names a Video Agent job (its video's id, or its session's until it names one):
# the sandbox's helpers take the server's ids, so tests can ask about a job as the server knows it.
_AGENT: Final = "video_agent:"
_SESSION: Final = "video_agent:session:"


def aspect_ratio(value: str) -> tuple[int, int] | None:
    """(width, height) for a valid `W:H`, else None."""
    match = _ASPECT_RATIO.fullmatch(value.strip())
    return None if match is None else (int(match.group(1)), int(match.group(2)))


def agent_job_id(video_id: str) -> str:
    return _AGENT + video_id


def session_of(job_id: str) -> str | None:
    return job_id.removeprefix(_SESSION) if job_id.startswith(_SESSION) else None


def status_path(job_id: str) -> str:
    """The path the server reads a job's status at."""
    if (session := session_of(job_id)) is not None:
        return f"{VIDEO_AGENTS}/{session}"
    if job_id.startswith(_AGENT):
        return f"{VIDEOS}/{job_id.removeprefix(_AGENT)}"
    return f"{EXECUTIONS}/{job_id}"
