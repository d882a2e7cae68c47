"""Many waits at once: 2,000 jobs followed together through one server process.

    python benchmarks/many_waits.py [--quick] [--check] [--busy] [--no-progress] [--jobs 2000] [--render 60-90]
                                    [--seed 1]

Starts the HeyGen sandbox in this process (each job's render time drawn uniformly from --render, seeded)
and the installed console script `heygen-video-mcp` as a stdio subprocess, with its default poll settings
and wait budget (25 s) and HEYGEN_DOWNLOAD=false, so its memory is its own (read from /proc/<pid>/status).

1. Warm-up: one job submitted, read and waited on for 2 s, so lazy imports and caches are in place; the
   server's RSS then is the baseline. That 2-s call is also the floor of call duration: a lone call's
   overhead over its budget, so a lone 25-s call lasts 25 s + that.
2. --jobs generate_video calls, 20 at once.
3. Then every job is waited on at once, through one mcp.Client session: each job's waiter calls
   wait_for_video again while done is false (with a progress callback, as desktop clients ask for
   progress), until all complete.

With --busy, a second process spins on a core from before the warm-up to the end, as other work on the
machine would (the goal is stated with it). With --no-progress the waiters ask for no progress notifications,
which tells what sending them costs (the server's waits wake every second either way).

Reports wait_for_video call durations (p50/p99/max; goal: every call <= 28 s, a margin under clients' 30 s),
the server's memory per job
((peak RSS - baseline) / jobs, VmHWM; goal: <= 50 KB), the status GET rate the sandbox served (mean and
peak per second, and the latency of a probe GET every 0.25 s from a thread of its own), and the CPU used
by the server, the sandbox's thread and the client's thread (share of one core), to tell where time went.
With --check, exits 1 when a goal is missed or a job did not complete. --quick: 100 jobs of 4-6 s.
The whole run is bounded: every phase has a deadline, and the server stops with the client session.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from harness import code_under_test, console_script, parse_range
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Sandbox

API_KEY = "benchmark-key"
PROMPT = "A paper lantern drifting over a night river, slow crane shot, warm bokeh, cinematic"
EXECUTIONS = "/v1/workflows/executions"
PROBE_PATH = f"{EXECUTIONS}/node-gw-probe"
CALL_TIMEOUT = 60.0
SUBMIT_AT_ONCE = 20
MAX_FAILURES_PER_JOB = 5  # then its waiter gives up (and the job counts as not completed)
FLOOR_BUDGET = 2.0
DEFAULT_BUDGET = 25.0  # the server's default wait budget, which this benchmark leaves alone
GOAL_CALL_SECONDS = 28.0
GOAL_BYTES_PER_JOB = 50_000
KB = 1000
MB = 1_000_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- /proc -------------------------------------------------------------------------------------------------


def _stat_fields(path: str) -> list[str]:
    """Fields of a /proc stat file after the command name; field n of proc(5) is at index n - 3."""
    return Path(path).read_text().rsplit(")", 1)[1].split()


def children() -> set[int]:
    me = os.getpid()
    found = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if int(_stat_fields(f"/proc/{entry.name}/stat")[1]) == me:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def status_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in bytes, and Threads, from /proc/<pid>/status."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024
        elif name == "Threads":
            values[name] = int(rest)
    return values


def machine_cpu() -> tuple[float, float]:
    """Busy and total seconds of all cores since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    total = sum(ticks[:8])  # without guest time, which user already counts
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


def cpu_seconds(stat_path: str) -> float:
    fields = _stat_fields(stat_path)
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


# --- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Sample:
    at: float
    rss: int
    threads: int
    server_cpu: float
    server_loop_cpu: float  # the server's main thread, where its event loop runs
    sandbox_cpu: float
    client_cpu: float
    benchmark_cpu: float  # this whole process: client, sandbox, probe and sampler
    machine_busy: float  # seconds of all cores, from /proc/stat
    machine_total: float


@dataclass(frozen=True)
class Call:
    nth: int  # 1 for a job's first wait_for_video call
    started: float  # seconds after the waits began
    seconds: float
    outcome: str  # "completed", "pending" or the error
    waited: float | None  # the server's own waited_seconds: time in its polling loop


