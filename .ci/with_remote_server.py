"""Run a command against the remote (streamable HTTP) server: starts the HeyGen sandbox and one
`heygen-video-mcp serve --transport streamable-http` on 127.0.0.1, runs the command with MCP_URL (and,
with --token, MCP_TOKEN: the bearer token the server requires) in its environment, then stops both.

Usage: python .ci/with_remote_server.py [--token] -- COMMAND [ARGS...]   (exit code: the command's)
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from heygen_video_mcp.server.sandbox import Sandbox

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' replica runner
from tests.stack import Replica

API_KEY = "ci-sandbox-key"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--token", action="store_true", help="require a bearer token (given as MCP_TOKEN)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    script = shutil.which("heygen-video-mcp", path=str(Path(sys.executable).parent)) or "heygen-video-mcp"
    token = secrets.token_urlsafe(32) if args.token else ""
    with tempfile.TemporaryDirectory(prefix="heygen-remote-") as folder, Sandbox(api_key=API_KEY) as sandbox:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {
            "HEYGEN_API_KEY": API_KEY,
            "HEYGEN_API_BASE_URL": sandbox.base_url,
            "HEYGEN_OUTPUT_DIR": f"{folder}/videos",
        }
        if token:
            env["HEYGEN_MCP_TOKEN"] = token
        replica = Replica(script, env, log=Path(folder) / "server.log")
        replica.start()
        try:
            done = subprocess.run(command, env=os.environ | {"MCP_URL": replica.url, "MCP_TOKEN": token}, check=False)
        finally:
            replica.stop()
        if done.returncode:
            print(f"---- server log (tail) ----\n{replica.tail(60)}", file=sys.stderr)
        return done.returncode


if __name__ == "__main__":
    sys.exit(main())
