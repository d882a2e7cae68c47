"""check_status on a finished job, over stdio, against its floor: a no-op tool call on a bare MCPServer over
stdio plus a raw httpx2 GET of the same status URL.

    python benchmarks/check_status.py [--calls 300] [--order turns] [--mode legacy] [--max-ratio 0]

The HeyGen sandbox runs in a process of its own (HeyGen is not in the client's process either). Our
`heygen-video-mcp` console script is started over stdio with mcp.Client, makes one video, waits until it is
completed and saved, and is then timed for --calls check_status calls on it. The floor is the sum of two
medians, each over as many calls: a no-op `async` tool on a bare one-tool MCPServer script, also over stdio
with mcp.Client, and a raw GET of the job's status URL with the API key through one kept httpx2.AsyncClient
(what the server does per check). With --order turns (the default) the three take turns call by call (the
order rotating every round), so that drift in the machine's speed hits them alike, and each call finds the
processes as a call seconds apart would (caches cooled by the others). With --order blocks each side makes
its calls in a row, warm, in six blocks taking turns: check_status, then the floor as pairs of a no-op and
a GET. The floor's GETs are paired so that the sandbox gets them as far apart as a check's: GETs fired back
to back find it (and the client) busy and come back in about 60% of the time they take with a millisecond
or two between them, which a server that answers each tool call with a GET never sees. Each starts with a
few untimed calls. The server's cap on status reads (HEYGEN_MAX_READS_PER_SECOND) is raised to its
highest, 1000 a second: this loop reads far faster than any user, and the default cap of 50 would make
every call wait its turn.

Prints every median with the floor and the ratio ours/floor. Exits 1 only if the ratio is above
--max-ratio (default 0: no gate, timings depend on the machine) or a call does not come back as expected.
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
from pathlib import Path
from typing import Any, Literal, TextIO

import anyio
import httpx2
from harness import BARE_SERVER, console_script, verdict
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

API_KEY = "benchmark-key-0123456789"
EXECUTIONS = "/v1/workflows/executions"
PROMPT = "A glass of iced tea on a sunny windowsill, condensation running down, macro lens, soft light"
WARM_UP = 20
BLOCKS = 6
READS_PER_SECOND = 1000

SANDBOX = """
import sys
from heygen_video_mcp.server.sandbox import Sandbox

with Sandbox(api_key=sys.argv[1], render_seconds=0.3, submitted_seconds=0.05, video_seconds=1.0) as sb:
    print(sb.base_url, flush=True)
    sys.stdin.read()
