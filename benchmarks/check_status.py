"""check_status over stdio against its floors, measured in the same run, for the issue's two goals:

    python benchmarks/check_status.py [--calls 400] [--block 100] [--mode legacy] [--check]

(a) A finished job whose video is saved: the server answers from its library, so HeyGen is not read at
    all. --calls back-to-back check_status calls, in blocks of --block taking turns with blocks of no-op
    tool calls on a bare one-tool MCPServer (also over stdio): the floor, since no GET is needed. The
    sandbox counts the status GETs the calls made. Goal: 0 GETs, p50 <= 1.40x the no-op's.
(b) A job still rendering (the sandbox makes its render last an hour): every check_status reads HeyGen once
    (the sandbox counts them). Floor: a no-op tool call + a raw GET of the same status URL with the API key
    through one kept httpx2.AsyncClient (what the server does per check), the sum of their medians.
    Measured twice: taking turns call by call (--calls rounds of check, no-op, GET, the order rotating
    every round, so drift in the machine's speed hits them alike and each call finds the processes as a
    call seconds apart would), and in back-to-back blocks of --block (check_status, then the floor as pairs
    of a no-op and a GET: GETs fired back to back find the sandbox and the client busy and come back in
    about 60% of the time they take a millisecond or two apart, which a server that answers each tool call
    with a GET never sees). Goal: p50 <= 1.20x the floor, both ways.

The HeyGen sandbox runs in a process of its own (HeyGen is not in the client's process either); it is told
on its stdin how long new renders take and asked how many status GETs a job had. Our `heygen-video-mcp`
console script is started with mcp.Client. Each side starts with a few untimed calls. The server's cap on
status reads (HEYGEN_MAX_READS_PER_SECOND) is raised to its highest, 1000 a second: this loop reads far
faster than any user, and the default cap of 50 would make every call in (b) wait its turn.

Prints every median beside its floor and the ratio. Exits 1 if a call does not come back as expected or the
GETs are not as stated, and with --check also when a goal is missed (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import anyio
import httpx2
from harness import BARE_SERVER, console_script
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

API_KEY = "benchmark-key-0123456789"
EXECUTIONS = "/v1/workflows/executions"
PROMPT = "A glass of iced tea on a sunny windowsill, condensation running down, macro lens, soft light"
WARM_UP = 20
READS_PER_SECOND = 1000
GOAL_SAVED = 1.40
GOAL_RENDERING = 1.20
LONG_RENDER = 3600.0

# The sandbox, in a process of its own; each line on its stdin is a command it answers with one line:
# "render S" (renders made from now on take S seconds) or "reads ID" (how many status GETs job ID had).
SANDBOX = """
import sys
from heygen_video_mcp.server.sandbox import Sandbox

with Sandbox(api_key=sys.argv[1], render_seconds=0.3, submitted_seconds=0.05, video_seconds=1.0) as sb:
    print(sb.base_url, flush=True)
    for line in sys.stdin:
        command, _, value = line.strip().partition(" ")
        if command == "render":
            sb.set_render_seconds(float(value))
            print("ok", flush=True)
        elif command == "reads":
            print(len(sb.status_reads(value)), flush=True)
