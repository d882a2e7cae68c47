"""Polling stops when its caller is gone: a status read that nobody waits for any more is dropped, with its
retries, instead of going on asking HeyGen (found under load, with HeyGen answering 429)."""

from __future__ import annotations

import time

import anyio
import httpx2
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.runtime import running_jobs
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.errors import APITimedOut

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


async def test_callers_who_joined_a_status_read_whose_caller_left_still_get_their_answer(
    make_settings: MakeSettings,
) -> None:
    """A check_status reads its job in its own call (tools/jobs/following/reads.py); a wait and another
    check_status that join that read while HeyGen is slow are not left without an answer when the first
    caller gives up at its deadline: they read again for themselves."""
    execution_id = "node-gw-5a0c1e2d3f4b5a6c"
    gets: list[float] = []
    first_sent, first_left = anyio.Event(), anyio.Event()

    async def heygen(request: httpx2.Request) -> httpx2.Response:
        gets.append(time.monotonic())
        first_sent.set()
        if len(gets) == 1:
            await first_left.wait()  # HeyGen slow to answer the first read, past its caller's deadline
        return httpx2.Response(200, json={"data": {"execution_id": execution_id, "status": "processing", "output": {}}})

    async def progress(status: str, elapsed: float, total: float, message: str) -> None:
        pass

    settings = make_settings(download=False, api_base_url="https://api.heygen.com", poll_interval=5.0)
    answers: dict[str, str] = {}
    async with running_jobs(settings, settings.library(), transport=httpx2.MockTransport(heygen)) as jobs:

        async def first() -> None:
            # A call deadline 1.3 s away: the read is given up 1 s (deadline.MARGIN) before it.
            with anyio.CancelScope(deadline=anyio.current_time() + 1.3), pytest.raises(APITimedOut):
                await jobs.check(execution_id)
            first_left.set()

        async def waiting() -> None:
            answers["wait_for_video"] = (await jobs.wait(execution_id, 1.0, progress)).job.status

        async def checking() -> None:
            with anyio.fail_after(5):
                answers["check_status"] = (await jobs.check(execution_id)).status

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await first_sent.wait()  # the first read is on its way to HeyGen
            group.start_soon(waiting)
            group.start_soon(checking)
    assert answers == {"wait_for_video": "processing", "check_status": "processing"}
