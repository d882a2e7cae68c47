"""Command line: `heygen-video-mcp` serves MCP over stdio (what desktop apps start), `heygen-video-mcp serve
--transport streamable-http` over HTTP for a team (server/http.py); `heygen-video-mcp demo` runs the whole
flow end to end; `heygen-video-mcp sandbox` serves the local HeyGen sandbox; `generate`, `status`, `list`,
`download` and `providers` make and manage videos from a terminal (server/cli.py)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from heygen_video_mcp.server.config import Settings
    from heygen_video_mcp.tools.calls import AppState
    from heygen_video_mcp.tools.library import Library


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # its own options and --help
        from heygen_video_mcp.server.sandbox.__main__ import main as sandbox_main

        return sandbox_main(argv[1:])
    if argv in ([], ["serve"]):  # what desktop apps start: no argument parser on the way to serving
        return serve()
    return _command(argv)


def _command(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="heygen-video-mcp", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="serve MCP over stdio (the default) or streamable HTTP")
    serve_cmd.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    serve_cmd.add_argument("--host", help="address to listen on (HTTP; default 127.0.0.1, or HEYGEN_MCP_HOST)")
    serve_cmd.add_argument("--port", type=int, help="port to listen on (HTTP; default 8000, or HEYGEN_MCP_PORT)")
    demo = sub.add_parser("demo", help="generate a video end to end through this server over stdio")
    demo.add_argument("--prompt", help="the video prompt")
    demo.add_argument(
        "--provider",
        help="the provider (default: veo_3_1 in the sandbox, ltx_distilled with a key; video_agent once HeyGen "
        "has retired v1)",
    )
    sub.add_parser("sandbox", help="run the local HeyGen sandbox (see heygen-video-mcp sandbox --help)")
    from heygen_video_mcp.server import cli

    cli.add_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve" and args.transport == "streamable-http":
        return _serve_http(args.host, args.port)
    if args.command in cli.COMMANDS:
        return cli.run(args)
    if args.command != "demo":
        return serve()
    settings = _settings()
    if settings is None:
        return 2
    from heygen_video_mcp.server.demo import run_demo

    return run_demo(settings, prompt=args.prompt, provider=args.provider)


def _settings() -> Settings | None:
    """The settings from the environment, with logging set up; None (and why, on stderr) if they are bad."""
    from heygen_video_mcp.server.config import ConfigError, settings_from_env
    from heygen_video_mcp.server.logs import configure_logging

    try:
        settings = settings_from_env()
    except ConfigError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return None
    configure_logging(settings.api_key, settings.log_level, database_url=settings.database_url)
    return settings


def _serve_http(host: str | None, port: int | None) -> int:
    from heygen_video_mcp.server.config import ConfigError
    from heygen_video_mcp.server.http import serve_http
    from heygen_video_mcp.server.httpsettings import http_settings_from_env

    settings = _settings()
    if settings is None:
        return 2
    try:
        http = http_settings_from_env(host=host, port=port)
    except ConfigError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return 2
    return serve_http(settings, http)


def serve() -> int:
    """Serve MCP over stdio.

    Start-up runs without the cyclic garbage collector: loading the SDK and building the tools makes some
    100,000 objects that live as long as the server, and collections meanwhile (tens of milliseconds) would
    find almost nothing to free. Before serving they are frozen, so later collections do not walk them
    either; the little start-up garbage among them (some 2,000 objects) is kept for the server's life."""
    import gc
    import logging

    gc.disable()
    try:
        server = _server()
    finally:
        gc.freeze()
        gc.enable()
    if server is None:
        return 2
    logging.getLogger(__name__).info("serving MCP over stdio")
    from heygen_video_mcp.server.stdio import serve_stdio

    serve_stdio(server)
    return 0


def _server() -> MCPServer[AppState] | None:
    """The server, or None (and why, on stderr). A library that cannot be used stops the server with its
    message, not a traceback; it is checked (the whole file, see Library.migrate) in a thread while the MCP
    SDK loads, since SQLite works without holding the interpreter, and the server's lifespan does not check
    it again."""
    settings = _settings()
    if settings is None:
        return None
    from heygen_video_mcp.tools.errors import LibraryError

    try:
        library = settings.library()
    except LibraryError as exc:  # HEYGEN_DATABASE_URL without the PostgreSQL driver installed
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return None
    check = _Migration(library)

    from heygen_video_mcp.server.app import create_server

    server = create_server(settings, library=library)
    try:
        check.result()
    except LibraryError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return None
    return server


class _Migration:
    """library.migrate() in a thread of its own; result() waits for it and raises what it raised."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="library-check", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._library.migrate()
        except BaseException as exc:  # handed to the main thread
            self._error = exc

    def result(self) -> None:
        self._thread.join()
        if self._error is not None:
            raise self._error


if __name__ == "__main__":
    sys.exit(main())
