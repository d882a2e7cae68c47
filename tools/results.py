"""A tool's answer about a job: the result model, the one builder of it from a job (job_answer, which keeps
the last answers), and its text and structured forms. (Errors are answered in tools/answer.py.)"""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast

from mcp.types import CallToolResult, ContentBlock, ResourceLink, TextContent
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from heygen_video_mcp.tools.answer import ErrorResult, admit_errors, without_server_details
from heygen_video_mcp.tools.calls import Links
from heygen_video_mcp.tools.nextstep import STOPPED, next_step
from heygen_video_mcp.tools.routes import VIDEO_AGENT, Backend, backend_of
from heygen_video_mcp.tools.status import JOB_STATUSES, Job, JobStatus, final

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema


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
    done: bool = Field(
        description="True once waiting cannot change it: the job is completed, failed or not_found, or its "
        "submission's answer was lost (submit_uncertain: only the user's HeyGen dashboard can tell)."
    )
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
    submitted_at: str | None = Field(
        None,
        description="When this server submitted the job (ISO 8601 with its zone, UTC); null for a job it did not "
        "submit, whose submission time it cannot know.",
    )
    next_step: str = Field(description="What to do next.")
    # Remote: the saved file is a link (video_link), and a path on the server means nothing to the caller.
    _remote: bool = PrivateAttr(False)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler, /) -> JsonSchemaValue:
        """Made once per class and mode, then copied: four tools publish this schema and list_videos nests it,
        and pydantic would derive it five times at start-up. It has no aliases and no
        nested models, so nothing else that varies between those derivations can change it."""
        key = (cls, handler.mode)
        if key not in _SCHEMAS:
            _SCHEMAS[key] = super().__get_pydantic_json_schema__(core_schema, handler)
        return copy.deepcopy(_SCHEMAS[key])


_SCHEMAS: dict[tuple[type[VideoResult], str], JsonSchemaValue] = {}


def _answer_schema(schema: dict[str, Any]) -> None:
    _nullable_as_type_lists(schema)
    admit_errors(schema)


# A tool's answer about one job: a VideoResult, or an ErrorResult when the call failed. (VideoResult itself
# is also an item of list_videos' and the batch tools' answers, where it is always a job.)
class VideoAnswer(VideoResult):
    model_config = ConfigDict(title="VideoResult", json_schema_extra=_answer_schema)


def iso_time(timestamp: float) -> str:
    """The one time format of every result and resource: ISO 8601 in UTC, with its zone, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


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
    if links is not None and job.download_error:  # a remote caller is told no folder of the server
        job = replace(job, download_error=without_server_details(job.download_error))
    if links is not None and job.local_path and job.execution_id:
        link, expiry = links.sign(links.base_url, job.tenant, job.execution_id)
        expires = iso_time(expiry.timestamp())
    result = VideoResult(
        execution_id=job.execution_id,
        backend=backend_of(job.execution_id) if job.execution_id else _requested_backend(job),
        session_id=job.session_id,
        status=status,
        done=final(status),
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
        # A job this server did not submit (looked up by id) has no prompt; its row's time is when it was seen.
        submitted_at=iso_time(job.created_at) if job.prompt else None,
        next_step=next_step(job, status, duplicate, saving, (link, expires) if links else None),
    )
    result._remote = links is not None
    return result


def _requested_backend(job: Job) -> Backend:
    """The API of a submission without an id yet (every job with an id says it in the id)."""
    return "video_agent" if job.provider == VIDEO_AGENT else "executions"


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
    if result.local_path:
        uri, name = _file_link(result.local_path)
        try:
            size: int | None = os.stat(result.local_path).st_size
        except OSError:
            size = None
    elif result.video_link:
        uri, name, size = result.video_link, f"{result.execution_id}.mp4", None
    else:
        return blocks
    blocks.append(
        ResourceLink(
            type="resource_link",
            uri=uri,
            name=name,
            title=(result.prompt or name)[:80],
            mime_type="video/mp4",
            size=size,
        )
    )
    return blocks


@lru_cache(maxsize=1024)
def _file_link(local_path: str) -> tuple[str, str]:
    """A saved file's URI and name, made once per file: every check of a finished job links it again."""
    path = Path(local_path)
    return path.as_uri(), path.name


# Always in a tool's structured content, null or not: a null here says something (no execution id yet, not
# saved, no save failure). Other fields that are null do not apply to the job and are left out. A remote
# caller's saved file is its video_link.
_ALWAYS: Final = frozenset({"execution_id", "local_path", "download_error"})
_ALWAYS_REMOTE: Final = frozenset({"execution_id", "video_link", "download_error"})


def structured(result: VideoResult) -> dict[str, Any]:
    always = _ALWAYS_REMOTE if result._remote else _ALWAYS
    return {k: v for k, v in result.model_dump(mode="json").items() if v is not None or k in always}


