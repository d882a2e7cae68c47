"""Run the sandbox on its own: python -m heygen_video_mcp.server.sandbox --port 8000 --api-key KEY."""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading

from heygen_video_mcp.server.sandbox import CannotListen, RenderSeconds, Sandbox
from heygen_video_mcp.server.sandbox.app import render_range


def render_seconds(text: str) -> RenderSeconds:
    """SECONDS, or LO-HI: each job's render time drawn uniformly from that range."""
    try:
        low, sep, high = text.partition("-")
        value: RenderSeconds = (float(low), float(high)) if sep else float(text)
        render_range(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds like 3 or a range like 20-40, not {text!r}") from None
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="heygen-video-mcp sandbox",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--api-key", default="sandbox-key", help="the X-Api-Key the sandbox accepts")
    parser.add_argument(
        "--render-seconds",
        type=render_seconds,
        default=3.0,
        help="from submission to a finished video; LO-HI draws each job's time uniformly from that range",
    )
    parser.add_argument("--render-seed", type=int, default=None, help="seed for drawn render times; None: random")
    parser.add_argument("--submitted-seconds", type=float, default=0.5, help="how long a job reads as submitted")
    parser.add_argument("--video-seconds", type=float, default=2.0, help="length of each MP4")
    parser.add_argument("--video-size", type=int, default=None, help="pad each MP4 to this many bytes; None: unpadded")
    parser.add_argument("--read-lag", type=float, default=0.0, help="seconds a new job's status reads answer not_found")
    parser.add_argument(
        "--video-rate", type=float, default=None, help="stream videos at this many bytes/s; None: at full speed"
    )
    parser.add_argument(
        "--video-ranges",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="answer Range on video URLs with 206; off, always 200 with the whole body",
    )
    parser.add_argument(
        "--retire-v1",
        type=int,
        choices=(404, 405, 410),
        default=None,
        help="play HeyGen's retired v1: every /v1/ request answers this status (410 with a notice saying so); "
        "the v3 Video Agent keeps working",
    )
    args = parser.parse_args(argv)
    sandbox = Sandbox(
        api_key=args.api_key,
        render_seconds=args.render_seconds,
        submitted_seconds=args.submitted_seconds,
        video_seconds=args.video_seconds,
        video_size=args.video_size,
        read_lag=args.read_lag,
        video_rate=args.video_rate,
        video_ranges=args.video_ranges,
        render_seed=args.render_seed,
        host=args.host,
        port=args.port,
    )
    if args.retire_v1 is not None:
        sandbox.retire_v1(args.retire_v1, notice=args.retire_v1 == 410)
    try:
        sandbox.start()
    except CannotListen as exc:
        advice = "choose another --port (0 picks a free one)" if exc.in_use else "use --host 127.0.0.1 (this machine)"
        print(f"heygen-video-mcp sandbox: {exc}; {advice}.", file=sys.stderr)
        return 2
    try:
        print(sandbox.base_url, flush=True)
        print(
            f"HeyGen sandbox: set HEYGEN_API_BASE_URL={sandbox.base_url} HEYGEN_API_KEY={sandbox.api_key}",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
