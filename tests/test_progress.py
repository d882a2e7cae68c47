"""Progress that moves every second while a render is followed, between HeyGen status reads as well as at
them, through the real MCP client against the sandbox: no extra reads, nothing after the call returns, and
values that only ever increase (the MCP spec requires it)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.shared.dispatcher import ProgressFnT

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, MakeSettings, data_of
from .test_stdio import console_script

pytestmark = pytest.mark.anyio
PROMPT = "A hummingbird hovering at a red flower, high-speed camera, soft morning light"
# A render of a few seconds, read every CADENCE seconds (no history yet: the contract's cadence applies), so
# a second or more passes between reads.
RENDER_SECONDS = 4.0
CADENCE = 2.5


@dataclass
class Told:
    progress: float
    total: float | None
    message: str
    reads: int  # HeyGen status reads the sandbox had answered when this notification arrived


def recorder(sandbox: Sandbox, seen: list[Told]) -> ProgressFnT:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(Told(progress, total, message or "", sandbox.count("status")))

    return on_progress


def between_reads(seen: list[Told]) -> list[int]:
    """How many notifications came after each read and before the next, for each full gap between two reads
    during the wait (the first group may start mid-gap, the last one ends with the call)."""
    per_read = Counter(told.reads for told in seen)
    counts = sorted(per_read)
    return [per_read[reads] for reads in counts[1:-1]]


async def test_wait_for_video_tells_progress_every_second_between_reads(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str
) -> None:
    sandbox.set_render_seconds(RENDER_SECONDS)
    async with Client(create_server(make_settings(poll_interval=CADENCE, wait_seconds=20.0)), mode=mode) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        execution_id = job["execution_id"]
        reads_before = sandbox.count("status")
        seen: list[Told] = []
        result = await client.call_tool(
            "wait_for_video", {"execution_id": execution_id}, progress_callback=recorder(sandbox, seen)
        )
        done = data_of(result)
        after_return = len(seen)
        await anyio.sleep(1.5)  # a tick that outlived the call would arrive by now

    assert done["status"] == "completed", done
    reads = sandbox.count("status") - reads_before
    # The reads are the schedule's alone (one per cadence over the render, and the one that sees it end):
    # the ticks in between ask HeyGen nothing.
    assert 1 <= reads <= RENDER_SECONDS // CADENCE + 2, reads
    # About one notification a second of waiting (generous bounds), several between two reads.
    waited = done["waited_seconds"]
    assert waited / 2 <= len(seen) <= 2 * waited + 3, (waited, len(seen))
    gaps = between_reads(seen)
    assert gaps and all(count >= 2 for count in gaps), [(t.reads, t.progress) for t in seen]
    # Between reads the render's own clock moves against the estimate, with the last status known.
    assert len({round(t.progress) for t in seen}) >= 3, [t.progress for t in seen]
    assert any("processing for" in t.message for t in seen) and "completed" in seen[-1].message
    progress = [t.progress for t in seen]
    assert progress == sorted(set(progress)), progress  # strictly increasing
    assert all(t.total is not None and t.progress <= t.total for t in seen)
    assert len(seen) == after_return, "progress arrived after the call had returned"


async def test_a_wait_cut_short_by_its_budget_stops_telling_progress(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    sandbox.set_render_seconds(30.0)
    async with Client(create_server(make_settings(poll_interval=CADENCE))) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT + " (cut short)"}))
        seen: list[Told] = []
        result = await client.call_tool(
            "wait_for_video",
            {"execution_id": job["execution_id"], "max_wait_seconds": 3},
            progress_callback=recorder(sandbox, seen),
        )
        waited = data_of(result)
        after_return = len(seen)
        reads_after_return = sandbox.count("status")
        await anyio.sleep(2.0)
        late, late_reads = len(seen) - after_return, sandbox.count("status") - reads_after_return

    assert waited["status"] in ("submitted", "processing") and not waited["done"], waited
    assert 2 <= len(seen) <= 3 * 2 + 3, [t.progress for t in seen]
    assert late == 0 and late_reads == 0, (late, late_reads)


async def test_no_bare_tick_comes_in_the_last_second_before_the_answer(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    """A tick in a wait's last second would say nothing its answer does not say a moment later; with 2,000
    waits ending together such ticks only crowd the client reading the answers."""
    sandbox.set_render_seconds(60.0)
    async with Client(create_server(make_settings(poll_interval=10.0))) as client:  # no read after the first
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT + " (last second)"}))
        told_at: list[float] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            told_at.append(time.monotonic())

        arguments = {"execution_id": job["execution_id"], "max_wait_seconds": 3}
        result = await client.call_tool("wait_for_video", arguments, progress_callback=on_progress)
        returned = time.monotonic()

    assert not data_of(result)["done"]
    assert len(told_at) >= 2, told_at  # the first look, and a tick a second on
    assert returned - told_at[-1] >= 1.2, [round(returned - t, 2) for t in told_at]


async def test_wait_for_videos_tells_progress_every_second_between_reads(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    sandbox.set_render_seconds(RENDER_SECONDS)
    async with Client(create_server(make_settings(poll_interval=CADENCE, wait_seconds=20.0))) as client:
        ids = [
            data_of(await client.call_tool("generate_video", {"prompt": f"{PROMPT}, take {n}"}))["execution_id"]
            for n in range(2)
        ]
        reads_before = sandbox.count("status")
        seen: list[Told] = []
        result = await client.call_tool(
            "wait_for_videos", {"execution_ids": ids}, progress_callback=recorder(sandbox, seen)
        )
        items = data_of(result)["results"]
        after_return = len(seen)
        await anyio.sleep(1.5)

    assert [item["video"]["status"] for item in items] == ["completed", "completed"], items
    reads = sandbox.count("status") - reads_before
    assert reads <= 2 * (RENDER_SECONDS // CADENCE + 2), reads
    waited = max(item["video"]["waited_seconds"] for item in items)
    # Each job ticks about once a second: two jobs, about two a second.
    assert waited / 2 <= len(seen) <= 4 * waited + 6, (waited, len(seen))
    # Told with no read since the one before: ticks (about 4 a job in a render of 4 s read every 2.5 s).
    ticks = sum(1 for before, told in pairwise(seen) if told.reads == before.reads)
    assert ticks >= 4, [(t.reads, t.progress) for t in seen]
    progress = [t.progress for t in seen]
    assert progress == sorted(set(progress)), progress  # strictly increasing
    assert all(t.total == 2 for t in seen) and progress[-1] == pytest.approx(2, abs=0.01)
    assert len(seen) == after_return, "progress arrived after the call had returned"


def test_the_command_lines_bar_moves_between_reads(sandbox: Sandbox, tmp_path: Path) -> None:
    """`generate --wait` at a terminal (rich told so, at a fixed width): the bar's figure for the render's
    clock ("submitted for 3 s", "processing for 4 s") advances every second, not only when a read lands."""
    sandbox.reset()
    sandbox.set_render_seconds(RENDER_SECONDS + 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "TTY_", "FORCE_", "NO_COLOR"))}
    env |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_POLL_INTERVAL": str(CADENCE),
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
        "TTY_COMPATIBLE": "1",
        "TTY_INTERACTIVE": "1",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }
    try:
        done = subprocess.run(
            [console_script(), "generate", PROMPT, "--wait"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        reads = sandbox.count("status")
    finally:
        sandbox.reset()
    assert done.returncode == 0, done.stderr
    assert 1 <= reads <= (RENDER_SECONDS + 1) // CADENCE + 2, reads
    figures = {int(n) for n in re.findall(r"(?:submitted|processing) for (\d+) s", done.stderr)}
    # Told only at reads, the bar would show at most one figure per read and the one it started with.
    assert len(figures) >= reads + 2, (sorted(figures), reads)
    assert "completed after" in done.stderr
