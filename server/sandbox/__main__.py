"""Run the sandbox on its own: python -m server.sandbox --port 8000 --api-key KEY."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading

from server.sandbox import Sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="heygen-video-mcp sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--render-seconds", type=float, default=3.0)
    parser.add_argument("--submitted-seconds", type=float, default=0.5)
    parser.add_argument("--video-seconds", type=float, default=2.0)
    parser.add_argument("--video-size", type=int, default=None, help="pad each MP4 to this many bytes")
    args = parser.parse_args(argv)
    sandbox = Sandbox(
        api_key=args.api_key,
        render_seconds=args.render_seconds,
        submitted_seconds=args.submitted_seconds,
        video_seconds=args.video_seconds,
        video_size=args.video_size,
        host=args.host,
        port=args.port,
    )
    with sandbox:
        print(sandbox.base_url, flush=True)
        print(
            f"HeyGen sandbox: set HEYGEN_API_BASE_URL={sandbox.base_url} HEYGEN_API_KEY={sandbox.api_key}",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
