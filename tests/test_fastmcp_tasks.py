"""A third-party Python client follows renders as MCP Tasks: FastMCP's client with its tasks package
(`pip install "fastmcp[tasks]"`, which brings `fastmcp_tasks`), over stdio to the console script. Its
`call_tool` follows a task to the tool's result by itself; `call_tool_task` hands back the task to cancel.
Skipped, saying so, where fastmcp_tasks is not installed (it is not among the test extras: it brings a task
worker, Redis clients and more; .ci/run installs it for this test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heygen_video_mcp.server.sandbox import Sandbox

from .test_stdio import console_script, server_params

fastmcp = pytest.importorskip("fastmcp", reason='FastMCP is not installed: pip install "fastmcp[tasks]"')
fastmcp_tasks = pytest.importorskip(
    "fastmcp_tasks", reason='fastmcp_tasks is not installed: pip install "fastmcp[tasks]"'
)

pytestmark = pytest.mark.anyio


def client(sandbox: Sandbox, tmp_path: Path) -> Any:
    """FastMCP's client of the console script; it declares the Tasks extension on the 2026-07-28 era."""
    env = server_params(sandbox, tmp_path).env or {}
    return fastmcp.Client(fastmcp.client.transports.StdioTransport(console_script(), [], env=env))


async def test_fastmcp_follows_a_task_to_the_saved_video(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(1.5)
    async with client(sandbox, tmp_path) as mcp:
        result = await mcp.call_tool("generate_video", {"prompt": "A lighthouse in a storm, slow dolly-in"})
    video = result.structured_content
    assert video["status"] == "completed", video
    assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])


async def test_fastmcp_cancels_a_task(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(30.0)
    async with client(sandbox, tmp_path) as mcp:
        task = await fastmcp_tasks.call_tool_task(mcp, "generate_video", {"prompt": "Waves on black sand"})
        assert (await task.status()).status == "working"
        await task.cancel()
        status = await task.status()
    assert status.status == "cancelled" and "stays in the library" in (status.status_message or "")