@dataclass
class Run:
    pid: int = 0
    rss_idle: int = 0
    threads_idle: int = 0
    floor_overhead: float = 0.0
    submit_seconds: float = 0.0
    submit_calls: list[float] = field(default_factory=list)
    wait_started: float = 0.0
    wait_ended: float = 0.0
    calls: list[Call] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    pings: list[float] = field(default_factory=list)  # list_providers round trips while waiting
    completed: dict[str, float] = field(default_factory=dict)  # execution id -> when the assistant learned
    progress: int = 0
    hwm: int = 0
    rss_end: int = 0
    samples: list[Sample] = field(default_factory=list)
    probes: list[float] = field(default_factory=list)
    status_gets: list[float] = field(default_factory=list)  # arrival times in the wait phase (no probes)
    render: list[float] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)
    log_bytes: int = 0


def data_of(result: Any, what: str) -> dict[str, Any]:
    data: dict[str, Any] | None = result.structured_content
    if result.is_error or data is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        raise RuntimeError(f"{what} failed: {text[:300]}")
    return data


def probe(base_url: str, stop: threading.Event, latencies: list[float]) -> None:
    """A status GET every 0.25 s from a thread of its own: how long the sandbox takes to answer."""
    with httpx2.Client(base_url=base_url, headers={"X-Api-Key": API_KEY}, timeout=30) as http:
        while not stop.wait(0.25):
            started = time.monotonic()
            try:
                http.get(PROBE_PATH)
            except httpx2.HTTPError:
                latencies.append(math.inf)
                continue
            latencies.append(time.monotonic() - started)


async def sample(run: Run, sb: Sandbox, stop: anyio.Event) -> None:
    assert sb.thread is not None and sb.thread.native_id is not None
    sandbox_stat = f"/proc/self/task/{sb.thread.native_id}/stat"
    client_stat = f"/proc/self/task/{threading.main_thread().native_id}/stat"
    while not stop.is_set():
        try:
            status = status_of(run.pid)
            busy, total = machine_cpu()
            run.samples.append(
                Sample(
                    at=time.monotonic(),
                    rss=status["VmRSS"],
                    threads=status["Threads"],
                    server_cpu=cpu_seconds(f"/proc/{run.pid}/stat"),
                    server_loop_cpu=cpu_seconds(f"/proc/{run.pid}/task/{run.pid}/stat"),
                    sandbox_cpu=cpu_seconds(sandbox_stat),
                    client_cpu=cpu_seconds(client_stat),
                    benchmark_cpu=cpu_seconds("/proc/self/stat"),
                    machine_busy=busy,
                    machine_total=total,
                )
            )
        except (OSError, KeyError):
            return  # the server is gone
        with anyio.move_on_after(0.5):
            await stop.wait()


async def measure(jobs: int, render: tuple[float, float], seed: int, tmp: Path, progress: bool) -> Run:
    run = Run()
    with Sandbox(api_key=API_KEY, render_seconds=3600.0, submitted_seconds=2.0) as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
        env |= {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": sb.base_url,
            "HEYGEN_OUTPUT_DIR": str(tmp / "videos"),
            "HEYGEN_DOWNLOAD": "false",
        }
        params = StdioServerParameters(command=console_script(), args=[], env=env)
        log = tmp / "server.log"
        before = children()
        with log.open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                spawned = [pid for pid in children() - before if b"heygen-video-mcp" in _cmdline(pid)]
                if len(spawned) != 1:
                    raise RuntimeError(f"cannot tell the server's pid among {spawned}")
                run.pid = spawned[0]
                await warm_up(client, run)
                idle = status_of(run.pid)
                run.rss_idle, run.threads_idle = idle["VmRSS"], idle["Threads"]
                print(
                    f"server pid {run.pid}: RSS {run.rss_idle / MB:.1f} MB and {run.threads_idle} threads after "
                    "warm-up; lone wait_for_video "
                    f"overhead {run.floor_overhead * 1000:.0f} ms",
                    flush=True,
                )

                stop_sampling = anyio.Event()
                stop_probe = threading.Event()
                prober = threading.Thread(target=probe, args=(sb.base_url, stop_probe, run.probes), daemon=True)
                async with anyio.create_task_group() as group:
                    group.start_soon(sample, run, sb, stop_sampling)
                    try:
                        sb.set_render_seconds(render, seed=seed)
                        ids = await submit_all(client, run, jobs)
                        print(f"submitted {jobs} jobs; now waiting on all at once", flush=True)
                        first_get = len(sb.requests)
                        prober.start()
                        await wait_all(client, run, ids, bound=render[1] + 150, progress=progress)
                    finally:
                        stop_probe.set()
                        stop_sampling.set()
                run.hwm = status_of(run.pid)["VmHWM"]
                run.rss_end = status_of(run.pid)["VmRSS"]
        prober.join(timeout=35)
        run.log_bytes = log.stat().st_size
        window = [r for r in sb.requests[first_get:] if r.route == "status" and r.path != PROBE_PATH]
        run.status_gets = [r.time for r in window if run.wait_started <= r.time <= run.wait_ended]
        run.render = [sb.jobs[i].render_seconds for i in ids]
        run.delays = [run.completed[i] - sb.jobs[i].completes_at for i in ids if i in run.completed]
    return run


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


