"""What the benchmarks share: the server under test and the bare MCP server that is their floor."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from heygen_video_mcp import server

# The floor of a tool call: the smallest server the SDK makes, one no-op tool, started the same way.
BARE_SERVER = '''\
from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
async def noop() -> str:
    """Does nothing."""
    return "ok"


server.run("stdio")
'''


def console_script() -> str:
    """The `heygen-video-mcp` installed beside this interpreter."""
    found = shutil.which("heygen-video-mcp", path=str(Path(sys.executable).parent)) or shutil.which("heygen-video-mcp")
    if not found:
        raise SystemExit("heygen-video-mcp is not installed: pip install -e '.[test]'")
    return found


def code_under_test() -> str:
    """Where the server's code comes from (the checkout this interpreter has installed) and its git state."""
    root = Path(server.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        head = ""
    return f"{root} ({head or 'not a git checkout'})"


def verdict(ours: float, floor: float, max_ratio: float, *, what: str = "") -> int:
    """Print ours against the floor (seconds) as a ratio; the exit code is 1 past `max_ratio` (0: no gate)."""
    ratio = ours / floor
    print(f"ratio {ratio:.3f} (ours/floor); added {(ours - floor) * 1000:.3f} ms{what}")
    if max_ratio and ratio > max_ratio:
        print(f"FAIL: ratio above {max_ratio}")
        return 1
    return 0


def parse_range(text: str) -> tuple[float, float]:
    """An argparse type for render seconds: LO-HI (or one number), at most 600."""
    low, _, high = text.partition("-")
    try:
        value = (float(low), float(high or low))
    except ValueError:
        value = (0.0, 0.0)
    if not 0 < value[0] <= value[1] <= 600:
        raise argparse.ArgumentTypeError(f"expected seconds as a range like 20-40 (at most 600), not {text!r}")
    return value
