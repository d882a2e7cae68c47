"""The Video Agent as HeyGen's v3 spec has it (heygen-cli gen/video-agent.go): a POST may answer with a session
and no video_id; the session is followed until it names its video, then the video. A session that asks a
question, or stays "thinking", is said plainly; a cancel stops the session. Through mcp.Client, both eras."""

from __future__ import annotations

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.server.sandbox.agent import QUESTION, STOPPED
from heygen_video_mcp.tools import routes

from .conftest import MakeSettings, data_of, text_of

pytestmark = pytest.mark.anyio
AGENT = {"prompt": "A baker explains sourdough in 30 seconds, warm kitchen light", "provider": "video_agent"}


def reads(sandbox: Sandbox, prefix: str) -> int:
    return sum(1 for r in sandbox.requests if r.route == "status" and r.path.startswith(prefix))


async def test_a_session_without_a_video_id_is_followed_to_its_saved_video(client: Client, sandbox: Sandbox) -> None:
    sandbox.set_agent_sessions("deferred", think_seconds=0.4)
    made = await client.call_tool("generate_video", AGENT)
    assert not made.is_error, text_of(made)
    job = data_of(made)
    # A paid job with a session is recorded as such, not as an answer of odd shape.
    assert job["execution_id"].startswith("video_agent:session:") and job["status"] == "submitted"
    assert job["session_id"] == routes.session_of(job["execution_id"])
    done = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
    data = data_of(done)
    assert data["status"] == "completed" and data["local_path"], text_of(done)
    assert data["video_id"] == sandbox.job_of(job["execution_id"]).video_id
    assert data["execution_id"] == job["execution_id"]
    # The session was read until it named the video; the video was read from then on.
    assert reads(sandbox, routes.VIDEO_AGENTS + "/") >= 1 and reads(sandbox, routes.VIDEOS + "/") >= 1
    listed = data_of(await client.call_tool("list_videos", {}))
    assert [v["execution_id"] for v in listed["videos"]] == [job["execution_id"]]


async def test_a_session_that_asks_a_question_says_it_and_what_the_user_can_do(
    client: Client, sandbox: Sandbox
) -> None:
    sandbox.set_agent_sessions("waiting", think_seconds=0.2)
    job = data_of(await client.call_tool("generate_video", AGENT))
    done = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
    text = text_of(done)
    assert data_of(done)["status"] == "failed", text
    for needle in (QUESTION, "waiting for input", "app.heygen.com", "chat", "avatar_id", "voice_id"):
        assert needle in text, (needle, text)


async def test_a_session_stuck_thinking_fails_after_a_bounded_time(make_settings: MakeSettings, mode: str) -> None:
    with Sandbox(api_key="k", render_seconds=0.6, submitted_seconds=0.1) as stuck:
        stuck.set_agent_sessions("stuck")
        settings = make_settings(api_key="k", api_base_url=stuck.base_url, agent_thinking_seconds=0.5)
        async with Client(create_server(settings), mode=mode) as client:
            job = data_of(await client.call_tool("generate_video", AGENT))
            done = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            text = text_of(done)
            assert data_of(done)["status"] == "failed", text
            for needle in ("thinking", "no video", "avatar_id", "voice_id"):
                assert needle in text, (needle, text)
            # The stuck session was stopped, so it does not go on (and bill) behind the user's back.
            assert stuck.job_of(job["execution_id"]).stopped


async def test_cancel_video_stops_the_session(client: Client, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(30)
    job = data_of(await client.call_tool("generate_video", AGENT))
    stopped = await client.call_tool("cancel_video", {"execution_id": job["execution_id"]})
    assert not stopped.is_error, text_of(stopped)
    assert sandbox.job_of(job["execution_id"]).stopped
    assert "stopped" in text_of(stopped)
    status = data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))
    assert status["status"] == "failed" and STOPPED in status["error"]


async def test_cancel_video_of_a_model_provider_says_heygen_cannot(client: Client, sandbox: Sandbox) -> None:
    job = data_of(await client.call_tool("generate_video", {"prompt": AGENT["prompt"], "provider": "ltx_distilled"}))
    posts = sum(1 for r in sandbox.requests if r.method == "POST")
    result = await client.call_tool("cancel_video", {"execution_id": job["execution_id"]})
    assert result.is_error and "cannot be stopped" in text_of(result)
    assert sum(1 for r in sandbox.requests if r.method == "POST") == posts