async def warm_up(client: Client, run: Run) -> None:
    await client.call_tool("list_providers", {}, read_timeout_seconds=CALL_TIMEOUT)
    created = data_of(
        await client.call_tool("generate_video", {"prompt": f"{PROMPT}, warm-up"}, read_timeout_seconds=CALL_TIMEOUT),
        "generate_video",
    )
    execution_id = created["execution_id"]
    await client.call_tool("check_status", {"execution_id": execution_id}, read_timeout_seconds=CALL_TIMEOUT)
    started = time.monotonic()
    data_of(
        await client.call_tool(
            "wait_for_video",
            {"execution_id": execution_id, "max_wait_seconds": FLOOR_BUDGET},
            read_timeout_seconds=CALL_TIMEOUT,
        ),
        "wait_for_video (floor)",
    )
    run.floor_overhead = time.monotonic() - started - FLOOR_BUDGET


async def submit_all(client: Client, run: Run, jobs: int) -> list[str]:
    ids: list[str | None] = [None] * jobs
    limiter = anyio.Semaphore(SUBMIT_AT_ONCE)

    async def submit(n: int) -> None:
        async with limiter:
            started = time.monotonic()
            result = await client.call_tool(
                "generate_video", {"prompt": f"{PROMPT}, take {n}"}, read_timeout_seconds=CALL_TIMEOUT
            )
            run.submit_calls.append(time.monotonic() - started)
            ids[n] = data_of(result, "generate_video")["execution_id"]

    started = time.monotonic()
    with anyio.fail_after(max(120.0, jobs * 0.2)):
        async with anyio.create_task_group() as group:
            for n in range(jobs):
                group.start_soon(submit, n)
    run.submit_seconds = time.monotonic() - started
    return [i for i in ids if i is not None]


async def wait_all(client: Client, run: Run, ids: list[str], bound: float, progress: bool) -> None:
    async def told(progress: float, total: float | None, message: str | None) -> None:
        run.progress += 1

    async def waiter(execution_id: str) -> None:
        failures = 0
        while failures < MAX_FAILURES_PER_JOB:
            started = time.monotonic()
            outcome = "pending"
            waited: float | None = None
            try:
                result = await client.call_tool(
                    "wait_for_video",
                    {"execution_id": execution_id},
                    read_timeout_seconds=CALL_TIMEOUT,
                    progress_callback=told if progress else None,
                )
            except Exception as exc:  # a timed-out or refused call: counted, and the assistant calls again
                outcome = type(exc).__name__ + ": " + str(exc)[:80]
            else:
                data = result.structured_content or {}
                waited = data.get("waited_seconds")
                if result.is_error or not data:
                    text = " ".join(getattr(block, "text", "") for block in result.content)
                    outcome = f"error result: {text[:90]}"
                elif data["status"] == "completed":
                    outcome = "completed"
                elif data["done"]:
                    outcome = f"ended {data['status']}"
            returned = time.monotonic()
            nth = counts[execution_id] = counts[execution_id] + 1
            run.calls.append(Call(nth, started - run.wait_started, returned - started, outcome, waited))
            if outcome == "completed":
                run.completed[execution_id] = returned
                return
            if outcome != "pending":
                run.errors[outcome] += 1
                failures += 1
                if outcome.startswith("ended"):
                    return

    async def ping(stop: anyio.Event) -> None:
        """A call that needs no HeyGen every 0.5 s: how quickly the server answers anything meanwhile."""
        while not stop.is_set():
            started = time.monotonic()
            await client.call_tool("list_providers", {}, read_timeout_seconds=CALL_TIMEOUT)
            run.pings.append(time.monotonic() - started)
            with anyio.move_on_after(0.5):
                await stop.wait()

    counts: Counter[str] = Counter()
    run.wait_started = time.monotonic()
    stop = anyio.Event()
    with anyio.move_on_after(bound):
        async with anyio.create_task_group() as pinging:
            pinging.start_soon(ping, stop)
            async with anyio.create_task_group() as group:
                for execution_id in ids:
                    group.start_soon(waiter, execution_id)
            stop.set()
    run.wait_ended = time.monotonic()


