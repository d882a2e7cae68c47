"""MCP Tasks in the 2025-11-25 form on the wire, in raw JSON-RPC: over stdio to the console script (a task
found again by a new process, a cancel), and over real HTTP in remote mode (a signed link at the end; another
tenant neither finds nor lists the task)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client.streamable_http import streamable_http_client

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY
from .tasks_client import LegacyWire, over_streams
from .test_http_auth import ALICE, BOB
from .test_http_tenants import serve_tenants, tenants
from .test_stdio import console_script, server_params

pytestmark = pytest.mark.anyio

TASK = {"ttl": 60_000}


@asynccontextmanager
async def stdio(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[LegacyWire]:
    params = server_params(sandbox, tmp_path)
    async with await anyio.open_process([console_script()], env=params.env, stderr=None) as process:
        assert process.stdin is not None and process.stdout is not None
        stdin, stdout = process.stdin, process.stdout
        buffer = b""

        async def send(message: dict[str, Any]) -> None:
            await stdin.send(json.dumps(message).encode() + b"\n")

        async def receive() -> dict[str, Any]:
            nonlocal buffer
            while b"\n" not in buffer:
                buffer += await stdout.receive()
            line, buffer = buffer.split(b"\n", 1)
            message: dict[str, Any] = json.loads(line)
            return message

        wire = LegacyWire(send, receive)
        try:
            await wire.open()
            yield wire
        finally:
            process.terminate()


async def test_over_stdio_a_task_outlives_its_process_and_one_is_cancelled(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(1.5)
    async with stdio(sandbox, tmp_path) as wire:
        tools = (await wire.result("tools/list"))["tools"]
        assert {"generate_video": "optional"}.items() <= {
            tool["name"]: tool.get("execution", {}).get("taskSupport") for tool in tools
        }.items()
        kept = await wire.result(
            "tools/call", {"name": "generate_video", "arguments": {"prompt": "Dunes"}, "task": TASK}
        )
        arguments = {"prompt": "A second, cancelled shot of the sea", "provider": "veo_3_1"}
        dropped = await wire.result("tools/call", {"name": "generate_video", "arguments": arguments, "task": TASK})
        cancelled = await wire.result("tasks/cancel", {"taskId": dropped["task"]["taskId"]})
        assert cancelled["status"] == "cancelled" and "cannot stop" in cancelled["statusMessage"]
    async with stdio(sandbox, tmp_path) as wire:  # a new process, the same library
        listed = {task["taskId"]: task["status"] for task in (await wire.result("tasks/list"))["tasks"]}
        result = await wire.result("tasks/result", {"taskId": kept["task"]["taskId"]})
    assert listed == {kept["task"]["taskId"]: "working", dropped["task"]["taskId"]: "cancelled"}
    video = result["structuredContent"]
    assert video["status"] == "completed" and Path(video["local_path"]).read_bytes() == sandbox.video_bytes(
        video["video_id"]
    )


@asynccontextmanager
async def http(url: str, token: str, **headers: str) -> AsyncIterator[LegacyWire]:
    headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as client,
        streamable_http_client(url, http_client=client) as (read, write),
    ):
        wire = over_streams(read, write)
        await wire.open()
        yield wire


async def test_over_http_a_task_ends_in_a_signed_link_and_is_its_tenants_alone(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_render_seconds(1.0)
    text = tenants(alice={"token": ALICE, "heygen_api_key": API_KEY}, bob={"token": BOB})
    with serve_tenants(sandbox, tmp_path, text) as server:
        async with http(server.url, ALICE) as alice:
            arguments = {"prompt": "Waves breaking on black sand, drone shot"}
            task = await alice.result("tools/call", {"name": "generate_video", "arguments": arguments, "task": {}})
            task_id = task["task"]["taskId"]
            result = await alice.result("tasks/result", {"taskId": task_id})
        video = result["structuredContent"]
        assert video["status"] == "completed" and "local_path" not in video
        async with httpx2.AsyncClient() as client:
            assert (await client.get(video["video_link"])).content == sandbox.video_bytes(video["video_id"])
        async with http(server.url, BOB, **{"X-HeyGen-Api-Key": API_KEY}) as bob:
            assert (await bob.error("tasks/get", {"taskId": task_id}))["code"] == -32602
            assert (await bob.error("tasks/result", {"taskId": task_id}))["code"] == -32602
            assert (await bob.result("tasks/list"))["tasks"] == []
        async with http(server.url, ALICE) as alice:
            assert [t["taskId"] for t in (await alice.result("tasks/list"))["tasks"]] == [task_id]
