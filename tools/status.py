"""Every state a job can be in, named once: ours around a submission, HeyGen's once it has the job, which of
them are final and which uncertain, and how each HeyGen API's words map onto them. The records the library
keeps of a job (Job) and of HeyGen's answer about it (Execution) live here too, so storage and the HTTP
client share these types without knowing each other."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

# HeyGen's side, as this server names it for both APIs (see the mappings below).
HeyGenStatus = Literal["submitted", "processing", "completed", "failed", "not_found"]
# Every status a tool reports: ours around a submission, then HeyGen's.
JobStatus = Literal["submitting", "submit_uncertain", "submitted", "processing", "completed", "failed", "not_found"]
JOB_STATUSES: Final[tuple[str, ...]] = get_args(JobStatus)

# Ours: a submission whose answer is on the way, was refused (nothing bought; never reported, as such a row
# is no job), or was lost (HeyGen may have the job, and nobody can ask which: there is no id).
SUBMITTING: Final = "submitting"
SUBMIT_FAILED: Final = "submit_failed"
SUBMIT_UNCERTAIN: Final = "submit_uncertain"

# HeyGen has the job and it is not over: its status is read again.
UNFINISHED: Final = ("submitted", "processing")
# Whether it went well or not, HeyGen's last word on a job.
ENDED: Final[frozenset[str]] = frozenset({"completed", "failed", "not_found"})
# HeyGen may or may not have the job, and waiting cannot tell: a lost answer leaves no id to follow.
UNCERTAIN: Final[frozenset[str]] = frozenset({SUBMIT_UNCERTAIN})
# Nothing more will change by waiting: what `done` says, and what ends a wait. (submit_uncertain is final
# for waiting, though HeyGen may be rendering it: only the user's dashboard can settle it.)
FINAL: Final[frozenset[str]] = ENDED | UNCERTAIN | {SUBMIT_FAILED}


def final(status: str) -> bool:
    return status in FINAL


# The executions API and v3 videos name submitted/completed/failed/not_found, older answers pending/processing,
# and anything else means "read again": queue-like words stay submitted, the rest processing.
_QUEUED: Final = frozenset({"submitted", "pending", "queued", "waiting"})
# A v3 Video Agent session: thinking (no video yet), reviewing and generating are the session at work;
# waiting_for_input asks the user something, and as this server runs the agent in generate mode only, that
# ends the job (failed, with the question: tools/videoagent.py); completed, failed.
SESSION_WORKING: Final[dict[str, HeyGenStatus]] = {
    "thinking": "submitted",
    "reviewing": "processing",
    "generating": "processing",
}
SESSION_WORDS: Final[dict[str, HeyGenStatus]] = {
    **SESSION_WORKING,
    "waiting_for_input": "failed",
    "completed": "completed",
    "failed": "failed",
}


def normalise_status(raw: str) -> HeyGenStatus:
    """An executions-API or v3 video status in this server's words."""
    value = raw.strip().lower()
    if value in ENDED:
        return value  # type: ignore[return-value]
    return "submitted" if value in _QUEUED else "processing"


def session_status(raw: str) -> HeyGenStatus:
    """A v3 Video Agent session's status in this server's words (another word: as a video's would be)."""
    return SESSION_WORDS.get(raw.strip().lower()) or normalise_status(raw)


@dataclass(frozen=True)
class Execution:
    """One execution as HeyGen reports it, normalised."""

    execution_id: str
    status: HeyGenStatus
    heygen_status: str
    video_url: str | None = None
    video_id: str | None = None
    asset_id: str | None = None
    error: str | None = None
    session_id: str | None = None  # the Video Agent's session, which HeyGen gives only at creation


@dataclass(frozen=True)
class Job:
    """A submission and what became of it, as the library keeps it."""

    id: int
    execution_id: str | None
    prompt: str
    status: str
    created_at: float
    updated_at: float
    provider: str | None = None
    aspect_ratio: str | None = None
    reference_image_url: str | None = None
    tail_image_url: str | None = None
    config: dict[str, Any] | None = None
    heygen_status: str | None = None
    error: str | None = None
    video_url: str | None = None
    video_id: str | None = None
    asset_id: str | None = None
    local_path: str | None = None
    download_error: str | None = None
    download_attempts: int = 0  # failed saves since the last success
    download_retry_at: float | None = None  # unix time before which no automatic save starts
    download_owner: str | None = None  # the claim on saving the video: whose, and until when
    download_lease: float | None = None
    tenant: str = ""  # whose job: '' is the single user of stdio mode
    session_id: str | None = None  # the Video Agent's session (tools/routes.py)
    submit_owner: str | None = None  # the process a submission in flight belongs to (library.common.abandoned)
    callback_id: str | None = None  # a Video Agent job's completion callback (remote mode), a secret
    called_back_at: float | None = None  # when HeyGen last called it back
