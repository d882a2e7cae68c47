"""Batch status reads: many Video Agent renders followed at once, status requests and detection delay, with
reads shared through GET /v3/videos/statuses beside one GET per video per read, in the same run.

    python benchmarks/batch_reads.py [--quick] [--check] [--jobs 50] [--warmup 8] [--render 20-40] [--seed 1]

Starts the HeyGen sandbox in this process, drawing each render's time uniformly from --render (seeded), and
drives the installed console script `heygen-video-mcp` over stdio with mcp.Client, one assistant per job:
generate_video(provider="video_agent"), then wait_for_video call after call until it says completed.

1. Earlier renders: --warmup Video Agent jobs run to completion through a first server whose cadence is a
   hundredth of HeyGen's (HEYGEN_POLL_INTERVAL=0.1: a first look at 3 s, then a read every 0.3 s), so the
   library learns each render's time closely without waiting out the Video Agent's 5-minute first look.
   That library is copied, so both measured servers start from the same history.
2. Two measured phases, one after the other, each a fresh server at HeyGen's 10 s cadence on its copy of the
   library, each following --jobs renders submitted at once: first with HEYGEN_BATCH_STATUS_READS=false (one
   GET /v3/videos/{id} per video per read), then with batch reads (the default). For each phase:
   * status requests: every read the sandbox recorded (statuses, video and session GETs) from the first
     submission to the last completion the assistants learned of, per job-minute of render and per second;
   * detection delay: from the sandbox's completion time (Job.completes_at, the same monotonic clock) to the
     return of the wait_for_video call that says completed.

Prints both phases and batch/one-per-video ratios. Goals (issue 23): with batch reads, <= 2 status requests per
second in total while the detection median stays <= 2 s. With --check, exits 1 if a goal is missed.
--quick is a smoke run (10 jobs of 4-8 s after 3 earlier ones) whose figures mean little.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio
from detection import CALL_TIMEOUT, data_of, stdio
from harness import code_under_test, console_script, parse_range
from mcp import Client, StdioServerParameters

from heygen_video_mcp.server.sandbox import Sandbox

API_KEY = "benchmark-key"
PROMPT = "A chef explains, in one minute, how to fold dumplings"
WARMUP_CADENCE = "0.1"
GOAL_PER_SECOND = 2.0
GOAL_MEDIAN = 2.0
LIBRARY = "heygen-library.sqlite3"


@dataclass(frozen=True)
class Phase:
    """One measured phase: its jobs' detection delays and the status requests it cost."""

    name: str
    delays: list[float]
    render_seconds: float  # all its jobs' render times, summed
    requests: int
    seconds: float  # from the first submission to the last completion learned

    @property
    def per_job_minute(self) -> float:
        return self.requests / (self.render_seconds / 60)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def line(self) -> str:
        return (
            f"{self.name}: {len(self.delays)} jobs, detection median {statistics.median(self.delays):.2f} s, "
            f"max {max(self.delays):.2f} s; {self.requests} status requests in {self.seconds:.1f} s: "
            f"{self.per_job_minute:.2f} per job-minute, {self.per_second:.2f} per second"
        )


def server_params(sb: Sandbox, library: Path, output_dir: Path, **env: str) -> StdioServerParameters:
    given = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    given |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sb.base_url,
        "HEYGEN_OUTPUT_DIR": str(output_dir),
        "HEYGEN_LIBRARY_PATH": str(library),
        "HEYGEN_DOWNLOAD": "false",
        **env,
    }
    return StdioServerParameters(command=console_script(), args=[], env=given)


async def follow(client: Client, prompt: str, bound: float) -> tuple[str, float]:
    """generate_video, then wait_for_video until completed; the job's id and when that call returned."""
    with anyio.fail_after(bound):
        created = data_of(
            await client.call_tool(
                "generate_video", {"prompt": prompt, "provider": "video_agent"}, read_timeout_seconds=CALL_TIMEOUT
            ),
            "generate_video",
        )
        execution_id: str = created["execution_id"]
        while True:
            args = {"execution_id": execution_id}
            data = data_of(
                await client.call_tool("wait_for_video", args, read_timeout_seconds=CALL_TIMEOUT), execution_id
            )
            if data["status"] == "completed":
                return execution_id, time.monotonic()
            if data["done"]:
                raise RuntimeError(f"{execution_id} ended {data['status']}: {data.get('error')}")


