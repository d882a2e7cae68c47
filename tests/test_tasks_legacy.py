"""Renders as MCP Tasks in the 2025-11-25 form, in memory, in raw JSON-RPC: the `tasks` capability in
initialize, per-tool `execution.taskSupport`, a `task` param on tools/call that answers with a
CreateTaskResult, then tasks/get, tasks/result (blocks until the task ends, then the tool's result),
tasks/list (paginated) and tasks/cancel."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client._memory import InMemoryTransport

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox

from .tasks_client import LegacyWire, over_streams

pytestmark = pytest.mark.anyio

PROMPT = {"prompt": "A lighthouse in a storm at night, slow dolly-in"}
RELATED = "io.modelcontextprotocol/related-task"


@asynccontextmanager
async def legacy(settings: Settings) -> AsyncIterator[LegacyWire]:
    async with InMemoryTransport(create_server(settings)) as (read, write):
        wire = over_streams(read, write)
        await wire.open()
        yield wire


def call(name: str, arguments: dict[str, Any], *, task: bool = True) -> dict[str, Any]:
    """tools/call params; with `task`, augmented with a task (asking for a 1 h ttl)."""
    return {"name": name, "arguments": arguments, **({"task": {"ttl": 3_600_000}} if task else {})}


async def test_initialize_and_tools_list_say_which_tools_take_a_task(settings: Settings) -> None:
    async with InMemoryTransport(create_server(settings)) as (read, write):
        opened = await over_streams(read, write).open()
    assert opened["protocolVersion"] == "2025-11-25"
    assert opened["capabilities"]["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    async with legacy(settings) as wire:
        tools = (await wire.result("tools/list"))["tools"]
    support = {tool["name"]: tool.get("execution", {}).get("taskSupport") for tool in tools}
    assert support.pop("generate_video") == support.pop("generate_videos") == "optional"
    assert set(support.values()) == {None}


async def test_a_task_is_created_followed_and_its_result_fetched(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(1.5)
    async with legacy(settings) as wire:
        task = (await wire.result("tools/call", call("generate_video", PROMPT)))["task"]
        assert task["status"] == "working" and task["ttl"] == 24 * 3600 * 1000 and task["pollInterval"] >= 100
        assert task["statusMessage"] and task["createdAt"] and task["lastUpdatedAt"]
        got = await wire.result("tasks/get", {"taskId": task["taskId"]})
        assert got["taskId"] == task["taskId"] and got["status"] in ("working", "completed")
        result = await wire.result("tasks/result", {"taskId": task["taskId"]})  # blocks until it ends
        done = await wire.result("tasks/get", {"taskId": task["taskId"]})
    assert result["_meta"][RELATED] == {"taskId": task["taskId"]} and "resultType" not in result
    video = result["structuredContent"]
    assert result["isError"] is False and video["status"] == "completed"
    assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])
    assert done["status"] == "completed" and "pollInterval" not in done


async def test_the_same_call_without_a_task_is_unchanged(settings: Settings) -> None:
    async with legacy(settings) as wire:
        answer = await wire.result("tools/call", call("generate_video", PROMPT, task=False))
    assert "task" not in answer and answer["structuredContent"]["status"] == "submitted"


async def test_a_task_on_a_tool_without_task_support_is_method_not_found(settings: Settings) -> None:
    async with legacy(settings) as wire:
        error = await wire.error("tools/call", call("list_videos", {}))
    assert error["code"] == -32601 and "generate_video" in error["message"]


async def test_a_failed_render_is_a_failed_task_whose_result_is_the_error(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(0.5)
    sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
    async with legacy(settings) as wire:
        task = (await wire.result("tools/call", call("generate_video", PROMPT)))["task"]
        result = await wire.result("tasks/result", {"taskId": task["taskId"]})
        got = await wire.result("tasks/get", {"taskId": task["taskId"]})
    assert result["isError"] is True and "content moderation" in result["structuredContent"]["error"]
    assert got["status"] == "failed" and got["statusMessage"]


async def test_a_bad_submission_is_a_failed_task_that_sent_nothing(settings: Settings, sandbox: Sandbox) -> None:
    before = len(sandbox.requests)
    async with legacy(settings) as wire:
        arguments = {"prompt": "A fox", "provider": "no_such_provider"}
        task = (await wire.result("tools/call", call("generate_video", arguments)))["task"]
        got = await wire.result("tasks/get", {"taskId": task["taskId"]})
        result = await wire.result("tasks/result", {"taskId": task["taskId"]})
    assert task["status"] == got["status"] == "failed" and "no_such_provider" in got["statusMessage"]
    assert result["isError"] is True and "Valid providers" in str(result["content"])
    assert len(sandbox.requests) == before


async def test_cancel_unknown_ids_and_cancelling_an_ended_task(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(30.0)
    async with legacy(settings) as wire:
        for method in ("tasks/get", "tasks/result", "tasks/cancel"):
            assert (await wire.error(method, {"taskId": "no-such-task"}))["code"] == -32602
        task = (await wire.result("tools/call", call("generate_video", PROMPT)))["task"]
        cancelled = await wire.result("tasks/cancel", {"taskId": task["taskId"]})
        again = await wire.error("tasks/cancel", {"taskId": task["taskId"]})
        result = await wire.result("tasks/result", {"taskId": task["taskId"]})
    assert cancelled["status"] == "cancelled" and "stays in the library" in cancelled["statusMessage"]
    assert again["code"] == -32602 and "cancelled" in again["message"]
    assert result["isError"] is True and "check_status" in str(result["content"])


async def test_tasks_list_pages_through_this_callers_tasks(settings: Settings, sandbox: Sandbox) -> None:
    sandbox.set_render_seconds(30.0)
    async with legacy(settings) as wire:
        made = [
            (await wire.result("tools/call", call("generate_video", {"prompt": f"Take {n}: a fox in the snow"})))[
                "task"
            ]
            for n in range(23)
        ]
        seen: list[dict[str, Any]] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await wire.result("tasks/list", {"cursor": cursor} if cursor else {})
            seen += page["tasks"]
            pages += 1
            if not (cursor := page.get("nextCursor")):
                break
        bad = await wire.error("tasks/list", {"cursor": "not-a-cursor"})
    assert pages == 2 and sorted(t["taskId"] for t in seen) == sorted(t["taskId"] for t in made)
    assert all(t["status"] == "working" for t in seen)
    assert bad["code"] == -32602
