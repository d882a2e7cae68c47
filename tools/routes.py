"""Every HeyGen API path this server uses, and how a job's id says which API it belongs to.

Two HeyGen APIs make videos here:
- "executions": the contract's v1 workflow executions API (heygen-video-generation-api.txt), which runs one
  provider model (VEO, Kling, Sora, ...). HeyGen's "Endpoint Version Comparison" and "legacy API" pages
  (developers.heygen.com, read 2026-11-25) give v1/v2 as supported through 2026-10-31 and retired from
  2026-11-01, so this route may answer as gone.
- "video_agent": HeyGen's v3 Video Agent. What this relies on, from HeyGen's own pages (read 2026-11-25):
  * developers.heygen.com/reference/create-video-with-video-agent: POST /v3/video-agents, header x-api-key,
    flat JSON body: prompt (1-10000 characters, required), avatar_id, voice_id, style_id (strings or null),
    orientation ("landscape" | "portrait"; auto-detected when absent), files (at most 20, each
    {"type": "url", "url": https URL} | {"type": "asset_id", ...} | {"type": "base64", ...}), callback_url,
    callback_id, incognito_mode. The answer is {"data": {"session_id", "video_id", "status", "created_at"}}
    (quick start); heygen-com/skills references/api-reference.md: "Always capture session_id. Cannot be
    recovered later via GET."
  * developers.heygen.com/reference/get-video: GET /v3/videos/{video_id} ->
    {"data": {"id", "status", "video_url", "thumbnail_url", "duration", "failure_code", "failure_message",
    ...}}; status pending -> processing -> completed | failed (skills api-reference.md, "Polling").
  * developers.heygen.com/docs/error-codes: errors are {"error": {"code", "message", "doc_url"}}; 402 means
    insufficient credits (code insufficient_credit). The May 2026 changelog's Idempotency-Key list does not
    include /v3/video-agents, so a submission here is guarded like the executions API: never blindly resent.
  * Cost: $0.0333 per second of video (skills api-reference.md, "Pricing").

A Video Agent job is shown to the assistant, stored and looked up as "video_agent:<video_id>", so one id
field serves both APIs, the two never collide in the library, and every tool knows where to ask.

HeyGen's v3 OpenAPI spec (heygen-com/heygen-cli gen/video-agent.go, 2026-07-22) promises less than the quick
start: the POST's session_id ("primary identifier"), status and created_at are required, its video_id is
nullable. A job whose POST names its video keeps "video_agent:<video_id>" (so ids already in libraries and in
conversations keep working, and it is read through /v3/videos, one request, batchable); one whose POST names
none is "video_agent:session:<session_id>" for life, read through its session (GET /v3/video-agents/{id})
until the session names the video, then through /v3/videos (tools/videoagent.py). Every Video Agent job keeps
its session id, which is what a stop needs.
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
# What the Video Agent's config may name (heygen-cli gen/video-agent.go, gen/avatar.go, gen/voice.go): its
# styles (style_id), avatar looks (id, as avatar_id) and voices (voice_id); each answers one page.
AGENT_STYLES: Final = "/v3/video-agents/styles"
AVATAR_LOOKS: Final = "/v3/avatars/looks"
VOICES: Final = "/v3/voices"
ASSETS: Final = "/v3/assets"  # multipart "file", at most 32 MB -> {data: {asset_id, url}} (heygen-cli gen/asset.go)
# The Video Agent's price (skills api-reference.md, "Pricing").
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


def create_path(backend: Backend) -> str:
    return VIDEO_AGENTS if backend == "video_agent" else EXECUTIONS


def status_path(job_id: str) -> str:
    if (session := session_of(job_id)) is not None:
        return f"{VIDEO_AGENTS}/{session}"
    base = VIDEOS if backend_of(job_id) == "video_agent" else EXECUTIONS
    return f"{base}/{heygen_id(job_id)}"
