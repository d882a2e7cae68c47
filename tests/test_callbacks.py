"""Completion callbacks in remote mode: with HEYGEN_MCP_PUBLIC_URL set, each Video Agent POST carries a
callback_url on this server and an unguessable callback_id; HeyGen's call there brings the completion to a
waiting assistant at once, while the server itself reads HeyGen only at a slow safety pace. Over real HTTP."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.runtime import callback_base
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import routes

from .conftest import data_of, text_of
from .httpserver import connect, http_server

pytestmark = pytest.mark.anyio

PROMPT = "A one-minute explainer on how tides work, friendly presenter"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reads_of(sandbox: Sandbox, video_id: str) -> list[float]:
    """When HeyGen was asked about this video: its own GETs and the shared status reads naming it."""
    return [
        r.time
        for r in sandbox.requests
        if r.path == f"{routes.VIDEOS}/{video_id}" or (r.path == routes.VIDEO_STATUSES and video_id in r.query)
    ]


def remote(sandbox: Sandbox, tmp_path: Path, **env: str) -> Any:
    """The server over HTTP at a port known in advance, so that its public URL can name it."""
    port = free_port()
    public = {"HEYGEN_MCP_PUBLIC_URL": f"http://127.0.0.1:{port}", "HEYGEN_POLL_INTERVAL": "1", **env}
    return http_server(sandbox, tmp_path, "--port", str(port), **public)


async def test_a_callback_ends_a_wait_at_once_with_no_fast_polling(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.set_render_seconds(1.0)
    with remote(sandbox, tmp_path) as server:
        async with connect(server.url, "legacy") as client:
            made = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"}))
            # At a 1 s cadence the Video Agent's first look would come 30 s in: only the callback can end this wait.
            result = await client.call_tool(
                "wait_for_video", {"execution_id": made["execution_id"], "max_wait_seconds": 20}
            )
    done = data_of(result)
    assert done["status"] == "completed", text_of(result)
    (body,) = [r.json for r in sandbox.requests if r.route == "create"]
    assert isinstance(body, dict)
    assert body["callback_url"].startswith(server.base + "/") and len(body["callback_id"]) >= 32
    assert body["callback_id"] not in text_of(result)  # never shown: it is what lets a caller in
    ((called_at, answered),) = sandbox.callbacks
    assert answered == 200
    reads = reads_of(sandbox, done["video_id"])
    # One look when the wait began, then none until the callback; after it, the read that found it completed.
    assert len([t for t in reads if t < called_at]) <= 1, reads
    assert 1 <= len([t for t in reads if t >= called_at]) <= 2, reads


async def test_a_forged_or_unknown_callback_is_refused_and_changes_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.set_render_seconds(60.0)
    with remote(sandbox, tmp_path) as server:
        async with connect(server.url, "legacy") as client:
            made = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"}))
            (body,) = [r.json for r in sandbox.requests if r.route == "create"]
            assert isinstance(body, dict)
            claim = {"event_type": "video_agent.success", "event_data": {"video_id": made["video_id"]}}
            forged = body["callback_url"][:-8] + "AAAAAAAA"
            async with httpx2.AsyncClient() as http:
                for url in (forged, server.base + "/heygen/callbacks/x", server.base + "/heygen/callbacks/"):
                    answer = await http.post(url, json=claim)
                    assert 400 <= answer.status_code < 500, (url, answer.status_code)
            before = len(sandbox.requests)
            status = data_of(await client.call_tool("check_status", {"execution_id": made["execution_id"]}))
    assert status["status"] != "completed"
    assert len(sandbox.requests) - before <= 2  # only check_status's own read


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_callback_landing_on_another_replica_ends_the_wait(
    sandbox: Sandbox, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """Two replicas on one library: HeyGen calls the one behind the public URL; the wait runs on the other."""
    sandbox.reset()
    sandbox.set_render_seconds(1.0)
    if backend == "postgres":
        shared = {"HEYGEN_DATABASE_URL": request.getfixturevalue("database_url")}
    else:
        shared = {"HEYGEN_LIBRARY_PATH": str(tmp_path / "shared.sqlite3")}
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    called = http_server(sandbox, tmp_path, "--port", str(port), HEYGEN_MCP_PUBLIC_URL=public, **shared)
    with called, remote(sandbox, tmp_path, HEYGEN_MCP_PUBLIC_URL=public, **shared) as waiting:
        async with connect(waiting.url, "legacy") as client:
            made = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"}))
            arguments = {"execution_id": made["execution_id"], "max_wait_seconds": 20}
            result = await client.call_tool("wait_for_video", arguments)
    assert data_of(result)["status"] == "completed", text_of(result)
    ((_, answered),) = sandbox.callbacks
    assert answered == 200


async def test_a_callback_reads_the_job_at_once_with_nobody_waiting(sandbox: Sandbox, tmp_path: Path) -> None:
    """The callback itself makes the status read (after its answer): the video is seen and saved unasked."""
    sandbox.reset()
    sandbox.set_render_seconds(1.0)
    with remote(sandbox, tmp_path) as server:
        async with connect(server.url, "legacy") as client:
            made = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"}))
            saved = tmp_path / "videos"
            with anyio.fail_after(20):  # far inside the 30 s a first look takes at this cadence
                while not sandbox.callbacks or not any(saved.rglob("*.mp4")):  # noqa: ASYNC110 (another thread's)
                    await anyio.sleep(0.1)
            ((called_at, answered),) = sandbox.callbacks
            assert answered == 200
            reads = reads_of(sandbox, made["video_id"])
            assert [t for t in reads if t >= called_at], reads  # read because of the callback, nobody asking
            status = data_of(await client.call_tool("check_status", {"execution_id": made["execution_id"]}))
    assert status["status"] == "completed"


def test_callbacks_are_asked_for_only_where_heygen_can_reach_this_server() -> None:
    """A public URL on this machine or a private network is no use to the real HeyGen: without callbacks, the
    Video Agent's renders are read at their own pace, not at the slow safety one."""
    heygen = Settings.model_validate({"api_base_url": "https://api.heygen.com"})
    assert callback_base(heygen, "https://mcp.example.com/") == "https://mcp.example.com/heygen/callbacks/"
    assert callback_base(heygen, "http://mcp.example.com") is None  # HeyGen calls back over HTTPS only
    assert callback_base(heygen, "http://127.0.0.1:8000") is None
    assert callback_base(heygen, "http://10.1.2.3:8000") is None
    assert callback_base(heygen, None) is None
    local = Settings.model_validate({"api_base_url": "http://127.0.0.1:9000"})  # the sandbox calls back on loopback
    assert callback_base(local, "http://127.0.0.1:8000") == "http://127.0.0.1:8000/heygen/callbacks/"