# --- reporting ---------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def per_second(times: Sequence[float]) -> Counter[int]:
    return Counter(int(t) for t in times)


def cpu_shares(samples: list[Sample], which: str) -> tuple[float, float]:
    """Mean and peak share of one core over the sampling windows (about 0.5 s each); the whole machine's
    busy time is over wall time too, so 200% is two cores fully busy."""
    if len(samples) < 2:
        return 0.0, 0.0
    shares = [(getattr(b, which) - getattr(a, which)) / (b.at - a.at) for a, b in itertools.pairwise(samples)]
    total = (getattr(samples[-1], which) - getattr(samples[0], which)) / (samples[-1].at - samples[0].at)
    return total, max(shares)


def report(run: Run, jobs: int, check: bool) -> int:
    missed: list[str] = []
    floor = DEFAULT_BUDGET + run.floor_overhead
    print(
        f"submitted {jobs} jobs in {run.submit_seconds:.1f} s ({jobs / run.submit_seconds:.0f}/s, "
        f"{SUBMIT_AT_ONCE} at once; generate_video p50 {statistics.median(run.submit_calls):.3f} s, "
        f"max {max(run.submit_calls):.2f} s)"
    )
    span = run.wait_ended - run.wait_started
    print(
        f"waited on {jobs} jobs at once (renders {min(run.render):.0f}-{max(run.render):.0f} s): "
        f"{len(run.completed)} completed, {span:.1f} s after the waits began"
    )
    if len(run.completed) < jobs:
        missed.append(f"{jobs - len(run.completed)} jobs did not complete")
    calls = [c.seconds for c in run.calls]
    print(
        f"wait_for_video calls: {len(calls)} ({len(calls) / jobs:.1f} per job): p50 {statistics.median(calls):.2f} s, "
        f"p99 {percentile(calls, 0.99):.2f} s, max {max(calls):.2f} s; {run.progress} progress notifications"
    )
    print(
        f"  floor: a lone call's budget + overhead = {DEFAULT_BUDGET:g} s + {run.floor_overhead * 1000:.0f} ms; "
        f"ratios p50 {statistics.median(calls) / floor:.3f}, p99 {percentile(calls, 0.99) / floor:.3f}, "
        f"max {max(calls) / floor:.3f}"
    )
    for nth in sorted({c.nth for c in run.calls}):
        these = [c for c in run.calls if c.nth == nth]
        durations = [c.seconds for c in these]
        starts = [c.started for c in these]
        outside = [c.seconds - c.waited for c in these if c.waited is not None]
        print(
            f"  call #{nth}: {len(these)} calls started {min(starts):.1f}-{max(starts):.1f} s in; "
            f"p50 {statistics.median(durations):.2f} s, max {max(durations):.2f} s "
            f"(outside the server's polling loop: p50 {statistics.median(outside or [0]):.2f} s, "
            f"max {max(outside or [0]):.2f} s); "
            f"{sum(1 for d in durations if d > GOAL_CALL_SECONDS)} over {GOAL_CALL_SECONDS:g} s; "
            f"{sum(1 for c in these if c.outcome == 'completed')} completed, "
            f"{sum(1 for c in these if c.outcome not in ('completed', 'pending'))} errors"
        )
    if max(calls) > GOAL_CALL_SECONDS:
        slow = sum(1 for c in calls if c > GOAL_CALL_SECONDS)
        missed.append(f"{slow} calls took longer than {GOAL_CALL_SECONDS:g} s (max {max(calls):.1f} s)")
    for error, count in run.errors.most_common(5):
        print(f"  error x{count}: {error}")
    if run.errors:
        missed.append(f"{sum(run.errors.values())} calls failed")
    if run.pings:
        print(
            f"  list_providers every 0.5 s meanwhile ({len(run.pings)} calls): "
            f"p50 {statistics.median(run.pings) * 1000:.0f} ms, "
            f"p99 {percentile(run.pings, 0.99) * 1000:.0f} ms, max {max(run.pings) * 1000:.0f} ms"
        )
    if run.delays:
        print(
            f"  detection delay (render end -> completed call returns): median {statistics.median(run.delays):.1f} s, "
            f"max {max(run.delays):.1f} s"
        )
    per_job = (run.hwm - run.rss_idle) / jobs
    print(
        f"server memory: RSS {run.rss_idle / MB:.1f} MB before submitting, peak (VmHWM) {run.hwm / MB:.1f} MB, "
        f"{run.rss_end / MB:.1f} MB at the end; {per_job / KB:.1f} KB per job "
        f"(goal <= {GOAL_BYTES_PER_JOB / KB:.0f} KB); threads {run.threads_idle} before, "
        f"peak {max(s.threads for s in run.samples)}"
    )
    if per_job > GOAL_BYTES_PER_JOB:
        missed.append(f"{per_job / KB:.1f} KB per job > {GOAL_BYTES_PER_JOB / KB:.0f} KB")
    rates = per_second(run.status_gets)
    seconds = sorted(rates.values())
    probes = [p for p in run.probes if math.isfinite(p)]
    print(
        f"sandbox: {len(run.status_gets)} status GETs while waiting ({len(run.status_gets) / jobs:.1f} per job), "
        f"mean {len(run.status_gets) / span:.0f}/s, busiest second {max(seconds, default=0)}/s, "
        f"p90 second {percentile(seconds, 0.9) if seconds else 0}/s, {sum(1 for n in seconds if n)} seconds with GETs"
    )
    if probes:
        print(
            f"  probe GET latency: p50 {statistics.median(probes) * 1000:.1f} ms, "
            f"p99 {percentile(probes, 0.99) * 1000:.0f} ms, max {max(probes) * 1000:.0f} ms "
            f"({len(run.probes) - len(probes)} failed of {len(run.probes)})"
        )
    waiting = [s for s in run.samples if run.wait_started - 0.5 <= s.at <= run.wait_ended + 0.5]
    for label, which in (
        ("server process", "server_cpu"),
        ("server's event-loop thread", "server_loop_cpu"),
        ("sandbox thread", "sandbox_cpu"),
        ("client thread", "client_cpu"),
        ("benchmark process (client, sandbox, probes)", "benchmark_cpu"),
        (f"whole machine ({os.cpu_count()} cores)", "machine_busy"),
    ):
        mean, peak = cpu_shares(waiting, which)
        print(f"  CPU while waiting, {label}: mean {mean:.0%} of a core, busiest ~0.5 s {peak:.0%}")
    print("  timeline (5-s windows from the start of the waits): calls started, GETs, CPU server / its loop / machine")
    for first in range(0, int(span) + 1, 5):
        window = [x for x in waiting if first <= x.at - run.wait_started <= first + 5]
        started = sum(1 for c in run.calls if first <= c.started < first + 5)
        gets = sum(1 for t in run.status_gets if first <= t - run.wait_started < first + 5)
        shares = [cpu_shares(window, which)[0] for which in ("server_cpu", "server_loop_cpu", "machine_busy")]
        print(f"    {first:>4}s {started:>5} {gets:>6}  " + " / ".join(f"{share:.0%}" for share in shares))
    print(f"  server log: {run.log_bytes / KB:.0f} KB")
    print(
        f"goals: every call <= {GOAL_CALL_SECONDS:g} s, <= 50 KB per job, all complete: "
        + ("missed" if missed else "met")
    )
    for line in missed:
        print(f"  {line}")
    return 1 if check and missed else 0


