"""Remote mode: the console script serving streamable HTTP on 127.0.0.1, driven by mcp.Client in both
protocol eras, and what it refuses (no or wrong token, forged Host/Origin, oversized bodies, open binds)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox

from .conftest import API_KEY, MakeSettings, data_of, text_of
from .httpserver import TOKEN, connect, http_server, server_env
from .test_stdio import console_script

pytestmark = pytest.mark.anyio

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def test_generate_and_wait_streams_progress(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.reset()
    with http_server(sandbox, tmp_path) as server:
        async with connect(server.url, mode) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"generate_video", "check_status", "wait_for_video", "list_videos"} <= names
            job = data_of(await client.call_tool("generate_video", {"prompt": "Rain on a neon street, handheld"}))
            messages: list[str] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                messages.append(message or "")

            result = await client.call_tool(
                "wait_for_video", {"execution_id": job["execution_id"]}, progress_callback=on_progress
            )
            video = data_of(result)
            assert video["status"] == "completed", text_of(result)
            assert messages and "completed" in messages[-1]
            # A remote caller gets the saved video at a signed link on this server, never a path on it.
            assert "local_path" not in video and video["video_link"].startswith(f"{server.base}/videos/")
            async with httpx2.AsyncClient() as http:
                fetched = await http.get(video["video_link"])
            assert fetched.content == sandbox.video_bytes(video["video_id"])
            listed = await client.read_resource(f"heygen://videos/{job['execution_id']}")
            assert '"completed"' in getattr(listed.contents[0], "text", "")
        assert server.stop() in (0, -15)
    assert API_KEY not in server.stderr() and TOKEN not in server.stderr()


async def test_health_answers_anyone_and_says_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    with http_server(sandbox, tmp_path) as server:
        async with httpx2.AsyncClient() as http:
            health = await http.get(f"{server.base}/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert "server" not in health.headers


async def test_requests_without_the_token_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    with http_server(sandbox, tmp_path) as server:
        async with httpx2.AsyncClient() as http:
            answers = [
                await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS | extra)
                for extra in ({}, {"Authorization": "Bearer wrong-token-0000000000"}, {"Authorization": TOKEN})
            ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer ")
        assert TOKEN not in answer.text


async def test_forged_host_origin_and_oversized_bodies_are_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    auth = MCP_HEADERS | {"Authorization": f"Bearer {TOKEN}"}
    with http_server(sandbox, tmp_path, HEYGEN_MCP_MAX_BODY_BYTES="4096") as server:
        async with httpx2.AsyncClient() as http:
            forged_host = await http.post(server.url, json=INITIALIZE, headers=auth | {"Host": "evil.example"})
            forged_origin = await http.post(
                server.url, json=INITIALIZE, headers=auth | {"Origin": "http://evil.example"}
            )
            huge = dict(INITIALIZE, params={**INITIALIZE["params"], "padding": "x" * 5000})  # type: ignore[dict-item]
            oversized = await http.post(server.url, json=huge, headers=auth)
            fine = await http.post(server.url, json=INITIALIZE, headers=auth | {"Origin": server.base})
    assert forged_host.status_code == 421
    assert forged_origin.status_code == 403
    assert oversized.status_code == 413
    assert fine.status_code == 200


async def test_allowed_hosts_and_origins_are_configurable(sandbox: Sandbox, tmp_path: Path) -> None:
    auth = MCP_HEADERS | {"Authorization": f"Bearer {TOKEN}"}
    env = {"HEYGEN_MCP_ALLOWED_HOSTS": "mcp.team.example", "HEYGEN_MCP_ALLOWED_ORIGINS": "https://app.team.example"}
    with http_server(sandbox, tmp_path, **env) as server:
        async with httpx2.AsyncClient() as http:
            named = await http.post(
                server.url,
                json=INITIALIZE,
                headers=auth | {"Host": "mcp.team.example", "Origin": "https://app.team.example"},
            )
    assert named.status_code == 200


def test_an_open_bind_without_authentication_does_not_start(sandbox: Sandbox, tmp_path: Path) -> None:
    env = server_env(sandbox, tmp_path)
    del env["HEYGEN_MCP_TOKEN"]
    command = [console_script(), "serve", "--transport", "streamable-http", "--host", "0.0.0.0", "--port", "0"]  # noqa: S104
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "HEYGEN_MCP_TOKEN" in done.stderr


def test_a_weak_token_does_not_start(sandbox: Sandbox, tmp_path: Path) -> None:
    env = server_env(sandbox, tmp_path, HEYGEN_MCP_TOKEN="hunter2")  # noqa: S106
    command = [console_script(), "serve", "--transport", "streamable-http", "--port", "0"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "HEYGEN_MCP_TOKEN" in done.stderr and "hunter2" not in done.stderr


async def test_sigterm_lets_a_late_generate_finish_and_keeps_its_id(
    sandbox: Sandbox, tmp_path: Path, mode: str, make_settings: MakeSettings
) -> None:
    """SIGTERM while HeyGen's answer to a submission is late: the call still gets its answer (at its
    deadline), and the server records the execution id when the answer comes, before it exits."""
    sandbox.inject("create", Fault.late_answer(6))
    answers: list[CallToolResult] = []
    before = set(sandbox.jobs)
    with http_server(sandbox, tmp_path, HEYGEN_CALL_SECONDS="5", HEYGEN_READ_TIMEOUT="20") as server:
        try:
            async with connect(server.url, mode) as client:
                await client.list_tools()  # the schemas the client checks answers against, fetched while it can

                async def generate() -> None:
                    answers.append(await client.call_tool("generate_video", {"prompt": "Fog rolling over a harbor"}))

                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(generate)
                    while not sandbox.count("create"):  # noqa: ASYNC110 (the sandbox has no event to await)
                        await anyio.sleep(0.02)
                    server.process.send_signal(signal.SIGTERM)
        except* httpx2.ConnectError:
            pass  # the client's stream, or its goodbye, finding the server gone: expected after a shutdown
        assert await anyio.to_thread.run_sync(server.stop) in (0, -signal.SIGTERM)
    assert data_of(answers[0])["status"] == "submitting", text_of(answers[0])
    [execution_id] = set(sandbox.jobs) - before
    async with Client(create_server(make_settings())) as local:
        listed = data_of(await local.call_tool("list_videos", {"query": execution_id}))
    assert [v["execution_id"] for v in listed["videos"]] == [execution_id]
