"""What the command line tells a person to do next, in the commands they type.

The tools' `next_step` and their errors' advice speak to an assistant about tools (wait_for_video,
allow_duplicate=true, "restart the client"). Here the same facts (a result's status and execution id, an
error's kind, whether HeyGen may have the job) become `heygen-video-mcp status ID`, `--allow-duplicate` or
`export HEYGEN_API_KEY=...`. Errors keep only what happened (HeyGenError.what); the advice is said here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from heygen_video_mcp.tools.jobs.following.schedule import TYPICAL_WORDS
from heygen_video_mcp.tools.providers import VIDEO_AGENT_TYPICAL
from heygen_video_mcp.tools.routes import VIDEO_AGENT
from heygen_video_mcp.tools.status import SUBMIT_UNCERTAIN, SUBMITTING, UNFINISHED

if TYPE_CHECKING:
    from heygen_video_mcp.tools.results import VideoResult

CLI: Final = "heygen-video-mcp"
# The kind of error for a download of an id that neither this library nor HeyGen knows.
NEVER_SEEN: Final = "never_seen"
INTERRUPTED: Final = "interrupted"

_AGAIN: Final = "run the same generate again with --allow-duplicate"
_KEY: Final = "export HEYGEN_API_KEY=your-key (create one at https://app.heygen.com/settings, API tab)"


def video_next(result: VideoResult, *, waited: bool = False, interrupted: bool = False) -> str:
    """What to do about a video, by its status: for `--wait` that stopped (`waited`) or Ctrl-C (`interrupted`)."""
    eid = result.execution_id
    if result.duplicate:
        rest = video_next(result.model_copy(update={"duplicate": False}), waited=waited, interrupted=interrupted)
        return (
            "Nothing new was bought: an identical request was already submitted, so this is that job. "
            f"{rest} For a second take, {_AGAIN}."
        )
    status, read = result.status, f"`{CLI} status {eid}`"
    if status == SUBMITTING or (interrupted and eid is None):
        return (
            "HeyGen has the request but has not answered yet. Run the same generate again in a few seconds: it "
            f"finds this job without paying again (`{CLI} list` shows it too)."
        )
    if status == SUBMIT_UNCERTAIN:
        return (
            "HeyGen's answer to this submission was lost, so it may have made the video (and charged for it). "
            f"Look in your HeyGen dashboard's video history; only if it is not there, {_AGAIN}."
        )
    if status in UNFINISHED:
        typical = VIDEO_AGENT_TYPICAL[1] if result.provider == VIDEO_AGENT else TYPICAL_WORDS
        if interrupted or waited:
            why = "Stopped following" if interrupted else f"Still {status} when --wait stopped"
            return (
                f"{why}; the render goes on at HeyGen (usually {typical}). {read} reads it; "
                f"`{CLI} download {eid}` saves it once completed."
            )
        return (
            f"Rendering (usually {typical}): {read} reads it again; the same generate with --wait follows it "
            "to the end and saves it."
        )
    if status == "failed":
        return (
            f"HeyGen could not make the video: {result.error or 'no reason given'}. If it is about the content, "
            f"rewrite the prompt (or pick another --provider: `{CLI} providers`) and generate again."
        )
    if status == "not_found":
        return f"HeyGen does not know execution {eid}. Check the id; `{CLI} list` shows your videos."
    if not result.video_url:
        asset = f" HeyGen keeps it as asset {result.asset_id}." if result.asset_id else ""
        return (
            f"HeyGen reports the video as completed but gave no video URL.{asset} {read} again in a minute; if "
            "it is still missing, find the video in your HeyGen library."
        )
    if result.local_path:
        return f"Done: saved to {result.local_path}."
    save = f"`{CLI} download {eid}`"
    if result.saving and result.download_error:
        return (
            f"Done, but saving failed: {result.download_error} {save} tries again now; the video URL works "
            "meanwhile (it is temporary)."
        )
    if result.saving:
        return f"Done; it is being saved in the background: {read} shows where, or {save} saves it now."
    failed = f" (Saving failed: {result.download_error})" if result.download_error else ""
    return f"Done. {save} saves a copy; the video URL is temporary.{failed}"


def error_next(kind: str, execution_id: str | None, command: str, *, maybe_accepted: bool = False) -> str:
    """What to do about a failed command, by the error's kind."""
    if maybe_accepted:
        return (
            f"HeyGen may have made the video: in a minute, `{CLI} list` (or your HeyGen dashboard) shows whether "
            f"it is there. Only if it is not, {_AGAIN}."
        )
    read = f"`{CLI} status {execution_id}`" if execution_id else f"`{CLI} list`"
    if kind == "invalid_input":
        ids = f"; `{CLI} list` shows your videos and their ids" if command in ("status", "download") else ""
        folder = " (--dir chooses the folder)" if command == "download" else ""
        return f"Nothing was sent to HeyGen. `{CLI} {command} --help` lists what it accepts{folder}{ids}."
    advice = {
        "invalid_configuration": "Fix that environment variable (or unset it for the default) and run again.",
        "missing_api_key": f"Set your key: {_KEY}. Without a key, `{CLI} demo` makes a video end to end against "
        f"the built-in sandbox, and `{CLI} providers` works.",
        "authentication_failed": f"Set a current key: {_KEY}.",
        "insufficient_credits": "Add credits or upgrade your plan at https://app.heygen.com, then run the same "
        "command again.",
        "endpoint_retired": f'`{CLI} generate "PROMPT" --provider video_agent` makes a Video Agent video instead: '
        "a produced video with scenes, narration and an AI avatar presenter, with its own cost (see "
        f"`{CLI} providers`).",
        "endpoint_not_found": "Check HEYGEN_API_BASE_URL: unset it to use https://api.heygen.com.",
        "bad_request": "Change the request as HeyGen says, then run it again.",
        "duplicate_uncertain": f"Look in your HeyGen dashboard first; only if the video is not there, {_AGAIN}.",
        "budget_exhausted": f"Nothing was sent to HeyGen; `{CLI} list` shows the videos already made.",
        "library_error": "Fix the library as said (HEYGEN_LIBRARY_PATH or HEYGEN_DATABASE_URL choose where it "
        "is), then run the command again.",
        "download_failed": f"{read} shows where it stands; once it is completed, `{CLI} download "
        f"{execution_id or 'ID'}` saves it (a retry resumes).",
        "rate_limited": "Wait as said, then run the same command again.",
        NEVER_SEEN: f"`{CLI} list` shows your videos and their ids.",
        "internal_error": "Run it once more; if it fails again, the log above says why (HEYGEN_LOG_LEVEL=DEBUG "
        "tells more).",
    }
    if kind == "link_expired":
        kind = "download_failed"
    if kind in advice:
        return advice[kind]
    if kind == INTERRUPTED and execution_id:
        return f"{read} reads the job; nothing was lost."
    job = f"; {read} reads the job" if execution_id else ""
    return f"Nothing was lost: run the same command again in a minute{job}."
