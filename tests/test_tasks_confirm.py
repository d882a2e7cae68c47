"""A costly submission asks first (HEYGEN_CONFIRM_ABOVE_USD): its task is `input_required`, with an embedded
elicitation in tasks/get, and nothing reaches HeyGen until the user accepts through tasks/update. Declined, it
ends cancelled with nothing sent. In memory, raw JSON-RPC, on SQLite and PostgreSQL (the pending call is in the
library, so any replica resumes it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import BACKENDS, MakeSettings, on_backend
from .tasks_client import TASKS, call_raw, task_request

pytestmark = pytest.mark.anyio

# $0.0333 a second: 90 s is about $3.00, the 60 s assumed when no length is named about $2.00.
AGENT_90S = {"prompt": "A 90-second explainer: a presenter walks through a solar farm", "provider": "video_agent"}


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    return on_backend(request, make_settings)


def modern(settings: Settings) -> Client:
    return Client(create_server(settings), mode="auto", extensions=[advertise(TASKS)])


def creates(sandbox: Sandbox) -> int:
    return sandbox.count("create")


async def held(client: Client, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A held call: its task id and the elicitation tasks/get asks for, under its key."""
    created = await call_raw(client, "generate_video", arguments)
    assert created["resultType"] == "task" and created["status"] == "input_required", created
    task = await task_request(client.session, "tasks/get", created["taskId"])
    assert task["status"] == "input_required", task
    ((key, request),) = task["inputRequests"].items()
    assert request["method"] == "elicitation/create" and request["params"]["mode"] == "form"
    return created["taskId"], {"key": key, **request["params"], "statusMessage": task["statusMessage"]}


async def test_accepted_it_is_submitted_and_followed_to_the_video(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    sandbox.set_render_seconds(1.0)
    async with modern(make_settings(confirm_above_usd=2.5)) as client:
        task_id, asked = await held(client, AGENT_90S)
        assert "$3.00" in asked["message"] and "90 s" in asked["message"], asked
        assert "nothing has been sent" in asked["statusMessage"]
        assert creates(sandbox) == 0
    # Another server on the same library (a replica, or after a restart) takes the answer.
    async with modern(make_settings(confirm_above_usd=2.5)) as client:
        answer = {asked["key"]: {"action": "accept", "content": {}}}
        ack = await task_request(client.session, "tasks/update", task_id, inputResponses=answer)
        assert ack.get("resultType") == "complete"
        assert creates(sandbox) == 1
        # The same answer again is one to a request no longer outstanding: ignored, nothing sent twice.
        await task_request(client.session, "tasks/update", task_id, inputResponses=answer)
        while (task := await task_request(client.session, "tasks/get", task_id))["status"] == "working":
            assert task["pollIntervalMs"] > 0
            await anyio.sleep(task["pollIntervalMs"] / 1000)
    assert task["status"] == "completed", task
    video = task["result"]["structuredContent"]
    assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])
    assert creates(sandbox) == 1


async def test_declined_it_is_cancelled_and_nothing_is_sent(make_settings: MakeSettings, sandbox: Sandbox) -> None:
    async with modern(make_settings(confirm_above_usd=1.0)) as client:
        task_id, asked = await held(client, {"prompt": "A presenter explains tides", "provider": "video_agent"})
        assert "$2.00" in asked["message"] and "60 s" in asked["message"], asked
        answer = {asked["key"]: {"action": "decline"}}
        await task_request(client.session, "tasks/update", task_id, inputResponses=answer)
        task = await task_request(client.session, "tasks/get", task_id)
        assert task["status"] == "cancelled" and "nothing was sent to HeyGen" in task["statusMessage"], task
        # tasks/cancel of a held task ends it the same way.
        other, _ = await held(client, AGENT_90S)
        cancelled = await task_request(client.session, "tasks/cancel", other)
        assert cancelled["status"] == "cancelled" and "nothing was sent to HeyGen" in cancelled["statusMessage"]
    assert creates(sandbox) == 0


async def test_a_batch_is_held_as_one_and_sent_whole(make_settings: MakeSettings, sandbox: Sandbox) -> None:
    requests = [{"prompt": f"Presenter take {n}: the water cycle", "provider": "video_agent"} for n in range(2)]
    async with modern(make_settings(confirm_above_usd=3.0)) as client:
        created = await call_raw(client, "generate_videos", {"requests": requests})
        assert created["status"] == "input_required" and "$4.00" in created["statusMessage"], created
        answer = {"confirm_cost": {"action": "accept", "content": {}}}
        await task_request(client.session, "tasks/update", created["taskId"], inputResponses=answer)
        task = await task_request(client.session, "tasks/get", created["taskId"])
    assert task["status"] == "working" and "2 of 2 videos not ready" in task["statusMessage"], task
    assert creates(sandbox) == 2


async def test_below_the_limit_unpriced_or_unset_it_is_never_held(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    async with modern(make_settings(confirm_above_usd=2.5)) as client:
        cheap = await call_raw(client, "generate_video", {**AGENT_90S, "prompt": "A 30-second presenter clip"})
        unpriced = await call_raw(client, "generate_video", {"prompt": "A 10-minute drone shot of the sea"})
    async with modern(make_settings()) as client:
        unset = await call_raw(client, "generate_video", AGENT_90S)
    assert [t["status"] for t in (cheap, unpriced, unset)] == ["working"] * 3
    assert creates(sandbox) == 3
