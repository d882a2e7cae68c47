"""The MCP side of every tool: the shared state, parameter types, result models and error reporting."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, cast, get_args

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel, ConfigDict, Field

from heygen_video_mcp.tools.client import TERMINAL
from heygen_video_mcp.tools.jobs import VideoJobs, completed_without_url
from heygen_video_mcp.tools.library import Job
from heygen_video_mcp.tools.routes import VIDEO_AGENT, Backend, backend_of

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema


@dataclass(frozen=True)
class AppState:
    """What the server's lifespan holds: the job logic and its one HTTP client."""

    jobs: VideoJobs
    wait_seconds: float
    wait_cap: float
    call_seconds: float


def state(ctx: Context[AppState, Any]) -> AppState:
    return ctx.request_context.lifespan_context


ExecutionId = Annotated[
    str,
    Field(
        description="The execution_id that generate_video returned, as it was: like 'node-gw-v1d2e3o4', or "
        "'video_agent:<video_id>' for a Video Agent video."
    ),
]


JobStatus = Literal["submitting", "submit_uncertain", "submitted", "processing", "completed", "failed", "not_found"]
JOB_STATUSES: Final[tuple[str, ...]] = get_args(JobStatus)


def _nullable_as_type_lists(schema: dict[str, Any]) -> None:
    """Publish `"type": ["string", "null"]` where pydantic writes `anyOf: [{"type": "string"}, {"type": "null"}]`:
    the same constraint, which clients that validate structuredContent (with jsonschema, as the MCP SDK's
    client does on every call) check in about half the time."""
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if options and all(isinstance(o, dict) and set(o) == {"type"} for o in options):
            del prop["anyOf"]
            prop["type"] = [o["type"] for o in options]
        elif options and len(options) == 2 and options[1] == {"type": "null"} and set(options[0]) == {"enum", "type"}:
            # A Literal or None: the same, with null among the allowed values.
            del prop["anyOf"]
            prop["type"] = [options[0]["type"], "null"]
            prop["enum"] = [*options[0]["enum"], None]


class VideoResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=_nullable_as_type_lists)

    execution_id: str | None = Field(
        description="The id to follow or fetch this video with, in every tool: HeyGen's execution id, or "
        "'video_agent:<video_id>' for a Video Agent video. Null only while HeyGen's answer to the submission "
        "is pending or was lost."
    )
    backend: Backend = Field(
        "executions",
        description="Which HeyGen API makes it: executions (a provider model's clip) or video_agent (HeyGen's v3 "
        "Video Agent, a produced video).",
    )
    session_id: str | None = Field(
        None, description="The Video Agent session that made it (HeyGen gives it only at creation)."
    )
    status: JobStatus = Field(
        description="submitted, processing, completed, failed or not_found as HeyGen says; submitting while its "
        "answer is on the way; submit_uncertain when the answer was lost and HeyGen may have the job."
    )
    done: bool = Field(description="True once the job is completed, failed or not_found.")
    prompt: str | None = Field(None, description="The prompt that was submitted, when this server sent it.")
    provider: str | None = None
    aspect_ratio: str | None = None
    video_url: str | None = Field(None, description="Temporary HeyGen URL of the MP4; it expires.")
    video_id: str | None = None
    asset_id: str | None = Field(None, description="Id of the video in other HeyGen workflows; HeyGen keeps it.")
    local_path: str | None = Field(None, description="Absolute path of the saved MP4 on this computer.")
    saving: bool = Field(False, description="True while the finished video is being saved in the background.")
    download_error: str | None = Field(None, description="Why the video could not be saved, if it could not.")
    error: str | None = Field(None, description="HeyGen's message when the job failed.")
    duplicate: bool = Field(False, description="True when an identical recent request was reused, not resent.")
    waited_seconds: float | None = Field(None, description="How long wait_for_video waited in this call.")
    submitted_at: str | None = Field(
        None,
        description="When this server submitted the job (ISO 8601 with its zone, UTC); null for a job it did not "
        "submit, whose submission time it cannot know.",
    )
    next_step: str = Field(description="What to do next.")

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler, /) -> JsonSchemaValue:
        """Made once per class and mode, then copied: four tools publish this schema and list_videos nests it,
        and pydantic would derive it five times at start-up (about 1 ms each). It has no aliases and no
        nested models, so nothing else that varies between those derivations can change it."""
        key = (cls, handler.mode)
        if key not in _SCHEMAS:
            _SCHEMAS[key] = super().__get_pydantic_json_schema__(core_schema, handler)
        return copy.deepcopy(_SCHEMAS[key])


_SCHEMAS: dict[tuple[type[VideoResult], str], JsonSchemaValue] = {}


