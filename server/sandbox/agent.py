"""The sandbox's Video Agent sessions, as HeyGen's v3 OpenAPI spec (heygen-com/heygen-cli gen/video-agent.go)
gives them: a session thinks, may wait for input, then generates its video, whose id it shows from then on.

How a session behaves is chosen per new job (`SandboxApp.set_agent_sessions`):
- "video": the POST answers with the video_id (what HeyGen's quick start shows);
- "deferred": the POST answers video_id null; the session shows it after `think_seconds`;
- "waiting": the session asks a question (waiting_for_input) after `think_seconds`, and never goes on;
- "stuck": the session stays "thinking" with no video_id, forever.
"""

from __future__ import annotations

from typing import Final, Literal

AgentKind = Literal["video", "deferred", "waiting", "stuck"]
QUESTION: Final = "Which voice should narrate this video: a warm female voice or a calm male voice?"
STOPPED: Final = "The session was stopped."


def session_view(
    *,
    session_id: str,
    kind: AgentKind,
    elapsed: float,
    think_seconds: float,
    video_id: str,
    video_status: str,
    render_fraction: float,
    stopped: bool,
    prompt: str,
    created_at: int,
) -> dict[str, object]:
    """GET /v3/video-agents/{session_id}'s data for a session `elapsed` seconds old."""
    messages: list[dict[str, object]] = [{"role": "user", "type": "text", "content": prompt, "created_at": created_at}]
    data: dict[str, object] = {"session_id": session_id, "created_at": created_at, "title": prompt[:40]}
    knows_video = kind == "video" or (kind == "deferred" and elapsed >= think_seconds)
    if stopped:
        status, progress = "failed", 0
        messages.insert(0, {"role": "model", "type": "error", "content": STOPPED})
    elif not knows_video:
        if kind == "waiting" and elapsed >= think_seconds:
            status, progress = "waiting_for_input", 10
            messages.insert(0, {"role": "model", "type": "text", "content": QUESTION})
        else:
            status, progress = "thinking", min(int(10 * elapsed / max(think_seconds, 1e-6)), 10)
    elif video_status in ("completed", "failed"):
        status, progress = video_status, 100 if video_status == "completed" else 0
    else:
        status, progress = "generating", 20 + int(79 * render_fraction)
    data |= {"status": status, "progress": progress, "messages": messages}
    data["video_id"] = video_id if knows_video and not stopped else None
    return data