"""


class SandboxProcess:
    def __init__(self, repo: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", SANDBOX, API_KEY],
            cwd=repo,
            env=base_env() | {"PYTHONPATH": str(repo)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.base_url = self._ask(None)
        if not self.base_url.startswith("http"):
            raise SystemExit("the sandbox did not start")

    def _ask(self, command: str | None) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def render(self, seconds: float) -> None:
        self._ask(f"render {seconds}")

    def reads(self, execution_id: str) -> int:
        return int(self._ask(f"reads {execution_id}"))

    def stop(self) -> None:
        self.process.communicate(timeout=30)  # closes its stdin: it stops


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "PYTHON"))}


@dataclass
class Figures:
    times: dict[str, list[float]] = field(default_factory=dict)
    gets: dict[str, tuple[int, int]] = field(default_factory=dict)  # scenario -> (status GETs, check_status calls)

    def add(self, name: str, seconds: float) -> None:
        self.times.setdefault(name, []).append(seconds)

    def p50(self, name: str) -> float:
        return statistics.median(self.times[name])


async def submitted(client: Client, prompt: str = PROMPT) -> str:
    made = await client.call_tool("generate_video", {"prompt": prompt, "provider": "ltx_distilled"})
    execution_id = (made.structured_content or {}).get("execution_id")
    if made.is_error or not isinstance(execution_id, str):
        raise SystemExit(f"generate_video failed: {made.content}")
    return execution_id


async def finished_job(client: Client) -> str:
    """Make one video and wait until it is completed and saved; its execution id."""
    execution_id = await submitted(client)
    data: dict[str, Any] = {}
    with anyio.fail_after(60):
        while not data.get("local_path"):
            result = await client.call_tool("wait_for_video", {"execution_id": execution_id})
            data = result.structured_content or {}
            if result.is_error or data.get("status") != "completed":
                await anyio.sleep(0.1)
                continue
            if not data.get("local_path"):
                await anyio.sleep(0.2)
                data = (await client.call_tool("check_status", {"execution_id": execution_id})).structured_content or {}
    return execution_id


async def timed(call: Callable[[], Awaitable[None]], figures: Figures | None, name: str) -> None:
    started = time.perf_counter()
    await call()
    if figures is not None:
        figures.add(name, time.perf_counter() - started)


async def in_turns(steps: list[tuple[str, Callable[[], Awaitable[None]]]], rounds: int, figures: Figures) -> None:
    """Call by call, the order rotating every round."""
    for number in range(rounds):
        turn = number % len(steps)
        for name, step in steps[turn:] + steps[:turn]:
            await timed(step, figures, name)


async def in_blocks(
    sides: list[list[tuple[str, Callable[[], Awaitable[None]]]]], calls: int, block: int, figures: Figures
) -> None:
    """Each side makes `block` calls in a row (a side of several steps: each call is those steps in turn),
    the sides taking turns, the first one rotating, until each side has made `calls`."""
    for number in range(max(calls // block, 1)):
        turn = number % len(sides)
        for side in sides[turn:] + sides[:turn]:
            for _ in range(block):
                for name, step in side:
                    await timed(step, figures, name)


async def measure(
    calls: int, block: int, mode: Literal["legacy", "auto"], folder: Path, sandbox: SandboxProcess, errlog: TextIO
) -> Figures:
    bare_script = folder / "bare_server.py"
    bare_script.write_text(BARE_SERVER)
    ours_params = StdioServerParameters(
        command=console_script(),
        args=[],
        env=base_env()
        | {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": sandbox.base_url,
            "HEYGEN_OUTPUT_DIR": str(folder / "videos"),
            "HEYGEN_POLL_INTERVAL": "0.1",
            "HEYGEN_LOG_LEVEL": "WARNING",
            "HEYGEN_MAX_READS_PER_SECOND": str(READS_PER_SECOND),
        },
    )
    bare_params = StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=base_env())
    figures = Figures()
    async with AsyncExitStack() as stack:
        ours = await stack.enter_async_context(Client(stdio_client(ours_params, errlog=errlog), mode=mode))
        bare = await stack.enter_async_context(Client(stdio_client(bare_params, errlog=errlog), mode=mode))
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=10.0))

        async def noop() -> None:
            result = await bare.call_tool("noop", {})
            if result.is_error:
                raise SystemExit(f"the bare server's no-op failed: {result.content}")

        def check(execution_id: str, saved: bool) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                result = await ours.call_tool("check_status", {"execution_id": execution_id})
                data = result.structured_content or {}
                expected = (
                    data.get("status") == "completed" and data.get("local_path") if saved else not data.get("done")
                )
                if result.is_error or not expected:
                    raise SystemExit(f"check_status did not answer as expected: {result.content}")

            return call

        def get(execution_id: str) -> Callable[[], Awaitable[None]]:
            async def call() -> None:
                response = await http.get(
                    f"{sandbox.base_url}{EXECUTIONS}/{execution_id}", headers={"X-Api-Key": API_KEY}
                )
                if response.status_code != 200 or response.json()["data"]["status"] not in ("submitted", "processing"):
                    raise SystemExit(f"the raw GET failed: HTTP {response.status_code}")

            return call

        for _ in range(WARM_UP):
            await timed(noop, None, "")

        # (a) a finished, saved job
        done = await finished_job(ours)
        check_done = check(done, saved=True)
        for _ in range(WARM_UP):
            await timed(check_done, None, "")
        before = sandbox.reads(done)
        await in_blocks([[("saved", check_done)], [("saved noop", noop)]], calls, block, figures)
        figures.gets["saved"] = (sandbox.reads(done) - before, len(figures.times["saved"]))

        # (b) a job still rendering
        sandbox.render(LONG_RENDER)
        rendering = await submitted(ours, f"{PROMPT}, at dusk")  # another prompt: not the same job again
        check_rendering, get_rendering = check(rendering, saved=False), get(rendering)
        for _ in range(WARM_UP):
            await timed(check_rendering, None, "")
            await timed(get_rendering, None, "")
        before = sandbox.reads(rendering)
        steps = [("turns", check_rendering), ("turns noop", noop), ("turns get", get_rendering)]
        await in_turns(steps, calls, figures)
        floor = [("blocks noop", noop), ("blocks get", get_rendering)]
        await in_blocks([[("blocks", check_rendering)], floor], calls, block, figures)
        checks = len(figures.times["turns"]) + len(figures.times["blocks"])
        gets = len(figures.times["turns get"]) + len(figures.times["blocks get"])
        figures.gets["rendering"] = (sandbox.reads(rendering) - before - gets, checks)
    return figures


def report(figures: Figures, block: int, mode: str) -> list[str]:
    """Print the figures beside their floors; the goals missed."""
    missed: list[str] = []
    ms = 1000
    print(f"mode {mode}, HEYGEN_MAX_READS_PER_SECOND={READS_PER_SECOND}, blocks of {block}")

    gets, checks = figures.gets["saved"]
    ours, floor = figures.p50("saved"), figures.p50("saved noop")
    print(f"(a) check_status on a finished, saved job: {checks} calls in blocks, {gets} status GETs")
    print(f"    p50 {ours * ms:.3f} ms; floor, a no-op tool call on a bare MCPServer: p50 {floor * ms:.3f} ms")
    print(f"    ratio {ours / floor:.3f} (ours/floor; goal <= {GOAL_SAVED:.2f} and 0 GETs)")
    if ours / floor > GOAL_SAVED or gets:
        missed.append(f"(a) ratio {ours / floor:.3f}, {gets} GETs")

    gets, checks = figures.gets["rendering"]
    print(f"(b) check_status on a job still rendering: {checks} calls, {gets} status GETs")
    for order in ("turns", "blocks"):
        ours, noop, get = figures.p50(order), figures.p50(f"{order} noop"), figures.p50(f"{order} get")
        what = "taking turns" if order == "turns" else f"in blocks of {block}"
        print(
            f"    {what}: p50 {ours * ms:.3f} ms; floor {(noop + get) * ms:.3f} ms "
            f"(no-op tool call {noop * ms:.3f} ms + raw GET {get * ms:.3f} ms)"
        )
        print(f"    ratio {ours / (noop + get):.3f} (ours/floor; goal <= {GOAL_RENDERING:.2f})")
        if ours / (noop + get) > GOAL_RENDERING:
            missed.append(f"(b) {what}: ratio {ours / (noop + get):.3f}")
    print("goals: " + ("met" if not missed else "missed: " + "; ".join(missed)))
    if figures.gets["rendering"][0] != checks:
        raise SystemExit(f"expected one status GET per check_status call on a rendering job, not {gets} in {checks}")
    return missed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=400, help="timed calls of each, per scenario and order")
    parser.add_argument("--block", type=int, default=100, help="calls in a row per block")
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy", help="the client's protocol era")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
    args = parser.parse_args(argv)
    if args.calls < 1 or args.block < 1:
        parser.error("--calls and --block must be at least 1")
    block = min(args.block, args.calls)
    sandbox = SandboxProcess(Path(__file__).resolve().parent.parent)
    try:
        with tempfile.TemporaryDirectory(prefix="heygen-check-status-") as folder, open(os.devnull, "w") as errlog:
            figures = anyio.run(measure, args.calls, block, args.mode, Path(folder), sandbox, errlog)
    finally:
        sandbox.stop()
    missed = report(figures, block, args.mode)
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