async def run_jobs(params: StdioServerParameters, errlog: TextIO, prompts: list[str], bound: float) -> dict[str, float]:
    learned: dict[str, float] = {}

    async def one(prompt: str) -> None:
        execution_id, at = await follow(client, prompt, bound)
        learned[execution_id] = at

    async with stdio(params, errlog) as client, anyio.create_task_group() as group:
        for prompt in prompts:
            group.start_soon(one, prompt)
    return learned


async def phase(
    name: str, sb: Sandbox, params: StdioServerParameters, errlog: TextIO, jobs: int, bound: float
) -> Phase:
    started = time.monotonic()
    learned = await run_jobs(params, errlog, [f"{PROMPT}, {name} take {n}" for n in range(jobs)], bound)
    ended = max(learned.values())
    requests = sum(1 for r in sb.requests if r.route == "status" and started <= r.time <= ended)
    done = [sb.jobs[execution_id] for execution_id in learned]
    return Phase(
        name=name,
        delays=[learned[job.execution_id] - job.completes_at for job in done],
        render_seconds=sum(job.render_seconds for job in done),
        requests=requests,
        seconds=ended - started,
    )


def copy_library(source: Path, target: Path) -> Path:
    target.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        if (found := source.with_name(source.name + suffix)).exists():
            shutil.copy2(found, target / found.name)
    return target / source.name


async def measure(args: argparse.Namespace, tmp: Path, errlog: TextIO) -> list[Phase]:
    bound = args.render[1] + 120  # a job's whole life, generously
    with Sandbox(api_key=API_KEY, render_seconds=args.render, render_seed=args.seed) as sb:
        history = tmp / "history" / LIBRARY
        if args.warmup:
            print(f"earlier renders: {args.warmup} Video Agent jobs through a first server", flush=True)
            warm = server_params(sb, history, tmp / "videos", HEYGEN_POLL_INTERVAL=WARMUP_CADENCE)
            await run_jobs(warm, errlog, [f"{PROMPT}, earlier take {n}" for n in range(args.warmup)], bound)
        phases = []
        for name, batch in (("one GET per video", "false"), ("batch reads", "true")):
            library = copy_library(history, tmp / name.replace(" ", "-"))
            params = server_params(sb, library, tmp / "videos", HEYGEN_BATCH_STATUS_READS=batch)
            phases.append(await phase(name, sb, params, errlog, args.jobs, bound))
            print(phases[-1].line(), flush=True)
    return phases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50, help="concurrent Video Agent renders per phase")
    parser.add_argument("--warmup", type=int, default=8, help="earlier renders the schedule learns from")
    parser.add_argument("--render", type=parse_range, default=(20.0, 40.0), help="render seconds, drawn per job")
    parser.add_argument("--seed", type=int, default=1, help="seed of the drawn render times")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 10 jobs of 4-8 s after 3 earlier ones")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.warmup, args.render = 10, 3, (4.0, 8.0)
    if not 1 <= args.jobs <= 100 or not 0 <= args.warmup <= 50:
        parser.error("--jobs must be 1-100 and --warmup 0-50")
    print(f"server code: {code_under_test()}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="heygen-batch-") as tmp, (Path(tmp) / "server.log").open("w") as errlog:
        try:
            single, batch = anyio.run(measure, args, Path(tmp), errlog)
        except BaseException:
            errlog.flush()
            log = (Path(tmp) / "server.log").read_text(errors="replace")
            print(f"server log (last 3000 characters):\n{log[-3000:]}", file=sys.stderr)
            raise
    print(
        f"ratio batch/one-per-video: status requests per job-minute "
        f"{batch.per_job_minute / single.per_job_minute:.2f}x, per second {batch.per_second / single.per_second:.2f}x; "
        f"detection median {statistics.median(batch.delays) / statistics.median(single.delays):.2f}x; "
        f"run took {time.monotonic() - started:.0f} s"
    )
    median = statistics.median(batch.delays)
    met = batch.per_second <= GOAL_PER_SECOND and median <= GOAL_MEDIAN
    print(
        f"goal (batch reads): <= {GOAL_PER_SECOND:g} status requests per second while the detection median stays "
        f"<= {GOAL_MEDIAN:g} s: " + ("met" if met else f"missed ({batch.per_second:.2f} per second, {median:.2f} s)")
    )
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
