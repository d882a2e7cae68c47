"""Remote mode: the same MCP server over streamable HTTP at /mcp, for a team sharing one server.

Both protocol eras are served: 2025-11-25 clients get sessions, 2026-07-28 clients stateless requests (the
SDK routes by the MCP-Protocol-Version header). Answers stream as SSE, so a long tool's progress reaches
the caller while it works. /healthz answers 200 to anyone and says nothing else.

On SIGTERM the server stops accepting connections, lets the tool calls in flight finish (each ends by its
own deadline), then closes the remaining idle streams and records any submission still on the wire."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import anyio
import uvicorn
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import TokenVerifier
from mcp.server.auth.routes import build_resource_metadata_url, create_protected_resource_routes
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from heygen_video_mcp.server.auth import AnyOf, JwtAccessTokens, StaticTokens
from heygen_video_mcp.server.config import ConfigError, Settings
from heygen_video_mcp.server.httpsettings import HttpSettings
from heygen_video_mcp.server.listening import CannotListen, listen
from heygen_video_mcp.server.logs import RedactKey
from heygen_video_mcp.server.sessions import SessionCap
from heygen_video_mcp.server.tenantfile import Tenant, load_tenants
from heygen_video_mcp.tools.publichost import is_loopback_host
from heygen_video_mcp.tools.tenancy import OWN, Tenancy
from heygen_video_mcp.tools.timing import CALL_CAP_SECONDS

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from heygen_video_mcp.server.videolinks import VideoLinks
    from heygen_video_mcp.tools.calls import AppState

MCP_PATH: Final = "/mcp"
# After SIGTERM: a call in flight ends by its deadline (at most CALL_CAP_SECONDS); past this, it is cut.
DRAIN_SECONDS: Final = CALL_CAP_SECONDS + 5.0

logger = logging.getLogger(__name__)


def transport_security(http: HttpSettings) -> TransportSecuritySettings:
    """DNS-rebinding protection: only Host and Origin headers naming this server are accepted. Loopback
    names always are; the bound address too; anything else (a public name behind a proxy) is configured."""
    hosts = ["127.0.0.1", "localhost", "[::1]"]
    if http.host not in ("0.0.0.0", "::") and not is_loopback_host(http.host):  # noqa: S104 (names, not binds)
        hosts.append(f"[{http.host}]" if ":" in http.host else http.host)
    allowed_hosts = [pattern for host in hosts for pattern in (host, f"{host}:*")]
    allowed_origins = [f"{scheme}://{host}:*" for host in hosts for scheme in ("http", "https")]
    allowed_origins += [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*allowed_hosts, *http.allowed_hosts],
        allowed_origins=[*allowed_origins, *http.allowed_origins],
    )


def token_verifier(http: HttpSettings, tenants: Mapping[str, Tenant]) -> TokenVerifier | None:
    """The bearer check: static tokens (HEYGEN_MCP_TOKEN for the server's own user, and the tenants file's),
    then OAuth access tokens when an issuer is configured; None when nothing is configured."""
    static = {name: t.token.get_secret_value() for name, t in tenants.items() if t.token is not None}
    if http.token is not None:
        static[OWN] = http.token.get_secret_value()
    verifiers: list[TokenVerifier] = [StaticTokens(static)] if static else []
    if http.issuer and http.jwks_url and http.resource_url:
        subjects = {t.oauth_subject: name for name, t in tenants.items() if t.oauth_subject is not None}
        verifiers.append(
            JwtAccessTokens(issuer=http.issuer, jwks_url=http.jwks_url, audience=http.resource_url, subjects=subjects)
        )
    return AnyOf(verifiers) if verifiers else None


def tenancy(http: HttpSettings, tenants: Mapping[str, Tenant]) -> Tenancy:
    return Tenancy(
        keys={name: t.heygen_api_key.get_secret_value() for name, t in tenants.items() if t.heygen_api_key},
        daily_renders={name: t.daily_renders for name, t in tenants.items() if t.daily_renders is not None},
        default_daily_renders=http.tenant_daily_renders,
        allow_caller_keys=http.allow_caller_keys,
        share_server_key=http.share_server_key,
    )


def metadata_routes(http: HttpSettings) -> tuple[list[Route], AnyHttpUrl | None]:
    """RFC 9728 protected-resource metadata, at the path-suffixed address for /mcp and at the bare one, and
    that address for 401 answers to name; nothing without OAuth."""
    if not (http.issuer and http.resource_url):
        return [], None
    resource = AnyHttpUrl(http.resource_url)
    routes = create_protected_resource_routes(resource, [AnyHttpUrl(http.issuer)])
    bare = "/.well-known/oauth-protected-resource"
    if all(route.path != bare for route in routes):
        routes += [Route(bare, endpoint=route.endpoint, methods=["GET", "OPTIONS"]) for route in routes[:1]]
    return routes, build_resource_metadata_url(resource)


def hide_secrets(http: HttpSettings, tenants: Mapping[str, Tenant]) -> None:
    """Scrub every configured token and tenant key from the log, as HEYGEN_API_KEY already is."""
    secrets = [http.token] + [s for t in tenants.values() for s in (t.token, t.heygen_api_key)]
    for secret in secrets:
        if secret is not None:
            for handler in logging.getLogger().handlers:
                handler.addFilter(RedactKey(secret.get_secret_value()))


class Drain:
    """Counts the MCP requests in flight other than standalone GET streams (which never end by themselves),
    so shutdown can wait for the calls and then close the streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.active = 0
        self._idle = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            if self.active == 0:
                self._idle.set()
                self._idle = anyio.Event()

    async def wait(self) -> None:
        while self.active:
            await self._idle.wait()


