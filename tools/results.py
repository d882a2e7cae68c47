"""The MCP side of every tool: the shared state, parameter types, result models and error reporting."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal, cast, get_args

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from heygen_video_mcp.tools.client import TERMINAL
from heygen_video_mcp.tools.jobs import VideoJobs, completed_without_url
from heygen_video_mcp.tools.library import Job

# A signed link to a saved video for a remote caller: (base_url, tenant, execution_id) -> (url, expiry).
SignLink = Callable[[str, str, str], tuple[str, datetime]]


@dataclass(frozen=True)
class AppState:
    """What the server's lifespan holds: the job logic and its one HTTP client; in remote mode, how saved
    videos are handed out (signed links under `public_url`, or under the URL each caller used)."""

    jobs: VideoJobs
    wait_seconds: float
    wait_cap: float
    call_seconds: float
    sign_link: SignLink | None = None
    public_url: str | None = None


def state(ctx: Context[AppState, Any]) -> AppState:
    return ctx.request_context.lifespan_context


@dataclass(frozen=True)
class Links:
    """How this call's caller reaches a saved video: a link signed for it, since it cannot open a path on
    the server."""

    sign: SignLink
    base_url: str


def links(ctx: Context[AppState, Any]) -> Links | None:
    """Links for a remote caller; None on stdio, where a saved video is a local path."""
    app = state(ctx)
    if app.sign_link is None:
        return None
    request = ctx.request_context.request
    base_url = app.public_url or str(getattr(request, "base_url", ""))
    return Links(app.sign_link, base_url)


ExecutionId = Annotated[
    str,
    Field(description="The execution_id that generate_video returned, like 'node-gw-v1d2e3o4'."),
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


class VideoResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=_nullable_as_type_lists)

    execution_id: str | None = Field(
        description="HeyGen's id for this job: keep it to follow or fetch the video. Null only while HeyGen's "
        "answer to the submission is pending or was lost."
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
    video_link: str | None = Field(
        None,
        description="Remote server: a link to the saved MP4 on the server, for the user to open or play; it "
        "expires at video_link_expires, and check_status gives a fresh one.",
    )
    video_link_expires: str | None = Field(None, description="When video_link stops working (ISO 8601, UTC).")
    saving: bool = Field(False, description="True while the finished video is being saved in the background.")
    download_error: str | None = Field(None, description="Why the video could not be saved, if it could not.")
    error: str | None = Field(None, description="HeyGen's message when the job failed.")
    duplicate: bool = Field(False, description="True when an identical recent request was reused, not resent.")
    waited_seconds: float | None = Field(None, description="How long wait_for_video waited in this call.")
    submitted_at: str | None = Field(None, description="When the job was submitted (ISO 8601, UTC).")
    next_step: str = Field(description="What to do next.")
    # Remote: the saved file is a link (video_link), and a path on the server means nothing to the caller.
    _remote: bool = PrivateAttr(False)


def video_result(
    job: Job,
    *,
    duplicate: bool = False,
    waited: float | None = None,
    saving: bool = False,
    links: Links | None = None,
) -> VideoResult:
    status = cast(JobStatus, job.status) if job.status in JOB_STATUSES else "processing"
    saving = saving and status == "completed" and not job.local_path
    link, expires = (None, None)
    if links is not None and job.local_path and job.execution_id:
        link, expiry = links.sign(links.base_url, job.tenant, job.execution_id)
        expires = expiry.isoformat(timespec="seconds")
    result = VideoResult(
        execution_id=job.execution_id,
        status=status,
        done=status in TERMINAL,
        prompt=job.prompt or None,
        provider=job.provider,
        aspect_ratio=job.aspect_ratio,
        video_url=job.video_url,
        video_id=job.video_id,
        asset_id=job.asset_id,
        local_path=None if links else job.local_path,
        video_link=link,
        video_link_expires=expires,
        saving=saving,
        download_error=job.download_error,
        error=job.error,
        duplicate=duplicate,
        waited_seconds=None if waited is None else round(waited, 1),
        submitted_at=datetime.fromtimestamp(job.created_at, UTC).isoformat(timespec="seconds"),
        next_step=_next_step(job, status, duplicate, saving, (link, expires) if links else None),
    )
    result._remote = links is not None
    return result


def _next_step(
    job: Job, status: JobStatus, duplicate: bool, saving: bool, link: tuple[str | None, str | None] | None
) -> str:
    """`link` is None on stdio; for a remote caller, the saved video's link and its expiry (None, None
    while the video is not saved)."""
    eid = job.execution_id
    if duplicate:
        return (
            "Nothing new was bought: an identical request was already submitted, so this is that job. "
            + _next_step(job, status, False, saving, link)
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
    if link is not None and link[0]:
        return (
            f"Done. Give the user the video_link {link[0]}: it opens and plays in a browser until {link[1]} "
            f"(UTC). The video stays saved on the server; later, check_status with execution_id {eid!r} gives "
            "a fresh link."
        )
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
        where, what = ("on the server", "a link to it") if link else ("to this computer", "the saved file's path")
        return (
            f"Done. The video is being saved {where} in the background. Give the user the video_url now (it is "
            f"temporary), and call check_status with execution_id {eid!r} in a little while to get {what}."
        )
    return (
        "Done. Give the user the video_url and tell them it is temporary: call download_video with this "
        f"execution_id to keep a copy.{' Saving failed: ' + job.download_error if job.download_error else ''}"
    )


def render(result: VideoResult, *, request: bool = True) -> str:
    """The readable text of a result; `request=False` leaves out what was asked for (prompt, provider, aspect
    ratio), which the caller of a tool about one job knows and the structured content carries."""
    title = f"Execution {result.execution_id}" if result.execution_id else "Submission (no execution id yet)"
    lines = [f"{title}: {result.status}" + (" (duplicate: reused)" if result.duplicate else "")]
    asked = (("Prompt", result.prompt), ("Provider", result.provider), ("Aspect ratio", result.aspect_ratio))
    for label, value in (
        *(asked if request else ()),
        ("Error", result.error),
        ("Saved to", result.local_path),
        (f"Video link (until {result.video_link_expires})", result.video_link),
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
    """The readable text, plus a link to the saved file that clients can open or play: the file itself, or
    for a remote caller the signed link to it."""
    blocks: list[ContentBlock] = [TextContent(type="text", text=render(result, request=False))]
    if result.local_path or result.video_link:
        path = Path(result.local_path) if result.local_path else None
        try:
            size: int | None = os.stat(path).st_size if path else None
        except OSError:
            size = None
        name = path.name if path else f"{result.execution_id}.mp4"
        blocks.append(
            ResourceLink(
                type="resource_link",
                uri=path.as_uri() if path else str(result.video_link),
                name=name,
                title=(result.prompt or name)[:80],
                mime_type="video/mp4",
                size=size,
            )
        )
    return blocks


# Always in a tool's structured content, null or not: a null here says something (no execution id yet, not
# saved, no save failure). Other fields that are null do not apply to the job and are left out. A remote
# caller's saved file is its video_link.
_ALWAYS: Final = frozenset({"execution_id", "local_path", "download_error"})
_ALWAYS_REMOTE: Final = frozenset({"execution_id", "video_link", "download_error"})


def structured(result: VideoResult) -> dict[str, Any]:
    always = _ALWAYS_REMOTE if result._remote else _ALWAYS
    return {k: v for k, v in result.model_dump(mode="json").items() if v is not None or k in always}


def tool_result(result: VideoResult) -> CallToolResult:
    """A failed or unknown job, or a video that came back without a URL, is an error result for the model."""
    is_error = result.status in ("failed", "not_found") or (result.status == "completed" and not result.video_url)
    return CallToolResult(content=video_content(result), structured_content=structured(result), is_error=is_error)
