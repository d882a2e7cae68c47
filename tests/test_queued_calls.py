"""A wait counts from its request's arrival: a wait_for_video (or wait_for_videos) call that queued behind
others, as 2,000 waits asked at once do, waits only what is left of its budget, so it still returns before
the client's cut. The stdio transport says when each request arrived (server/stdio.py); here the test says
it, in the context the SDK hands to the call's handler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import deadline

from .conftest import MakeSettings, data_of

pytestmark = pytest.mark.anyio
PROMPT = "A fishing boat leaving harbour at dawn, gulls overhead, long lens, soft mist"
BUDGET = 3.0


@contextmanager
def arrived(seconds_ago: float) -> Iterator[None]:
    token = deadline.ARRIVED.set(time.monotonic() - seconds_ago)
    try:
        yield
    finally:
        deadline.ARRIVED.reset(token)


@pytest.mark.parametrize(
    ("queued", "waits_about"),
    [
        (0.0, BUDGET),  # arrived just now: the whole budget
        (1.0, BUDGET - 1.0),  # queued 1 s: what is left
        (60.0, 1.0),  # queued longer than its budget: a short look, with a fresh status
    ],
)
@pytest.mark.parametrize("tool", ["wait_for_video", "wait_for_videos"])
async def test_a_queued_wait_waits_what_is_left_of_its_budget(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str, tool: str, queued: float, waits_about: float
) -> None:
    sandbox.set_render_seconds(600)  # still rendering when any of these waits ends
    async with Client(create_server(make_settings(wait_seconds=BUDGET)), mode=mode) as client:
        execution_id = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))["execution_id"]
        reads = sandbox.count("status")
        arguments = {"execution_id": execution_id} if tool == "wait_for_video" else {"execution_ids": [execution_id]}
        with arrived(queued):
            result = await client.call_tool(tool, arguments)
    data = data_of(result)
    video = data if tool == "wait_for_video" else data["results"][0]["video"]
    assert video["done"] is False and video["status"] in ("submitted", "processing")
    assert waits_about - 0.5 <= video["waited_seconds"] <= waits_about + 0.5
    assert sandbox.count("status") > reads  # it looked at HeyGen, however little time was left
