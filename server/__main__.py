"""Command line: `heygen-video-mcp` serves MCP over stdio (what desktop apps start); `heygen-video-mcp demo`
runs the whole flow end to end; `heygen-video-mcp sandbox` serves the local HeyGen sandbox."""

from __future__ import annotations

import argparse
import logging
import sys

from server.config import ConfigError, settings_from_env
from server.logs import configure_logging


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # its own options and --help
        from server.sandbox.__main__ import main as sandbox_main

        sandbox_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(prog="heygen-video-mcp", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve MCP over stdio (the default)")
    demo = sub.add_parser("demo", help="generate a video end to end through this server over stdio")
    demo.add_argument("--prompt", help="the video prompt")
    sub.add_parser("sandbox", help="run the local HeyGen sandbox (see heygen-video-mcp sandbox --help)")
    args = parser.parse_args(argv)
    try:
        settings = settings_from_env()
    except ConfigError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.api_key, settings.log_level)
    if args.command == "demo":
        from server.demo import run_demo

        return run_demo(settings, prompt=args.prompt)

    from server.app import create_server
    from tools.errors import LibraryError

    try:  # a library that cannot be used stops the server with its message, not a traceback
        settings.library().migrate()
    except LibraryError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return 2
    logging.getLogger(__name__).info("serving MCP over stdio")
    create_server(settings).run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
