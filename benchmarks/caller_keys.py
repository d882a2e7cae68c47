"""Memory of a remote server as callers send HeyGen key after key (HEYGEN_ALLOW_CALLER_KEYS=true).

    python benchmarks/caller_keys.py [--keys 1000] [--max-growth-mb 60]

Starts the HeyGen sandbox in this process and the installed console script serving streamable HTTP on
127.0.0.1, signed in as one tenant of a tenants file. Each call is a generate_video over its own MCP client
(the 2026-07-28 era) with an X-HeyGen-Api-Key the sandbox refuses: the server builds the key's job logic and
asks HeyGen, which answers 401, so nothing is made. Measured: the server's resident memory (VmRSS) after a
warm-up, and after --keys more calls:

* floor: a fresh server, the same number of calls, all with one key;
* ours: a fresh server, each call with a key of its own.

Exits 1 if ours grows the server by more than --max-growth-mb.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import anyio
import httpx2
from harness import code_under_test, console_script
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from heygen_video_mcp.server.sandbox import Sandbox

API_KEY = "bench-sandbox-key"
TOKEN = "bench-tenant-token-7d2c9e4a1b6f"  # noqa: S105 (a benchmark's token)
WARM_CALLS = 20
AT_ONCE = 8


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def serving(sandbox: Sandbox, folder: Path) -> Iterator[tuple[str, int]]:
    """The console script on a free port, with caller keys allowed; yields (MCP URL, pid)."""
    tenants = folder / "tenants.toml"
    tenants.write_text(f'[tenants.bench]\ntoken = "{TOKEN}"\n')
    tenants.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_OUTPUT_DIR": str(folder / "videos"),
        "HEYGEN_MCP_TENANTS_FILE": str(tenants),
        "HEYGEN_ALLOW_CALLER_KEYS": "true",
    }
    log = folder / f"server-{time.monotonic_ns()}.log"
    command = [console_script(), "serve", "--transport", "streamable-http", "--port", "0"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"serving MCP at (http://\S+)", log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the server did not start: {log.read_text()}")
            time.sleep(0.05)
        yield found.group(1), process.pid
    finally:
        process.terminate()
        process.wait(30)


async def calls(url: str, keys: Sequence[str]) -> None:
    """generate_video once per key in `keys`, AT_ONCE at a time; each must come back as HeyGen's refusal."""
    limit = anyio.CapacityLimiter(AT_ONCE)

    async def one(key: str) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-HeyGen-Api-Key": key}
        async with (
            limit,
            httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
            Client(streamable_http_client(url, http_client=http)) as client,
        ):
            result = await client.call_tool("generate_video", {"prompt": "A kite over dunes"})
            said = " ".join(getattr(block, "text", "") for block in result.content)
            if "HeyGen rejected the API key" not in said:
                raise SystemExit(f"unexpected answer: {said[:300]}")

    async with anyio.create_task_group() as group:
        for key in keys:
            group.start_soon(one, key)


def growth(sandbox: Sandbox, folder: Path, keys: Sequence[str]) -> float:
    """MB the server grows by over `keys` calls, after a warm-up."""
    with serving(sandbox, folder) as (url, pid):
        anyio.run(calls, url, [secrets.token_hex(16) for _ in range(WARM_CALLS)])
        before = rss_mb(pid)
        anyio.run(calls, url, keys)
        return rss_mb(pid) - before


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--max-growth-mb", type=float, default=60.0)
    args = parser.parse_args(argv)
    print(f"code under test: {code_under_test()}")
    with tempfile.TemporaryDirectory() as tmp, Sandbox(api_key=API_KEY) as sandbox:
        one_key = secrets.token_hex(16)
        floor = growth(sandbox, Path(tmp), [one_key] * args.keys)
        ours = growth(sandbox, Path(tmp), [secrets.token_hex(16) for _ in range(args.keys)])
    print(f"floor: {args.keys} calls with one caller key: server RSS grew {floor:.1f} MB")
    print(f"ours: {args.keys} calls, each with its own caller key: server RSS grew {ours:.1f} MB")
    print(f"added by distinct keys: {ours - floor:.1f} MB (goal: growth at most {args.max_growth_mb:.0f} MB)")
    if ours > args.max_growth_mb:
        print("FAIL: above the goal")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
