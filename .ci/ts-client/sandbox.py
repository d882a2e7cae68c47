"""The HeyGen sandbox for check.mjs, steered over stdin: `heygen-video-mcp sandbox` has no flags for what the
check needs between calls (a 429 storm, a render that fails, v1 retired then back).

Prints the sandbox's base URL, then reads one JSON command a line and answers each with a line "ok":
    {"do": "rate_limited", "retry_after": 30, "times": 20}   the next creates answer 429
    {"do": "fail_next"}                                       the next job's render fails
    {"do": "retire_v1", "status": 410}                        every /v1/ route answers that status
    {"do": "reset"}                                           back to normal (jobs stay)
Ends when stdin closes.

Usage: python .ci/ts-client/sandbox.py API_KEY
"""

from __future__ import annotations

import json
import sys

from heygen_video_mcp.server.sandbox import Fault, Sandbox


def main(api_key: str) -> None:
    with Sandbox(api_key=api_key, render_seconds=1.0, submitted_seconds=0.2, video_seconds=1.0) as sandbox:
        print(sandbox.base_url, flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            match command["do"]:
                case "rate_limited":
                    sandbox.inject("create", Fault.rate_limited(command["retry_after"]), times=command["times"])
                case "fail_next":
                    sandbox.next_outcome("failed", message="The model could not render this prompt")
                case "retire_v1":
                    sandbox.retire_v1(command["status"])
                case "reset":
                    sandbox.reset()
                case other:
                    raise SystemExit(f"unknown command {other!r}")
            print("ok", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
