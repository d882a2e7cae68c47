"""What a tool's answer about one job tells the assistant to do next, by the job's status (the command line
says the same in its own commands: server/cliwords.py)."""

from __future__ import annotations

from typing import Final

from heygen_video_mcp.tools.jobs.following.schedule import TYPICAL_WORDS
from heygen_video_mcp.tools.providers import VIDEO_AGENT_TYPICAL
from heygen_video_mcp.tools.routes import VIDEO_AGENT
from heygen_video_mcp.tools.status import SUBMIT_UNCERTAIN, SUBMITTING, UNFINISHED, Job, JobStatus

WITHOUT_URL_ADVICE: Final = (
    "Call check_status again in a minute; if the URL is still missing, find the video in your HeyGen library."
)

# A render stopped as the user asked: not a failure to report, and nothing to retry.
STOPPED: Final = (
    "The Video Agent session was stopped, as the user asked; nothing more is rendered. Tell the user; only "
    "if they want the video after all, call generate_video again (a new, paid render)."
)


def without_url(job: Job) -> str:
    asset = f" HeyGen keeps it as asset_id {job.asset_id}." if job.asset_id else ""
    return f"HeyGen reports execution {job.execution_id} as completed but gave no video URL.{asset}"


def completed_without_url(job: Job) -> str:
    return f"{without_url(job)} {WITHOUT_URL_ADVICE}"


def _typical(job: Job) -> str:
    return VIDEO_AGENT_TYPICAL[1] if job.provider == VIDEO_AGENT else TYPICAL_WORDS


def next_step(
    job: Job, status: JobStatus, duplicate: bool, saving: bool, link: tuple[str | None, str | None] | None
) -> str:
    """`link` is None on stdio; for a remote caller, the saved video's link and its expiry (None, None
    while the video is not saved)."""
    eid = job.execution_id
    if duplicate:
        return (
            "Nothing new was bought: an identical request was already submitted, so this is that job. "
            + next_step(job, status, False, saving, link)
            + " Only if the user wants a second take, call generate_video again with allow_duplicate=true."
        )
    if status == SUBMITTING:
        return (
            "HeyGen has the request but has not answered yet; its answer will be recorded. In a few seconds, "
            "call generate_video again with the same arguments: it returns this job without paying again "
            "(or find it with list_videos)."
        )
    if status == SUBMIT_UNCERTAIN:
        return (
            "HeyGen's answer to this submission was lost, so it may have made the video (and charged for it). "
            "Ask the user to look in their HeyGen dashboard's video history. If it is not there, call "
            "generate_video again with allow_duplicate=true; do not resubmit without asking."
        )
    if status in UNFINISHED:
        return (
            f"The video is still rendering (usually {_typical(job)}). Call wait_for_video with execution_id "
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