def iso_time(timestamp: float) -> str:
    """The one time format of every result and resource: ISO 8601 in UTC, with its zone, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def video_result(
    job: Job, *, duplicate: bool = False, waited: float | None = None, saving: bool = False
) -> VideoResult:
    status = cast(JobStatus, job.status) if job.status in JOB_STATUSES else "processing"
    saving = saving and status == "completed" and not job.local_path
    return VideoResult(
        execution_id=job.execution_id,
        backend=backend_of(job.execution_id) if job.execution_id else _requested_backend(job),
        session_id=job.session_id,
        status=status,
        done=status in TERMINAL,
        prompt=job.prompt or None,
        provider=job.provider,
        aspect_ratio=job.aspect_ratio,
        video_url=job.video_url,
        video_id=job.video_id,
        asset_id=job.asset_id,
        local_path=job.local_path,
        saving=saving,
        download_error=job.download_error,
        error=job.error,
        duplicate=duplicate,
        waited_seconds=None if waited is None else round(waited, 1),
        # A job this server did not submit (looked up by id) has no prompt; its row's time is when it was seen.
        submitted_at=iso_time(job.created_at) if job.prompt else None,
        next_step=_next_step(job, status, duplicate, saving),
    )


def _requested_backend(job: Job) -> Backend:
    """The API of a submission without an id yet (every job with an id says it in the id)."""
    return "video_agent" if job.provider == VIDEO_AGENT else "executions"


def _next_step(job: Job, status: JobStatus, duplicate: bool, saving: bool) -> str:
    eid = job.execution_id
    if duplicate:
        return (
            "Nothing new was bought: an identical request was already submitted, so this is that job. "
            + _next_step(job, status, False, saving)
            + " Only if the user wants a second take, call generate_video again with allow_duplicate=true."
        )
    if status == "submitting":
        return (
            "HeyGen has the request but has not answered yet; its answer will be recorded. In a few seconds, "
            "call generate_video again with the same arguments: it returns this job without paying again "
            "(or find it with list_videos)."
        )
    if status == "submit_uncertain":
        return (
            "HeyGen's answer to this submission was lost, so it may have made the video (and charged for it). "
            "Ask the user to look in their HeyGen dashboard's video history. If it is not there, call "
            "generate_video again with allow_duplicate=true; do not resubmit without asking."
        )
    if status in ("submitted", "processing"):
        return (
            f"The video is still rendering (usually 1-5 minutes). Call wait_for_video with execution_id "
            f"{eid!r} and keep calling it until it is done; tell the user it is in progress."
        )
    if status == "failed":
        return (
            "HeyGen could not make this video. Tell the user HeyGen's message; if it is about the content, "
            "rewrite the prompt (or try another provider) and call generate_video again."
        )
    if status == "not_found":
        return f"HeyGen does not know execution {eid!r}. Check the id; list_videos shows the jobs this server sent."
    if not job.video_url:
        return completed_without_url(job)
    if job.local_path:
        return (
            f"Done. Give the user the saved file {job.local_path}. The video_url is temporary and will expire; "
            "the local file stays."
        )
    if saving and job.download_error:
        return (
            f"Done, but saving it failed: {job.download_error} It is retried automatically in a while; call "
            f"download_video with execution_id {eid!r} to retry now. Give the user the video_url meanwhile "
            "(it is temporary)."
        )
    if saving:
        return (
            "Done. The video is being saved to this computer in the background. Give the user the video_url "
            f"now (it is temporary), and call check_status with execution_id {eid!r} in a little while to get "
            "the saved file's path."
        )
    return (
        "Done. Give the user the video_url and tell them it is temporary: call download_video with this "
        f"execution_id to keep a copy.{' Saving failed: ' + job.download_error if job.download_error else ''}"
    )


def render(result: VideoResult, *, request: bool = True) -> str:
    """The readable text of a result; `request=False` leaves out what was asked for (prompt, provider, aspect
    ratio), which the caller of a tool about one job knows and the structured content carries."""
    if result.execution_id is None:
        title = "Submission (no execution id yet)"
    elif result.backend == "video_agent":
        title = f"Video Agent video {result.execution_id}" + (
            f" (session {result.session_id})" if result.session_id else ""
        )
    else:
        title = f"Execution {result.execution_id}"
    lines = [f"{title}: {result.status}" + (" (duplicate: reused)" if result.duplicate else "")]
    asked = (
        ("Prompt", result.prompt),
        ("Provider", result.provider),
        ("Aspect ratio", result.aspect_ratio),
        ("Submitted", result.submitted_at),
    )
    for label, value in (
        *(asked if request else ()),
        ("Error", result.error),
        ("Saved to", result.local_path),
        ("Video URL (temporary)", result.video_url),
        ("Asset id", result.asset_id),
        ("Not saved", result.download_error),
        ("Saving", "in progress" if result.saving else None),
    ):
        if value:
            lines.append(f"{label}: {value}")
    lines.append(f"Next: {result.next_step}")
    return "\n".join(lines)


def video_content(result: VideoResult) -> list[ContentBlock]:
    """The readable text, plus a link to the saved file that clients can open or play."""
    blocks: list[ContentBlock] = [TextContent(type="text", text=render(result, request=False))]
    if result.local_path:
        path = Path(result.local_path)
        try:
            size: int | None = os.stat(path).st_size
        except OSError:
            size = None
        blocks.append(
            ResourceLink(
                type="resource_link",
                uri=path.as_uri(),
                name=path.name,
                title=(result.prompt or path.name)[:80],
                mime_type="video/mp4",
                size=size,
            )
        )
    return blocks


# Always in a tool's structured content, null or not: a null here says something (no execution id yet, not
# saved, no save failure). Other fields that are null do not apply to the job and are left out.
_ALWAYS: Final = frozenset({"execution_id", "local_path", "download_error"})


def structured(result: VideoResult) -> dict[str, Any]:
    return {k: v for k, v in result.model_dump(mode="json").items() if v is not None or k in _ALWAYS}


def went_wrong(result: VideoResult) -> bool:
    """A failed or unknown job, or a video that came back without a URL."""
    return result.status in ("failed", "not_found") or (result.status == "completed" and not result.video_url)


def tool_result(result: VideoResult) -> CallToolResult:
    """A job that went wrong is an error result for the model."""
    return CallToolResult(
        content=video_content(result), structured_content=structured(result), is_error=went_wrong(result)
    )