@contextmanager
def spinning(busy: bool) -> Iterator[None]:
    """With `busy`, a second process that keeps one core busy (as a build or a browser would) until the end."""
    if not busy:
        yield
        return
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs waited on at once (at most 5000)")
    parser.add_argument("--render", type=parse_range, default=(60.0, 90.0), help="render seconds, drawn per job")
    parser.add_argument("--seed", type=int, default=1, help="seed of the drawn render times")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 100 jobs of 4-6 s")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    parser.add_argument("--busy", action="store_true", help="a CPU-bound process beside the server all along")
    parser.add_argument("--no-progress", action="store_true", help="the waiters ask for no progress notifications")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.render = 100, (4.0, 6.0)
    if not 1 <= args.jobs <= 5000:
        parser.error("--jobs must be between 1 and 5000")
    print(f"server code: {code_under_test()}", flush=True)
    print(
        ("with a CPU-bound process beside the server" if args.busy else "with nothing else of ours running")
        + ("; waiters ask for no progress" if args.no_progress else "; waiters ask for progress"),
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="heygen-waits-") as tmp, spinning(args.busy):
        try:
            run = anyio.run(measure, args.jobs, args.render, args.seed, Path(tmp), not args.no_progress)
        except BaseException:
            log = (Path(tmp) / "server.log").read_text(errors="replace")
            print(f"server log (last 3000 characters):\n{log[-3000:]}", file=sys.stderr)
            raise
    return report(run, args.jobs, args.check)


if __name__ == "__main__":
    raise SystemExit(main())
