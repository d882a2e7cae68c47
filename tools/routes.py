"""Every HeyGen API path this server uses, and how a job's id says which API it belongs to: a Video Agent job
is "video_agent:<video_id>" (or "video_agent:session:<session_id>" until its session names the video), any
other is an executions-API id, so one id field serves both APIs. What each path promises, and where HeyGen says
so: docs/heygen-api.md.
"""

from __future__ import annotations

from typing import Final, Literal

Backend = Literal["executions", "video_agent"]

EXECUTIONS: Final = "/v1/workflows/executions"
VIDEO_AGENTS: Final = "/v3/video-agents"
VIDEOS: Final = "/v3/videos"
VIDEO_STATUSES: Final = "/v3/videos/statuses"  # ?video_ids=a,b: up to 100 in one read (heygen-cli gen/video.go)
STATUSES_PER_READ: Final = 100
USERS_ME: Final = "/v3/users/me"
# The Video Agent's price (docs/heygen-api.md).
VIDEO_AGENT_USD_PER_SECOND: Final = 0.0333
VIDEO_AGENT_PREFIX: Final = "video_agent:"
SESSION_PREFIX: Final = "video_agent:session:"
# The provider value that selects the Video Agent in generate_video.
VIDEO_AGENT: Final = "video_agent"


def backend_of(job_id: str) -> Backend:
    return "video_agent" if job_id.startswith(VIDEO_AGENT_PREFIX) else "executions"


def job_id(backend: Backend, heygen_id: str) -> str:
    """The id the assistant sees for HeyGen's id of a job."""
    return VIDEO_AGENT_PREFIX + heygen_id if backend == "video_agent" else heygen_id


def heygen_id(job_id: str) -> str:
    """HeyGen's own id inside one of ours."""
    return job_id.removeprefix(VIDEO_AGENT_PREFIX)


def session_job_id(session_id: str) -> str:
    """The id of a Video Agent job whose POST named no video: its session's."""
    return SESSION_PREFIX + session_id


def session_of(job_id: str) -> str | None:
    """The session id inside a session job id, or None for any other id."""
    return job_id.removeprefix(SESSION_PREFIX) if job_id.startswith(SESSION_PREFIX) else None


def status_path(job_id: str) -> str:
    if (session := session_of(job_id)) is not None:
        return f"{VIDEO_AGENTS}/{session}"
    base = VIDEOS if backend_of(job_id) == "video_agent" else EXECUTIONS
    return f"{base}/{heygen_id(job_id)}"
