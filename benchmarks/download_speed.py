"""How fast tools.download saves a large video, as a fraction of the floor: plain httpx2 into a file.

    python benchmarks/download_speed.py [--size-mb 200] [--rounds 3] [--min-ratio 0]

Starts the HeyGen sandbox in this process, padding every MP4 to the given size, submits one job and waits
for its video URL. Then, --rounds times each, taking turns to go first:

* floor: httpx2 streams the URL into a file in 1 MiB chunks, then one fsync;
* ours: tools.download.download saves the same URL (checks, part file, writer thread, fsync, publish).

Prints the best time of each and the speed ratio ours/floor, i.e. floor time / our time (1.0: as fast as
the floor). Both
the sandbox serving and the client saving run in this process, as in download_memory.py. Exits 1 only if
the ratio is below --min-ratio (default 0: no gate, timings depend on the machine) or a file is not whole.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import anyio
import httpx2

from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools.download import download

MB = 1_000_000
MIB = 1024 * 1024
API_KEY = "benchmark-key"
EXECUTIONS = "/v1/workflows/executions"
PROMPT = "A paper lantern drifting over a night river, slow crane shot, warm bokeh, cinematic"


async def video_url(http: httpx2.AsyncClient, sb: Sandbox) -> str:
    """Submit one job to the sandbox and wait for its signed video URL."""
    headers = {"X-Api-Key": API_KEY}
    body = {"workflow_type": "GenerateVideoNode", "input": {"prompt": PROMPT}}
    created = await http.post(f"{sb.base_url}{EXECUTIONS}", headers=headers, json=body)
    execution_id = created.raise_for_status().json()["data"]["execution_id"]
    with anyio.fail_after(30):
        while True:
            status = await http.get(f"{sb.base_url}{EXECUTIONS}/{execution_id}", headers=headers)
            data = status.raise_for_status().json()["data"]
            if data["status"] == "completed":
                url: str = data["output"]["video"]["video_url"]
                return url
            await anyio.sleep(0.05)


async def floor(http: httpx2.AsyncClient, url: str, directory: Path) -> tuple[float, Path]:
    path = directory / "floor.mp4"
    started = time.perf_counter()
    async with http.stream("GET", url) as response:
        response.raise_for_status()
        with path.open("wb") as out:
            async for chunk in response.aiter_bytes(MIB):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    return time.perf_counter() - started, path


async def ours(http: httpx2.AsyncClient, url: str, directory: Path) -> tuple[float, Path]:
    started = time.perf_counter()
    path = await download(http, url, directory, "ours.mp4", allow_private=True)
    return time.perf_counter() - started, path


async def measure(size: int, rounds: int, directory: Path) -> dict[str, float]:
    """The best seconds of the floor and of ours."""
    best = {"floor": float("inf"), "ours": float("inf")}
    with Sandbox(api_key=API_KEY, render_seconds=0.2, submitted_seconds=0.05, video_size=size) as sb:
        async with httpx2.AsyncClient(timeout=120.0, follow_redirects=False) as http:
            url = await video_url(http, sb)
            for n in range(rounds):
                # Alternate which goes first, so neither always meets the other's dirty pages.
                for name, run in sorted({"floor": floor, "ours": ours}.items(), reverse=n % 2 == 1):
                    seconds, path = await run(http, url, directory)
                    best[name] = min(best[name], seconds)
                    if path.stat().st_size != size:
                        raise RuntimeError(f"{path.name} has {path.stat().st_size} bytes, not {size}")
                    path.unlink()
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="size of the video to download (MB)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each, best kept")
    parser.add_argument("--min-ratio", type=float, default=0.0, help="fail below this speed ratio (ours/floor)")
    args = parser.parse_args(argv)
    size = int(args.size_mb * MB)
    with tempfile.TemporaryDirectory(prefix="heygen-speed-") as tmp:
        best = anyio.run(measure, size, args.rounds, Path(tmp))
    best_floor, best_ours = best["floor"], best["ours"]
    ratio = best_floor / best_ours
    print(f"floor (httpx2, 1 MiB chunks, fsync): best {best_floor:.2f} s ({size / MB / best_floor:.0f} MB/s)")
    print(f"ours (tools.download.download): best {best_ours:.2f} s ({size / MB / best_ours:.0f} MB/s)")
    print(f"downloaded {size / MB:.1f} MB; speed ratio {ratio:.3f} (ours/floor, best of {args.rounds})")
    if ratio < args.min_ratio:
        print(f"FAIL: speed ratio {ratio:.3f} is below {args.min_ratio:.3f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
