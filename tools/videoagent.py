"""Following a Video Agent job by its session, and stopping one (HeyGen's v3 spec, heygen-cli gen/video-agent.go;
how HeyGen's own plugin follows a job, openclaw-plugin-heygen video-generation-provider.ts).

A job whose POST named no video ("video_agent:session:<id>", tools/routes.py) is read through its session,
GET /v3/video-agents/{id}, until the session names its video; from then on through GET /v3/videos/{video_id}
(the session cannot give the video's URL). Session states, as this server reports them:
- thinking, reviewing, generating: still working ("submitted" while thinking, "processing" after), with the
  session's progress in HeyGen's status ("generating 40%"); thinking with no video past a bound: failed, and
  the session is stopped (HeyGen's plugin fails it after 8 polls, ~40 s), so it does not go on unseen;
- waiting_for_input: the agent asks the user something. This server runs the agent in generate mode only (a
  chat-mode conversation is out of scope), so it reports the question as the job's failure, with what the user
  can do; the session is left open, and a later check_status follows it if the user answered in HeyGen's app;
- completed, failed: the video's own read decides, or the session's last message says why it failed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Final

from heygen_video_mcp.tools import errors, routes
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.status import SESSION_WORKING, Execution, session_status
from heygen_video_mcp.tools.videobatch import VideoBatch

# Session ids whose video id this process learned (bounded: forgotten at once, then relearned from the library).
_VIDEO_IDS_LIMIT: Final = 10_000


class Sessions:
    """Reads Video Agent jobs known by their session; any other id goes to the client as it is."""

    def __init__(
        self, client: HeyGenClient, library: Library, thinking_seconds: float, batch_window: float | None = None
    ) -> None:
        self.client = client
        # Video reads shared through /v3/videos/statuses (tools/videobatch.py); None: one GET per video.
        self._batch = VideoBatch(client, batch_window) if batch_window is not None else None
        self.library = library
        self.thinking_seconds = thinking_seconds
        self._video_ids: dict[str, str] = {}  # session job id -> the video id its session named

    async def read(self, execution_id: str, until: float = float("inf")) -> Execution:
        session_id = routes.session_of(execution_id)
        if session_id is None:
            return await self._video(execution_id, until)
        video_id = await self._video_id(execution_id)
        if video_id is None:
            path = f"{routes.VIDEO_AGENTS}/{session_id}"
            execution = await self._from_session(
                execution_id, session_id, await self.client.v3_get(path, execution_id, until)
            )
            if execution.video_id is None or execution.status in ("failed", "not_found"):
                return execution
            video_id = self._learn(execution_id, execution.video_id)
        video = await self._video(routes.job_id("video_agent", video_id), until)
        return replace(video, execution_id=execution_id, session_id=session_id)

    async def _video(self, execution_id: str, until: float) -> Execution:
        if self._batch is not None and routes.backend_of(execution_id) == "video_agent":
            return await self._batch.read(execution_id, until)
        return await self.client.get_execution(execution_id, until)

    async def stop(self, execution_id: str) -> str:
        """Stop a Video Agent job's session (POST /v3/video-agents/{id}/stop); returns the session id."""
        session_id = routes.session_of(execution_id)
        if session_id is None and routes.backend_of(execution_id) == "video_agent":
            job = await self.library.get(execution_id=execution_id)
            session_id = job.session_id if job is not None else None
        if session_id is None:
            raise errors.InvalidInput(
                f"{execution_id} cannot be stopped: HeyGen's executions API (the model providers) has no way to "
                "stop a render, and a Video Agent video can be stopped only with the session id this server "
                "recorded when it was submitted.",
                advice="Let it finish (it is already paid for), or stop it in HeyGen's web app.",
            )
        await self.client.v3_post(f"{routes.VIDEO_AGENTS}/{session_id}/stop", {})
        return session_id

    async def _video_id(self, execution_id: str) -> str | None:
        known = self._video_ids.get(execution_id)
        if known is None:
            job = await self.library.get(execution_id=execution_id)
            if job is not None and job.video_id:
                known = self._learn(execution_id, job.video_id)
        return known

    def _learn(self, execution_id: str, video_id: str) -> str:
        if len(self._video_ids) >= _VIDEO_IDS_LIMIT:
            self._video_ids.clear()
        self._video_ids[execution_id] = video_id
        return video_id

    async def _from_session(self, execution_id: str, session_id: str, body: Any) -> Execution:
        data = body.get("data") if isinstance(body, dict) else None
        raw = data.get("status") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(raw, str):
            raise errors.UnexpectedResponse("HeyGen's session answer had no status. Try again shortly.")
        video_id = _text(data.get("video_id"))
        progress = data.get("progress")
        shown = f"{raw} {progress}%" if isinstance(progress, int) and raw in SESSION_WORKING else raw
        base = Execution(execution_id, "processing", shown, video_id=video_id, session_id=session_id)
        if raw == "not_found":  # a 404 about the session (see HeyGenClient.v3_get)
            return replace(base, status="not_found")
        if raw == "waiting_for_input":
            return replace(base, status="failed", error=_waiting(session_id, _said(data, "model")))
        if raw == "failed":
            return replace(base, status="failed", error=_said(data, "model", error=True) or "HeyGen gave no reason")
        created = data.get("created_at")
        thinking_for = time.time() - created if isinstance(created, int | float) else 0.0
        if raw == "thinking" and video_id is None and thinking_for > self.thinking_seconds:
            await self.stop(execution_id)
            return replace(base, status="failed", error=_stuck(session_id, thinking_for))
        return replace(base, status=session_status(raw))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _said(data: dict[str, Any], role: str, *, error: bool = False) -> str | None:
    """The newest message of `role` (HeyGen lists them newest first), or of type error."""
    for message in data.get("messages") or []:
        if isinstance(message, dict) and (message.get("role") == role or (error and message.get("type") == "error")):
            content = _text(message.get("content"))
            if content:
                return content[:1000]
    return None


def _waiting(session_id: str, question: str | None) -> str:
    asked = f' It asks: "{question}"' if question else ""
    return (
        f"HeyGen's Video Agent is waiting for input (session {session_id}).{asked} This server runs the agent in "
        "one-shot generate mode; a chat-mode conversation with it is not supported here. The user can answer "
        "in HeyGen's web app (https://app.heygen.com, Video Agent), after which check_status follows the video "
        "again; or submit again with a prompt that settles the question, or with config avatar_id / voice_id / "
        "style_id chosen up front."
    )


def _stuck(session_id: str, seconds: float) -> str:
    return (
        f"HeyGen's Video Agent session {session_id} stayed 'thinking' for {seconds:.0f} s with no video started, "
        "so it was stopped (nothing more is rendered). This usually means it could not use the avatar_id or "
        "voice_id given, or the prompt left it undecided: check those ids (or leave them out) and submit again."
    )
