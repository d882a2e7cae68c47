"""Renders as MCP Tasks (the 2026-07-28 Tasks extension), in memory: a client that declares the extension
gets a task for generate_video(s) and follows it by tasks/get to the saved video; one that does not sees no
change. Tasks are in the library: found again after a restart, unknown to anyone else."""

from __future__ import annotations

import re
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.extension import advertise
from mcp.shared.exceptions import MCPError

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import MakeSettings, data_of
from .tasks_client import TASKS, TasksClient, call_raw, task_request

pytestmark = pytest.mark.anyio

PROMPT = {"prompt": "A lighthouse in a storm at night, slow dolly-in"}


def modern(settings: Settings, *extensions: object) -> Client:
    return Client(create_server(settings), mode="auto", extensions=list(extensions))  # type: ignore[arg-type]


async def test_discover_advertises_the_extension(settings: Settings) -> None:
    async with modern(settings) as client:
        assert client.protocol_version == "2026-07-28"
        assert TASKS in (client.server_capabilities.extensions or {})


async def test_a_task_is_followed_to_the_saved_video(settings: Settings, sandbox: Sandbox, provider: str) -> None:
    sandbox.set_render_seconds(1.5)
    tasks = TasksClient()
    async with modern(settings, tasks) as client:
        result = await client.call_tool("generate_video", {**PROMPT, "provider": provider})
    created = tasks.created[0]
    assert created["resultType"] == "task" and created["status"] == "working"
    assert created["ttlMs"] == 24 * 3600 * 1000 and created["pollIntervalMs"] >= 100
    working = [task for task in tasks.seen if task["status"] == "working"]
    assert working and all(task["statusMessage"] for task in working)
    assert any("renders usually take" in task["statusMessage"] for task in working), working
    video = data_of(result)
    assert video["status"] == "completed" and not result.is_error
    assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])
    assert tasks.seen[-1]["result"]["structuredContent"]["local_path"] == video["local_path"]


async def test_the_same_call_without_the_extension_is_unchanged(settings: Settings) -> None:
    async with modern(settings) as client:
        answer = await call_raw(client, "generate_video", PROMPT)
    assert answer.get("resultType") != "task" and answer["structuredContent"]["status"] == "submitted"


async def test_a_failed_render_is_a_completed_task_with_an_error_result(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(0.5)
    sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
    tasks = TasksClient()
    async with modern(settings, tasks) as client:
        result = await client.call_tool("generate_video", PROMPT)
    assert result.is_error and "content moderation" in data_of(result)["error"]
    assert tasks.seen[-1]["status"] == "completed"


async def test_a_batch_is_one_task(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(1.0)
    tasks = TasksClient()
    requests = [{"prompt": f"Take {n}: a fox in the snow"} for n in range(2)]
    async with modern(settings, tasks) as client:
        result = await client.call_tool("generate_videos", {"requests": requests})
    assert len(tasks.created) == 1
    batch = data_of(result)
    assert batch["succeeded"] == 2 and all(item["video"]["local_path"] for item in batch["results"])


async def test_unknown_ids_cancel_and_a_restart(make_settings: MakeSettings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(2.0)
    settings = make_settings()
    async with modern(settings, advertise(TASKS)) as client:
        with pytest.raises(MCPError) as unknown:
            await task_request(client.session, "tasks/get", "no-such-task")
        assert unknown.value.error.code == -32602
        kept = await call_raw(client, "generate_video", PROMPT)
        dropped = await call_raw(client, "generate_video", {"prompt": "A second, cancelled shot of the sea"})
        cancelled = await task_request(client.session, "tasks/cancel", dropped["taskId"])
        assert cancelled["status"] == "cancelled" and "cannot stop" in cancelled["statusMessage"]
        again = await task_request(client.session, "tasks/get", dropped["taskId"])
        assert again["status"] == "cancelled"
    # A new server on the same library knows both tasks; the cancelled one's job can still be fetched.
    tasks = TasksClient()
    async with modern(make_settings(), advertise(TASKS)) as client:
        while (task := await task_request(client.session, "tasks/get", kept["taskId"]))["status"] == "working":
            assert task["pollIntervalMs"] > 0
            await anyio.sleep(task["pollIntervalMs"] / 1000)
        assert task["status"] == "completed" and task["result"]["structuredContent"]["local_path"]
        assert (await task_request(client.session, "tasks/get", dropped["taskId"]))["status"] == "cancelled"
    async with modern(make_settings(), tasks) as client:
        eid = re.search(r"execution_id '([^']+)'", cancelled["statusMessage"]).group(1)  # type: ignore[union-attr]
        video = data_of(await client.call_tool("wait_for_video", {"execution_id": eid}))
        assert video["status"] == "completed"


async def test_task_methods_need_the_declaration(settings: Settings) -> None:
    async with modern(settings) as client:
        with pytest.raises(MCPError) as refused:
            await task_request(client.session, "tasks/get", "anything")
    assert refused.value.error.code == -32021


async def test_cancelling_a_video_agent_task_stops_its_session(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(30.0)
    async with modern(settings, advertise(TASKS)) as client:
        task = await call_raw(client, "generate_video", {**PROMPT, "provider": "video_agent"})
        cancelled = await task_request(client.session, "tasks/cancel", task["taskId"])
    assert cancelled["status"] == "cancelled" and "told to stop" in cancelled["statusMessage"], cancelled
    assert "cannot stop" not in cancelled["statusMessage"]
    eid = re.search(r"stop '([^']+)'", cancelled["statusMessage"]).group(1)  # type: ignore[union-attr]
    job = sandbox.job_of(eid)
    assert job is not None and job.stopped
