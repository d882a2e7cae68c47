"""Completion detection: from the moment a render ends to the moment the assistant learns of it.

    python benchmarks/detection.py [--quick] [--check] [--rounds 3] [--jobs 6] [--warmup 8]
                                   [--render 20-40] [--seed 1]

Starts the HeyGen sandbox in this process, drawing each job's render time uniformly from --render (seeded,
so a re-run sees the same times), and drives the installed console script `heygen-video-mcp` over stdio
with mcp.Client as an assistant would: generate_video, then wait_for_video call after call until the call
returns completed. The server runs with its default poll settings and HEYGEN_DOWNLOAD=false, so the
figure is about detection, not saving.

1. Earlier renders: --warmup jobs (same provider and aspect ratio, same library) run to completion through
   a first server process, which then exits, so the measured server can learn render times from its
   library's history.
2. --rounds rounds of --jobs concurrent jobs through a second server process. For each job:
   * detection delay: from the sandbox's exact completion time (Job.completes_at, the same monotonic
     clock, the sandbox runs in a thread of this process) to the return of the wait_for_video call that
     says completed;
   * status GETs per job-minute: the status reads the sandbox recorded for the job up to that return,
     divided by the job's render time in minutes.
3. Floor, in the same run: one more wait_for_video call on each completed job, timed. It is the delay an
   ideal poller would still show (one status read and one tool round trip).

Prints, per round, the median and max detection delay and the GETs per job-minute (reported, not the
goal), then the same over the run and the ratio of the median delay to the floor. Goals, over all measured
renders of a run (at least 18, the default 3 rounds of 6): median <= 2.0 s, max <= 6 s, at <= 10 GETs per
job-minute. With --check, exits 1 if the run misses a goal; otherwise it only reports. --quick is a short
smoke run (renders of 4-8 s, 2 earlier renders, one round of 3 jobs) whose figures mean little.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import anyio
from harness import code_under_test, console_script, parse_range
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Sandbox

API_KEY = "benchmark-key"
PROVIDER = "veo_3_1"
ASPECT_RATIO = "16:9"
PROMPT = "A paper lantern drifting over a night river, slow crane shot, warm bokeh, cinematic"
# A call gets its budget plus a margin from the server (at most 45 s); the client waits a little longer.
CALL_TIMEOUT = 60.0
GOAL_MEDIAN = 2.0
GOAL_MAX = 6.0
GOAL_GETS_PER_MINUTE = 10.0
MEASURED_AT_LEAST = 18


@dataclass
class Followed:
    """One job as the assistant followed it."""

    execution_id: str
    render_seconds: float
    completes_at: float  # monotonic, from the sandbox
    learned_at: float  # monotonic: the completed wait_for_video call returned
    calls: list[float] = field(default_factory=list)  # each wait_for_video call's duration
    status_reads: int = 0  # up to learned_at

    @property
    def delay(self) -> float:
        return self.learned_at - self.completes_at

    @property
    def gets_per_minute(self) -> float:
        return self.status_reads / (self.render_seconds / 60)


def server_params(sb: Sandbox, output_dir: Path) -> StdioServerParameters:
    """The server as a desktop app starts it, pointed at the sandbox; poll settings left at their defaults."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    env |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sb.base_url,
        "HEYGEN_OUTPUT_DIR": str(output_dir),
        "HEYGEN_DOWNLOAD": "false",
    }
    return StdioServerParameters(command=console_script(), args=[], env=env)


def data_of(result: Any, what: str) -> dict[str, Any]:
    data: dict[str, Any] | None = result.structured_content
    if result.is_error or data is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{what} failed: {text[:500]}")
    return data


async def follow(client: Client, sb: Sandbox, prompt: str, bound: float) -> Followed:
    """generate_video, then wait_for_video call after call until it says completed."""
    with anyio.fail_after(bound):
        created = data_of(
            await client.call_tool(
                "generate_video",
                {"prompt": prompt, "provider": PROVIDER, "aspect_ratio": ASPECT_RATIO},
                read_timeout_seconds=CALL_TIMEOUT,
            ),
            "generate_video",
        )
        execution_id: str = created["execution_id"]
        calls: list[float] = []
        while True:
            started = time.monotonic()
            result = await client.call_tool(
                "wait_for_video", {"execution_id": execution_id}, read_timeout_seconds=CALL_TIMEOUT
            )
            returned = time.monotonic()
            calls.append(returned - started)
            data = data_of(result, f"wait_for_video({execution_id})")
            if data["status"] == "completed":
                break
            if data["done"]:
                raise RuntimeError(f"{execution_id} ended {data['status']}: {data.get('error')}")
    job = sb.jobs[execution_id]
    return Followed(
        execution_id=execution_id,
        render_seconds=job.render_seconds,
        completes_at=job.completes_at,
        learned_at=returned,
        calls=calls,
        status_reads=sum(1 for at in sb.status_reads(execution_id) if at <= returned),
    )


async def run_jobs(client: Client, sb: Sandbox, prompts: list[str], bound: float) -> list[Followed]:
    done: list[Followed] = []

    async def one(prompt: str) -> None:
        done.append(await follow(client, sb, prompt, bound))

    async with anyio.create_task_group() as group:
        for prompt in prompts:
            group.start_soon(one, prompt)
    return done


async def floor_call(client: Client, execution_id: str) -> float:
    """One wait_for_video call on a job that is already completed: the round trip an ideal poller pays."""
    started = time.monotonic()
    data = data_of(
        await client.call_tool("wait_for_video", {"execution_id": execution_id}, read_timeout_seconds=CALL_TIMEOUT),
        "wait_for_video (floor)",
    )
    if data["status"] != "completed":
        raise RuntimeError(f"floor call found {execution_id} {data['status']}")
    return time.monotonic() - started


