"""Following renders through the real MCP client: reads shared among callers, and progress that learns
from the library how long renders take."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import MakeSettings, data_of

pytestmark = pytest.mark.anyio
PROMPT = "Fireflies over a summer meadow at dusk, slow dolly, shallow depth of field"


async def follow(client: Client, execution_id: str, messages: list[str] | None = None) -> dict[str, Any]:
    async def progress(progress: float, total: float | None, message: str | None) -> None:
        if messages is not None:
            messages.append(message or "")

    while True:
        result = await client.call_tool("wait_for_video", {"execution_id": execution_id}, progress_callback=progress)
        data = data_of(result)
        if data["done"]:
            return data


async def test_callers_waiting_on_one_job_share_its_reads(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str
) -> None:
    async with Client(create_server(make_settings()), mode=mode) as client:
        alone = data_of(await client.call_tool("generate_video", {"prompt": PROMPT + " (alone)"}))
        before = sandbox.count("status")
        await follow(client, alone["execution_id"])
        one_waiter = sandbox.count("status") - before

        shared = data_of(await client.call_tool("generate_video", {"prompt": PROMPT + " (shared)"}))
        before = sandbox.count("status")
        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(follow, client, shared["execution_id"])
        four_waiters = sandbox.count("status") - before
    assert four_waiters <= one_waiter + 2, (one_waiter, four_waiters)


async def test_progress_learns_how_long_renders_take(make_settings: MakeSettings, mode: str) -> None:
    async with Client(create_server(make_settings()), mode=mode) as client:
        for n in range(3):
            job = data_of(await client.call_tool("generate_video", {"prompt": f"{PROMPT}, take {n}"}))
            await follow(client, job["execution_id"])
        job = data_of(await client.call_tool("generate_video", {"prompt": f"{PROMPT}, take 3"}))
        messages: list[str] = []
        await follow(client, job["execution_id"], messages)
    assert any("from your last 3 veo_3_1 16:9 videos" in message for message in messages), messages


async def test_a_video_agent_render_is_not_read_before_its_first_look(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str
) -> None:
    """With no Video Agent history the first read comes 30 cadences after submission (5 minutes at HeyGen's
    10 s; 3 s here): a wait before then tells progress from the clock and asks HeyGen nothing."""
    async with Client(create_server(make_settings(poll_interval=1.0)), mode=mode) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"}))
        messages: list[str] = []

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            messages.append(message or "")

        waited = await client.call_tool(
            "wait_for_video", {"execution_id": job["execution_id"], "max_wait_seconds": 2}, progress_callback=progress
        )
        assert data_of(waited)["done"] is False
    assert sandbox.count("status") == 0
    assert messages and all("20-45 minutes" in message for message in messages), messages
