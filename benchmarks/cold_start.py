"""Cold start over stdio: how long `heygen-video-mcp` takes to answer its first tools/list, against a bare
one-tool MCPServer script started the same way.

    python benchmarks/cold_start.py [--starts 21] [--library FILE] [--mode legacy] [--max-ratio 0]

Each round starts both servers once, taking turns to go first: a fresh process of this interpreter's
`heygen-video-mcp` console script, configured as the README has users do (only a key; HOME is a temporary
folder, so the default output folder and its library are made there, and HeyGen's URL points at a closed
local port so that nothing could leave the machine), and a fresh process of a tiny script that imports
mcp's MCPServer, registers one tool and serves stdio (with the same environment). Both are driven by
mcp.Client over stdio; the time runs from spawning the process to the first tools/list answer (the
handshake included; the shutdown after it is not timed). One start of each, not counted, warms the disk
cache and creates the library, so every timed start opens an existing library, as a user's does;
--library starts from a copy of FILE instead (say, one with 100,000 jobs), which every start checks.

Prints both medians and the ratio ours/floor, and beside them the CPU time each process had used when its
first tools/list answer arrived (from /proc, in clock ticks), which other work on the machine disturbs less
than the clock does. Exits 1 only if the ratio is above --max-ratio (default 0:
no gate, timings depend on the machine).
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
from pathlib import Path
from typing import Literal, TextIO

import anyio
from harness import BARE_SERVER, console_script, verdict
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "PYTHON", "XDG_"))}
    return env | {"HOME": str(home)}


def child_cpu() -> float:
    """CPU seconds used so far by this process's one child (the server), from /proc/<pid>/stat."""
    me = str(os.getpid())
    used = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:  # field 4 of proc(5), its parent; utime and stime are fields 14 and 15
                used.append((int(fields[11]) + int(fields[12])) / CLOCK_TICKS)
    if len(used) != 1:
        raise SystemExit(f"expected one server process, found {len(used)}")
    return used[0]


async def first_list(
    params: StdioServerParameters, mode: Literal["legacy", "auto"], errlog: TextIO
) -> tuple[float, float]:
    """Seconds from spawning the server to its first tools/list answer, and the CPU seconds it had used."""
    started = time.perf_counter()
    async with Client(stdio_client(params, errlog=errlog), mode=mode) as client:
        tools = await client.list_tools()
        elapsed = time.perf_counter() - started
        cpu = child_cpu()
    if not tools.tools:
        raise SystemExit(f"{params.command} listed no tools")
    return elapsed, cpu


async def measure(
    starts: int, mode: Literal["legacy", "auto"], folder: Path, errlog: TextIO, library: Path | None
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    bare_script = folder / "bare_server.py"
    bare_script.write_text(BARE_SERVER)
    home = folder / "home"
    home.mkdir()
    if library is not None:  # where the README's configuration puts it: the Videos folder + /HeyGen
        (home / "Videos" / "HeyGen").mkdir(parents=True)
        shutil.copyfile(library, home / "Videos" / "HeyGen" / "heygen-library.sqlite3")
    ours = StdioServerParameters(
        command=console_script(),
        args=[],
        env=base_env(home)
        | {"HEYGEN_API_KEY": "benchmark-key-0123456789", "HEYGEN_API_BASE_URL": "http://127.0.0.1:9"},
    )
    bare = StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=base_env(home))
    await first_list(ours, mode, errlog)  # warm-up: the disk cache, and the library is created
    await first_list(bare, mode, errlog)
    if not list(home.rglob("heygen-library.sqlite3")):
        raise SystemExit(f"heygen-video-mcp made no library under {home}")
    ours_times: list[tuple[float, float]] = []
    bare_times: list[tuple[float, float]] = []
    for round_number in range(starts):
        order = [(ours, ours_times), (bare, bare_times)]
        if round_number % 2:
            order.reverse()
        for params, times in order:
            times.append(await first_list(params, mode, errlog))
    return ours_times, bare_times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=21, help="timed starts of each server (at least 15)")
    parser.add_argument("--library", type=Path, default=None, help="start from a copy of this library file")
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy", help="the client's protocol era")
    parser.add_argument("--max-ratio", type=float, default=0.0, help="exit 1 above this ratio (0: no gate)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="heygen-cold-start-") as folder, open(os.devnull, "w") as errlog:
        ours, bare = anyio.run(measure, max(args.starts, 1), args.mode, Path(folder), errlog, args.library)
    ours_median, bare_median = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in bare)
    ours_cpu, bare_cpu = statistics.median(c for _, c in ours), statistics.median(c for _, c in bare)
    print(f"starts: {len(ours)} of each, alternating, mode {args.mode}")
    print(f"heygen-video-mcp: median {ours_median * 1000:.1f} ms to the first tools/list, {ours_cpu * 1000:.0f} ms CPU")
    print(f"floor (bare one-tool MCPServer): median {bare_median * 1000:.1f} ms, {bare_cpu * 1000:.0f} ms CPU")
    print(f"CPU ratio {ours_cpu / bare_cpu:.3f} (ours/floor, up to the first answer)")
    return verdict(ours_median, bare_median, args.max_ratio)


if __name__ == "__main__":
    sys.exit(main())
