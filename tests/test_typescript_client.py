"""The official TypeScript MCP SDK, which most MCP hosts run, as a client of the installed server: every error
a caller can reach must arrive as an error result with our message and advice, not as the SDK's -32602
("Structured content does not match the tool's output schema"), which the model would see instead of ours.

.ci/ts-client/check.mjs does the calls, over stdio and streamable HTTP, against the HeyGen sandbox."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CHECK = REPO / ".ci" / "ts-client"
INSTALL = "npm ci --prefix .ci/ts-client"
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


def node() -> str:
    """Node >= 18 (the SDK's floor) with the pinned SDK installed, or skip saying how to get them."""
    binary = shutil.which("node")
    if binary is None:
        pytest.skip(f"needs Node >= 18 and the TypeScript MCP SDK: install Node, then run `{INSTALL}`")
    major = subprocess.run([binary, "-p", "process.versions.node"], capture_output=True, text=True, check=True)
    if int(major.stdout.split(".")[0]) < 18:
        pytest.skip(f"needs Node >= 18 for the TypeScript MCP SDK; this one is {major.stdout.strip()}")
    if not (CHECK / "node_modules" / "@modelcontextprotocol" / "sdk").is_dir():
        pytest.skip(f"the TypeScript MCP SDK is not installed: run `{INSTALL}`")
    return binary


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_every_error_reaches_a_typescript_sdk_client_in_our_words(transport: str) -> None:
    server = Path(sys.executable).parent / "heygen-video-mcp"
    done = subprocess.run(
        [node(), str(CHECK / "check.mjs"), transport],
        env=os.environ | {"HEYGEN_VIDEO_MCP": str(server), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = SUMMARY.findall(done.stdout)
    failures = [line for line in done.stdout.splitlines() if not line.startswith("PASS ")]
    assert summary and summary[-1][1] == "0" and done.returncode == 0, "\n".join(failures) + done.stderr[-2000:]
    assert int(summary[-1][0]) >= 25  # every case ran
