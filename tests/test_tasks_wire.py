"""MCP Tasks on the wire: raw JSON-RPC lines to the console script over stdio, and mcp.Client with a tasks
extension over real HTTP (remote mode: a signed link, tenants that cannot see each other's tasks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process
from mcp import Client
from mcp.client.extension import ClientExtension
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, data_of
from .tasks_client import TASKS, TasksClient, task_request
from .test_http_auth import ALICE, BOB
from .test_http_tenants import serve_tenants, tenants
from .test_stdio import console_script, server_params

pytestmark = pytest.mark.anyio

PROMPT = {"prompt": "Waves breaking on black sand, drone shot"}


class Lines:
    """A stdio server spoken to in raw JSON-RPC lines (2026-07-28: every request carries its envelope)."""

    def __init__(self, process: Process) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process, self.stdin, self.stdout = process, process.stdin, process.stdout
        self.buffer = b""
        self.next_id = 0

    async def request(self, method: str, params: dict[str, Any], *, tasks: bool = True) -> dict[str, Any]:
        self.next_id += 1
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {TASKS: {}}} if tasks else {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        }
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": {**params, "_meta": meta}}
        await self.stdin.send(json.dumps(body).encode() + b"\n")
        while True:
            while b"\n" not in self.buffer:
                self.buffer += await self.stdout.receive()
            line, self.buffer = self.buffer.split(b"\n", 1)
            message: dict[str, Any] = json.loads(line)
            if message.get("id") == self.next_id:
                return message


@asynccontextmanager
async def raw_stdio(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Lines]:
    params = server_params(sandbox, tmp_path)
    async with await anyio.open_process([console_script()], env=params.env, stderr=None) as process:
        try:
            yield Lines(process)
        finally:
            process.terminate()


async def follow(lines: Lines, task_id: str) -> dict[str, Any]:
    task: dict[str, Any]
    while (task := (await lines.request("tasks/get", {"taskId": task_id}))["result"])["status"] == "working":
        assert task["statusMessage"]
        await anyio.sleep(task["pollIntervalMs"] / 1000)
    return task


async def test_raw_json_rpc_over_stdio_across_a_restart(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(1.5)
    async with raw_stdio(sandbox, tmp_path) as lines:
        discover = await lines.request("server/discover", {})
        assert TASKS in discover["result"]["capabilities"]["extensions"]
        plain = await lines.request("tools/call", {"name": "generate_video", "arguments": PROMPT}, tasks=False)
        assert plain["result"]["resultType"] == "complete" and plain["result"]["structuredContent"]["execution_id"]
        created = await lines.request("tools/call", {"name": "generate_video", "arguments": {"prompt": "Dunes"}})
        task = created["result"]
        assert task["resultType"] == "task" and task["status"] == "working" and task["ttlMs"] == 86_400_000
        unknown = await lines.request("tasks/get", {"taskId": "not-a-task"})
        assert unknown["error"]["code"] == -32602
    async with raw_stdio(sandbox, tmp_path) as lines:  # a new process, the same library
        done = await follow(lines, task["taskId"])
    assert done["status"] == "completed" and done["result"]["isError"] is False
    saved = Path(done["result"]["structuredContent"]["local_path"])
    assert saved.read_bytes() == sandbox.video_bytes(done["result"]["structuredContent"]["video_id"])


async def test_cancel_over_stdio(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(30.0)
    async with raw_stdio(sandbox, tmp_path) as lines:
        task = (await lines.request("tools/call", {"name": "generate_video", "arguments": PROMPT}))["result"]
        cancelled = await lines.request("tasks/cancel", {"taskId": task["taskId"]})
        assert (
            cancelled["result"]["status"] == "cancelled"
            and "stays in the library" in cancelled["result"]["statusMessage"]
        )
        listed = await lines.request("tools/call", {"name": "list_videos", "arguments": {}}, tasks=False)
        assert listed["result"]["structuredContent"]["videos"], listed


@asynccontextmanager
async def http_client(url: str, token: str, *extensions: ClientExtension, **headers: str) -> AsyncIterator[Client]:
    headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode="auto", extensions=list(extensions)) as client,
    ):
        yield client


async def test_over_http_a_task_ends_in_a_signed_link_and_is_its_tenants_alone(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.set_render_seconds(1.0)
    follower = TasksClient()
    text = tenants(alice={"token": ALICE, "heygen_api_key": API_KEY}, bob={"token": BOB})
    with serve_tenants(sandbox, tmp_path, text) as server:
        async with http_client(server.url, ALICE, follower) as alice:
            video = data_of(await alice.call_tool("generate_video", PROMPT))
        assert video["status"] == "completed" and "local_path" not in video
        async with httpx2.AsyncClient() as http:
            assert (await http.get(video["video_link"])).content == sandbox.video_bytes(video["video_id"])
        task_id = follower.created[0]["taskId"]
        async with http_client(server.url, BOB, TasksClient(), **{"X-HeyGen-Api-Key": API_KEY}) as bob:
            with pytest.raises(MCPError) as unknown:
                await task_request(bob.session, "tasks/get", task_id)
            assert unknown.value.error.code == -32602
        async with http_client(server.url, ALICE, TasksClient()) as alice:
            assert (await task_request(alice.session, "tasks/get", task_id))["status"] == "completed"