def build_app(
    server: MCPServer[AppState], http: HttpSettings, tenants: Mapping[str, Tenant], links: VideoLinks | None = None
) -> tuple[Starlette, Drain]:
    """The ASGI app: /healthz, the OAuth metadata, the saved videos at signed links (their signature is their
    credential: a video player cannot send a token), and /mcp behind the bearer check when one is configured."""
    inner = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=transport_security(http),
        max_request_body_size=http.max_body_bytes,
        host=http.host,
    )
    drain = Drain(inner)
    mcp_app: ASGIApp = SessionCap(drain, http.max_sessions_per_tenant)
    middleware: list[Middleware] = []
    metadata, metadata_url = metadata_routes(http)
    verifier = token_verifier(http, tenants)
    if verifier is not None:
        mcp_app = RequireAuthMiddleware(mcp_app, required_scopes=[], resource_metadata_url=metadata_url)
        middleware = [
            Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(verifier)),
            Middleware(AuthContextMiddleware),
        ]

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        *metadata,
        Route("/healthz", healthz, methods=["GET"]),
        *(links.routes() if links else []),
        Mount("/", app=mcp_app),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lambda _: server.session_manager.run())
    return app, drain


class _Server(uvicorn.Server):
    """uvicorn, saying where it listens once it does, and draining the MCP calls in flight on shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self._drain = drain

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        for listener in self.servers:
            for sock in listener.sockets:
                host, port = sock.getsockname()[:2]
                shown = f"[{host}]" if ":" in host else host
                logger.info("serving MCP at http://%s:%d%s", shown, port, MCP_PATH)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        closer = asyncio.get_running_loop().create_task(self._close_streams_when_drained())
        try:
            await super().shutdown(sockets)
        finally:
            closer.cancel()

    async def _close_streams_when_drained(self) -> None:
        with anyio.move_on_after(DRAIN_SECONDS):
            await self._drain.wait()
        AppStatus.should_exit = True  # sse-starlette ends the open streams


def serve_http(settings: Settings, http: HttpSettings) -> int:
    """Serve until SIGTERM/SIGINT. Refuses (exit 2, one line on stderr) to listen beyond this machine
    without authentication."""
    from heygen_video_mcp.server.app import create_server
    from heygen_video_mcp.server.videolinks import LinkConfigError, library_lookup, links_from_env
    from heygen_video_mcp.tools.errors import LibraryError

    try:
        tenants = load_tenants(http.tenants_file) if http.tenants_file else {}
    except ConfigError as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return 2
    if not is_loopback_host(http.host) and token_verifier(http, tenants) is None:
        print(
            f"heygen-video-mcp: refusing to serve on {http.host} without authentication; set HEYGEN_MCP_TOKEN "
            "(or HEYGEN_MCP_TENANTS_FILE, or HEYGEN_MCP_ISSUER), or bind to 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    hide_secrets(http, tenants)
    try:
        sock = listen(http.host, http.port)
    except CannotListen as exc:
        advice = "choose another --port or HEYGEN_MCP_PORT" if exc.in_use else "use --host 127.0.0.1 (this machine)"
        print(f"heygen-video-mcp: {exc}; {advice}.", file=sys.stderr)
        return 2
    library = settings.library()
    try:
        library.migrate()
        links = links_from_env(os.environ, root=settings.output_dir, lookup=library_lookup(library))
    except (LibraryError, LinkConfigError) as exc:
        print(f"heygen-video-mcp: {exc}", file=sys.stderr)
        return 2
    server = create_server(settings, library=library, tenancy=tenancy(http, tenants), links=links)
    app, drain = build_app(server, http, tenants, links)
    # Streams end when this server says so (after the calls in flight), not on the signal itself.
    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]
    config = uvicorn.Config(
        app,
        host=http.host,
        port=http.port,
        log_config=None,
        log_level=settings.log_level.lower(),
        server_header=False,
        timeout_graceful_shutdown=int(DRAIN_SECONDS) + 5,
    )
    _Server(config, drain).run(sockets=[sock])
    return 0
