"""Polling stops when its caller is gone: a status read that nobody waits for any more is dropped, with its
retries, instead of going on asking HeyGen (found under load, with HeyGen answering 429)."""

from __future__ import annotations

import time

import anyio
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox

from .conftest import MakeSettings, data_of

pytestmark = pytest.mark.anyio


async def test_a_caller_leaving_a_wait_stops_the_reads_and_their_retries(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str
) -> None:
    async with Client(create_server(make_settings(max_retries=5)), mode=mode) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": "Snow falling on a quiet train platform"}))
        execution_id = job["execution_id"]
        # HeyGen throttles: every read is answered 429 with Retry-After: 1, so one read retries for seconds.
        sandbox.inject("status", Fault.rate_limited(1), times=50)
        reads_before = len(sandbox.status_reads(execution_id))
        with anyio.move_on_after(0.5):
            await client.call_tool("wait_for_video", {"execution_id": execution_id})
        left = time.monotonic()
        assert len(sandbox.status_reads(execution_id)) > reads_before  # a read had started
        await anyio.sleep(4.0)  # long enough for more retries of that read
        late = [round(at - left, 2) for at in sandbox.status_reads(execution_id) if at > left + 1.5]
        assert late == [], f"status reads {late} s after the caller left"

        # The job is still followed for the next caller.
        sandbox.reset()
        for _ in range(30):
            done = data_of(await client.call_tool("wait_for_video", {"execution_id": execution_id}))
            if done["done"]:
                break
        assert done["status"] == "completed"