def stdio(params: StdioServerParameters, errlog: TextIO) -> Client:
    return Client(stdio_client(params, errlog=errlog))


@dataclass(frozen=True)
class Options:
    rounds: int
    jobs: int
    warmup: int
    render: tuple[float, float]
    seed: int


async def measure(opts: Options, tmp: Path) -> tuple[list[list[Followed]], list[float], float]:
    bound = opts.render[1] + 90  # a job's whole life, generously; everything ends by itself
    low, high = opts.render
    with Sandbox(api_key=API_KEY, render_seconds=opts.render, render_seed=opts.seed) as sb:
        params = server_params(sb, tmp / "videos")
        with (tmp / "server.log").open("w") as errlog:
            started = time.monotonic()
            if opts.warmup:
                print(f"earlier renders: {opts.warmup} jobs of {low:g}-{high:g} s through a first server", flush=True)
                async with stdio(params, errlog) as client:
                    prompts = [f"{PROMPT}, earlier take {n}" for n in range(opts.warmup)]
                    earlier = await run_jobs(client, sb, prompts, bound)
                print(
                    f"  done in {time.monotonic() - started:.0f} s (their detection median "
                    f"{statistics.median(f.delay for f in earlier):.2f} s)",
                    flush=True,
                )
            rounds: list[list[Followed]] = []
            floors: list[float] = []
            async with stdio(params, errlog) as client:
                for r in range(opts.rounds):
                    prompts = [f"{PROMPT}, round {r + 1} take {n}" for n in range(opts.jobs)]
                    followed = await run_jobs(client, sb, prompts, bound)
                    rounds.append(followed)
                    print_round(r + 1, followed)
                    for job in followed:
                        floors.append(await floor_call(client, job.execution_id))
    return rounds, floors, time.monotonic() - started


def print_round(number: int, followed: list[Followed]) -> None:
    delays = [f.delay for f in followed]
    reads = sum(f.status_reads for f in followed)
    minutes = sum(f.render_seconds for f in followed) / 60
    calls = [c for f in followed for c in f.calls]
    renders = [f.render_seconds for f in followed]
    print(
        f"round {number}: {len(followed)} jobs, renders {min(renders):.1f}-{max(renders):.1f} s: "
        f"detection median {statistics.median(delays):.2f} s, max {max(delays):.2f} s; "
        f"{reads / minutes:.1f} status GETs per job-minute (worst job {max(f.gets_per_minute for f in followed):.1f}); "
        f"{len(calls) / len(followed):.1f} wait_for_video calls per job, longest {max(calls):.1f} s",
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds")
    parser.add_argument("--jobs", type=int, default=6, help="concurrent jobs per round")
    parser.add_argument("--warmup", type=int, default=8, help="earlier renders before measuring")
    parser.add_argument("--render", type=parse_range, default=(20.0, 40.0), help="render seconds, drawn per job")
    parser.add_argument("--seed", type=int, default=1, help="seed of the drawn render times")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 4-8 s renders, 2 + 3 jobs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.jobs, args.warmup, args.render = 1, 3, 2, (4.0, 8.0)
    if args.rounds < 1 or args.jobs < 1 or args.warmup < 0 or args.jobs > 50 or args.warmup > 50:
        parser.error("--rounds and --jobs must be at least 1; --jobs and --warmup at most 50")
    opts = Options(rounds=args.rounds, jobs=args.jobs, warmup=args.warmup, render=args.render, seed=args.seed)
    print(f"server code: {code_under_test()}", flush=True)

    with tempfile.TemporaryDirectory(prefix="heygen-detect-") as tmp:
        try:
            rounds, floors, seconds = anyio.run(measure, opts, Path(tmp))
        except BaseException:
            log = (Path(tmp) / "server.log").read_text(errors="replace")
            print(f"server log (last 3000 characters):\n{log[-3000:]}", file=sys.stderr)
            raise

    everyone = [f for followed in rounds for f in followed]
    delays = [f.delay for f in everyone]
    floor = statistics.median(floors)
    print(
        f"all {len(everyone)} jobs: detection median {statistics.median(delays):.2f} s, "
        f"max {max(delays):.2f} s, mean {statistics.fmean(delays):.2f} s"
    )
    print(f"floor (wait_for_video on a completed job): p50 {floor * 1000:.1f} ms, max {max(floors) * 1000:.1f} ms")
    print(f"ratio median delay / floor: {statistics.median(delays) / floor:.0f}x; run took {seconds:.0f} s")
    reads = sum(f.status_reads for f in everyone)
    rate = reads / (sum(f.render_seconds for f in everyone) / 60)
    print(f"all {len(everyone)} jobs: {rate:.1f} status GETs per job-minute ({reads} GETs)")
    missed = []
    if statistics.median(delays) > GOAL_MEDIAN:
        missed.append(f"median {statistics.median(delays):.2f} s > {GOAL_MEDIAN} s")
    if max(delays) > GOAL_MAX:
        missed.append(f"max {max(delays):.2f} s > {GOAL_MAX} s")
    if rate > GOAL_GETS_PER_MINUTE:
        missed.append(f"{rate:.1f} GETs per job-minute > {GOAL_GETS_PER_MINUTE}")
    if len(everyone) < MEASURED_AT_LEAST:
        missed.append(f"only {len(everyone)} measured renders (the goal is stated over at least {MEASURED_AT_LEAST})")
    print(
        f"goals (over all {len(everyone)} measured renders of the run): median <= {GOAL_MEDIAN} s, "
        f"max <= {GOAL_MAX} s, <= {GOAL_GETS_PER_MINUTE:g} status GETs per job-minute: "
        + ("missed" if missed else "met")
    )
    for line in missed:
        print(f"  {line}")
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