def went_wrong(result: VideoResult) -> bool:
    """A failed or unknown job, or a video that came back without a URL."""
    return result.status in ("failed", "not_found") or (result.status == "completed" and not result.video_url)


def tool_result(result: VideoResult) -> CallToolResult:
    """A job that went wrong is an error result for the model."""
    return CallToolResult(
        content=video_content(result), structured_content=structured(result), is_error=went_wrong(result)
    )


def job_answer(
    job: Job,
    *,
    saving: bool = False,
    links: Links | None = None,
    duplicate: bool = False,
    waited: float | None = None,
    note: str = "",
    stopped: bool = False,
) -> CallToolResult:
    """A tool's answer about one job, for every tool that answers with one. Polling asks about an unchanged
    job again and again, and building the answer costs more than the library read that found the job
    unchanged, so the last plain answers are kept (by tenant and job) and given again while the job and its
    saving are as they were. A remote caller's link is signed anew at every call, and a duplicate's, a
    wait's or a noted answer (`note` ends its next step) says something of that call, so those are always
    built. `stopped`: the user had the render stopped (cancel_video), so a job it ended is no failure."""
    if links is not None or duplicate or waited is not None or note or stopped:
        result = video_result(job, saving=saving, links=links, duplicate=duplicate, waited=waited)
        result.next_step += note
        if stopped and result.done and result.status != "completed":
            result.next_step = STOPPED
            return CallToolResult(content=video_content(result), structured_content=structured(result), is_error=False)
        return tool_result(result)
    key = (job.tenant, job.id)
    kept = _ANSWERS.get(key)
    if kept is not None and kept[0] == job and kept[1] == saving:
        return kept[2]
    answer = tool_result(video_result(job, saving=saving))
    if len(_ANSWERS) >= _ANSWERS_KEPT:
        del _ANSWERS[next(iter(_ANSWERS))]  # the oldest
    _ANSWERS[key] = (job, saving, answer)
    return answer


_ANSWERS: dict[tuple[str, int], tuple[Job, bool, CallToolResult]] = {}
_ANSWERS_KEPT: Final = 256


class VideoList(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    videos: list[VideoResult]
    count: int = Field(description="How many videos are listed.")


def list_answer(jobs: list[Job], saving: list[bool], links: Links | None) -> CallToolResult:
    """list_videos' answer: each job as a tool about it would give it (`saving`: each job's, in order)."""
    videos = [video_result(job, saving=save, links=links) for job, save in zip(jobs, saving, strict=True)]
    text = "\n\n".join(render(v) for v in videos) if videos else "No videos match; generate_video makes one."
    result = VideoList(videos=videos, count=len(videos))
    return CallToolResult(
        content=[TextContent(type="text", text=text)], structured_content=result.model_dump(mode="json")
    )


class BatchItem(BaseModel):
    index: int = Field(description="Position of this item in the call's list, from 0.")
    ok: bool = Field(description="False when this item failed: bad input, a HeyGen error, a failed or unknown job.")
    video: VideoResult | None = Field(default=None, description="The job, when there is one.")
    error: ErrorResult | None = Field(default=None, description="Why this item failed, when no job could be reported.")

    @classmethod
    def of(cls, index: int, video: VideoResult) -> BatchItem:
        return cls(index=index, ok=not went_wrong(video), video=video)


class BatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    results: list[BatchItem] = Field(description="One per item, in the order they were given.")
    succeeded: int = Field(description="How many items are ok.")
    failed: int = Field(description="How many items are not ok; each says why and what to do.")
    next_step: str = Field(description="What to do next.")


def batch_answer(items: list[BatchItem], next_step: str) -> CallToolResult:
    """The answer of a tool about several jobs (generate_videos, wait_for_videos, a batch task): the readable text
    per item and the structured result; an error result only when every item failed."""
    ok = sum(item.ok for item in items)
    result = BatchResult(results=items, succeeded=ok, failed=len(items) - ok, next_step=next_step)
    lines = [f"{ok} of {len(items)} ok."]
    for item in items:
        if item.video is not None:
            lines.append(f"[{item.index}] " + render(item.video))
        elif item.error is not None:
            lines.append(f"[{item.index}] Failed: {item.error.message}\nNext: {item.error.next_step}")
    lines.append(f"Next: {next_step}")
    data: dict[str, Any] = result.model_dump(mode="json", exclude={"results"})
    data["results"] = [_item_data(item) for item in items]
    return CallToolResult(
        content=[TextContent(type="text", text="\n\n".join(lines))],
        structured_content=data,
        is_error=bool(items) and ok == 0,
    )


def _item_data(item: BatchItem) -> dict[str, Any]:
    data: dict[str, Any] = {"index": item.index, "ok": item.ok}
    if item.video is not None:
        data["video"] = structured(item.video)
    if item.error is not None:
        data["error"] = item.error.model_dump(mode="json")
    return data
