"""Peak memory while the server saves a large video: the download must stream, not buffer.

    python benchmarks/download_memory.py [--size-mb 200] [--max-ratio 0.05]

Starts the HeyGen sandbox in this process, padding every MP4 to the given size, runs one job through the
real server (create_server + an in-memory mcp.Client) and measures what the final wait_for_video call -
which finds the job completed and saves the video - costs in memory:

* tracemalloc: the peak of traced Python allocations during the call, above what was live before it;
* getrusage: the process's maximum resident set size before and after.

Both sides of the transfer (the sandbox serving, the server saving) run in this process, so both are
counted. Exits 1 if the peak is more than --max-ratio of the file size, or the saved file is not whole.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox

MB = 1_000_000
API_KEY = "benchmark-key"
PROMPT = "A paper lantern drifting over a night river, slow crane shot, warm bokeh, cinematic"


@dataclass(frozen=True)
class Measurement:
    size: int
    saved_size: int
    peak_traced: int
    rss_before: int
    rss_after: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.peak_traced / self.size


def max_rss() -> int:
    """Maximum resident set size of this process so far, in bytes (Linux reports KiB, macOS bytes)."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return usage if sys.platform == "darwin" else usage * 1024


async def measure(size: int, output_dir: Path) -> Measurement:
    with Sandbox(api_key=API_KEY, render_seconds=0.3, submitted_seconds=0.1, video_seconds=1.0, video_size=size) as sb:
        settings = Settings.model_validate(
            {
                "api_key": API_KEY,
                "api_base_url": sb.base_url,
                "poll_interval": 0.1,
                "read_timeout": 60.0,
                "output_dir": output_dir,
                "download": True,
            }
        )
        async with Client(create_server(settings)) as client:
            created = await client.call_tool("generate_video", {"prompt": PROMPT})
            if created.is_error or created.structured_content is None:
                raise RuntimeError(f"generate_video failed: {created.content}")
            execution_id: str = created.structured_content["execution_id"]
            # Warm up what is built once per process or per job, not per byte: the tool's result path
            # and the sandbox's small MP4 (built here at its natural size, then served padded).
            await client.call_tool("check_status", {"execution_id": execution_id})
            sb.set_video_size(None)
            sb.video_bytes(sb.jobs[execution_id].video_id)
            sb.set_video_size(size)
            # Let the render finish first, so the measured call is the download and little else.
            with anyio.fail_after(30):
                while sb.jobs[execution_id].status != "completed":  # noqa: ASYNC110 (set by the sandbox's thread)
                    await anyio.sleep(0.05)

            rss_before = max_rss()
            tracemalloc.start()
            baseline, _ = tracemalloc.get_traced_memory()
            started = time.perf_counter()
            result = await client.call_tool(
                "wait_for_video", {"execution_id": execution_id, "max_wait_seconds": 30}, read_timeout_seconds=600
            )
            seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_after = max_rss()

    data = result.structured_content or {}
    local_path = data.get("local_path")
    if result.is_error or not local_path:
        raise RuntimeError(f"the video was not saved: {data.get('download_error') or result.content}")
    return Measurement(
        size=size,
        saved_size=Path(local_path).stat().st_size,
        peak_traced=peak - baseline,
        rss_before=rss_before,
        rss_after=rss_after,
        seconds=seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=200.0, help="size of the video to download (MB)")
    parser.add_argument("--max-ratio", type=float, default=0.05, help="fail above this peak/size ratio")
    args = parser.parse_args(argv)
    size = int(args.size_mb * MB)
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="heygen-bench-") as tmp:
        m = anyio.run(measure, size, Path(tmp))

    print(f"downloaded {m.saved_size / MB:.1f} MB in {m.seconds:.1f} s ({m.saved_size / MB / m.seconds:.0f} MB/s)")
    print(
        f"max RSS {m.rss_before / MB:.1f} MB before, {m.rss_after / MB:.1f} MB after "
        f"(+{(m.rss_after - m.rss_before) / MB:.1f} MB)"
    )
    print(
        f"downloaded {m.size / MB:.1f} MB; peak traced memory {m.peak_traced / MB:.1f} MB; "
        f"ratio {m.ratio:.3f} (peak/size)"
    )
    failed = False
    if m.saved_size != m.size:
        print(f"FAIL: the saved file has {m.saved_size} bytes, not {m.size}", file=sys.stderr)
        failed = True
    if m.ratio > args.max_ratio:
        print(f"FAIL: peak traced memory is {m.ratio:.1%} of the file, above {args.max_ratio:.1%}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