"""


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "PYTHON"))}


async def finished_job(client: Client) -> str:
    """Make one video and wait until it is completed and saved; its execution id."""
    made = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "ltx_distilled"})
    data: dict[str, Any] = made.structured_content or {}
    execution_id = data.get("execution_id")
    if made.is_error or not isinstance(execution_id, str):
        raise SystemExit(f"generate_video failed: {made.content}")
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


async def timed(call: Callable[[], Awaitable[None]], into: list[float]) -> None:
    started = time.perf_counter()
    await call()
    into.append(time.perf_counter() - started)


async def measure(
    calls: int, order: str, mode: Literal["legacy", "auto"], folder: Path, base_url: str, errlog: TextIO
) -> dict[str, list[float]]:
    bare_script = folder / "bare_server.py"
    bare_script.write_text(BARE_SERVER)
    ours_params = StdioServerParameters(
        command=console_script(),
        args=[],
        env=base_env()
        | {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": base_url,
            "HEYGEN_OUTPUT_DIR": str(folder / "videos"),
            "HEYGEN_POLL_INTERVAL": "0.1",
            "HEYGEN_LOG_LEVEL": "WARNING",
            # Some 500 reads a second, where a user makes one every few seconds: the process-wide read cap
            # (50 a second by default) would time the cap, not the call.
            "HEYGEN_MAX_READS_PER_SECOND": str(READS_PER_SECOND),
        },
    )
    bare_params = StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=base_env())
    async with AsyncExitStack() as stack:
        ours = await stack.enter_async_context(Client(stdio_client(ours_params, errlog=errlog), mode=mode))
        bare = await stack.enter_async_context(Client(stdio_client(bare_params, errlog=errlog), mode=mode))
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=10.0))
        execution_id = await finished_job(ours)
        status_url = f"{base_url}{EXECUTIONS}/{execution_id}"

        async def check() -> None:
            result = await ours.call_tool("check_status", {"execution_id": execution_id})
            data = result.structured_content or {}
            if result.is_error or data.get("status") != "completed" or not data.get("local_path"):
                raise SystemExit(f"check_status did not report the saved video: {result.content}")

        async def noop() -> None:
            result = await bare.call_tool("noop", {})
            if result.is_error:
                raise SystemExit(f"the bare server's no-op failed: {result.content}")

        async def get() -> None:
            response = await http.get(status_url, headers={"X-Api-Key": API_KEY})
            if response.status_code != 200 or response.json()["data"]["status"] != "completed":
                raise SystemExit(f"the raw GET failed: HTTP {response.status_code}")

        times: dict[str, list[float]] = {"check_status": [], "noop": [], "get": []}

        async def timed_check() -> None:
            await timed(check, times["check_status"])

        async def timed_noop() -> None:
            await timed(noop, times["noop"])

        async def timed_get() -> None:
            await timed(get, times["get"])

        async def timed_floor() -> None:  # a no-op, then a GET: the two steps of a check, one after the other
            await timed_noop()
            await timed_get()

        for warm in (check, noop, get):
            for _ in range(WARM_UP):
                await timed(warm, [])
        steps: list[Callable[[], Awaitable[None]]]
        if order == "turns":
            steps, rounds, repeat = [timed_check, timed_noop, timed_get], calls, 1
        else:
            steps, rounds, repeat = [timed_check, timed_floor], BLOCKS, max(calls // BLOCKS, 1)
        for round_number in range(rounds):
            turn = round_number % len(steps)
            for step in steps[turn:] + steps[:turn]:
                for _ in range(repeat):
                    await step()
        return times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300, help="timed calls of each (at least 300 for the figure)")
    parser.add_argument("--order", choices=["turns", "blocks"], default="turns", help="call by call, or in blocks")
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy", help="the client's protocol era")
    parser.add_argument("--max-ratio", type=float, default=0.0, help="exit 1 above this ratio (0: no gate)")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    sandbox = subprocess.Popen(
        [sys.executable, "-c", SANDBOX, API_KEY],
        cwd=repo,
        env=base_env() | {"PYTHONPATH": str(repo)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        base_url = sandbox.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise SystemExit("the sandbox did not start")
        with tempfile.TemporaryDirectory(prefix="heygen-check-status-") as folder, open(os.devnull, "w") as errlog:
            times = anyio.run(measure, args.calls, args.order, args.mode, Path(folder), base_url, errlog)
    finally:
        sandbox.communicate(timeout=30)  # closes its stdin: it stops
    p50 = {name: statistics.median(values) for name, values in times.items()}
    floor = p50["noop"] + p50["get"]
    print(
        f"calls: {len(times['check_status'])} of each, order {args.order}, mode {args.mode}, "
        f"HEYGEN_MAX_READS_PER_SECOND={READS_PER_SECOND}"
    )
    print(f"check_status on a finished job: p50 {p50['check_status'] * 1000:.3f} ms")
    print(f"  no-op tool call on a bare MCPServer: p50 {p50['noop'] * 1000:.3f} ms")
    print(f"  raw httpx2 GET of the status URL: p50 {p50['get'] * 1000:.3f} ms")
    print(f"floor (no-op + GET): {floor * 1000:.3f} ms")
    return verdict(p50["check_status"], floor, args.max_ratio, what=" per call")


if __name__ == "__main__":
    sys.exit(main())
