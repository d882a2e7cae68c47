"""A cap on each tenant's open 2025-11-25 sessions (HEYGEN_MCP_MAX_SESSIONS_PER_TENANT), in front of the SDK's
session manager, whose own cap (10,000, idle ones closed after 30 minutes) is one for the whole server: without
this, one tenant opening sessions by the thousand would leave every other tenant's legacy clients with 503.

A tenant at its cap that opens another session loses its own least recently used idle one (no request of its
in flight), ended as its client would end it, with a DELETE on its own credentials; when all of its sessions
are busy, the new one is refused with the limit named. 2026-07-28 requests have no session and pass by; so do
the server's own user's (HEYGEN_MCP_TOKEN, or no sign-in), held only by the SDK's cap."""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Final

import anyio
from mcp.server.streamable_http_manager import DEFAULT_SESSION_IDLE_TIMEOUT
from mcp_types import INTERNAL_ERROR, ErrorData, JSONRPCError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heygen_video_mcp.tools.tenancy import OWN, caller_tenant

SESSION_HEADER: Final = b"mcp-session-id"
VERSION_HEADER: Final = b"mcp-protocol-version"
HANDSHAKE_VERSIONS: Final = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)  # the eras with sessions

logger = logging.getLogger(__name__)


@dataclass
class _Session:
    tenant: str
    user: object  # who opened it (the request's scope["user"]): the session manager ends it only for them
    used_at: float
    busy: int = 0  # POSTs in flight (a standalone GET stream only listens: a session with one is still idle)
    streams: int = 0  # GET streams open, which keep the session manager from closing it as idle


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == name), None)


class SessionCap:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recently used first, all tenants
        self._count: Counter[str] = Counter()  # tenant -> sessions open or opening

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant = caller_tenant()
        version = _header(scope, VERSION_HEADER) if scope["type"] == "http" else None
        if scope["type"] != "http" or tenant == OWN or (version is not None and version not in HANDSHAKE_VERSIONS):
            await self.app(scope, receive, send)
            return
        session_id = _header(scope, SESSION_HEADER)
        if session_id is None and scope["method"] == "POST":
            await self._open(tenant, scope, receive, send)
        elif session_id is not None and (session := self._sessions.get(session_id)) and session.tenant == tenant:
            await self._use(session_id, session, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _open(self, tenant: str, scope: Scope, receive: Receive, send: Send) -> None:
        self._forget_expired()
        ending: tuple[str, _Session] | None = None
        if self._count[tenant] >= self.limit:
            idle = next((i for i, s in self._sessions.items() if s.tenant == tenant and not s.busy), None)
            if idle is None:
                await self._refuse(tenant, scope, receive, send)
                return
            ending = (idle, self._sessions[idle])
            self._forget(idle)
        self._count[tenant] += 1  # before any await: simultaneous opens cannot pass the cap together
        opened: list[str] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                opened.extend(v.decode("latin-1") for k, v in message.get("headers", []) if k == SESSION_HEADER)
            await send(message)

        try:
            if ending is not None:
                await self._end(*ending, scope)
            await self.app(scope, receive, watch)
        finally:
            if opened:
                self._sessions[opened[0]] = _Session(tenant, scope.get("user"), anyio.current_time())
            else:
                self._uncount(tenant)

    async def _use(self, session_id: str, session: _Session, scope: Scope, receive: Receive, send: Send) -> None:
        self._sessions.move_to_end(session_id)
        session.used_at = anyio.current_time()
        posting, listening = scope["method"] == "POST", scope["method"] == "GET"
        session.busy += posting
        session.streams += listening
        status: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            session.busy -= posting
            session.streams -= listening
            # Gone: ended by its client, or by the session manager (idle, or ended by this cap).
            if status and (status[0] == 404 or (scope["method"] == "DELETE" and status[0] < 300)):
                self._forget(session_id)

    async def _end(self, session_id: str, session: _Session, scope: Scope) -> None:
        """End a session (already forgotten here) through the session manager, as its client's DELETE would."""
        headers = [(k, v) for k, v in scope["headers"] if k not in (SESSION_HEADER, b"content-length")]
        ending = dict(scope)
        ending.update(method="DELETE", headers=[*headers, (SESSION_HEADER, session_id.encode())], user=session.user)

        async def nothing() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def discard(_: Message) -> None:
            pass

        await self.app(ending, nothing, discard)
        logger.info("ended an idle session of %r, at HEYGEN_MCP_MAX_SESSIONS_PER_TENANT", session.tenant)

    def _forget(self, session_id: str) -> _Session | None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            self._uncount(session.tenant)
        return session

    def _uncount(self, tenant: str) -> None:
        self._count[tenant] -= 1
        if self._count[tenant] <= 0:
            del self._count[tenant]

    def _forget_expired(self) -> None:
        """Forget the sessions the session manager has closed as idle by now (it says nothing when it does)."""
        cutoff = anyio.current_time() - DEFAULT_SESSION_IDLE_TIMEOUT
        while self._sessions:
            session_id, session = next(iter(self._sessions.items()))
            if session.used_at > cutoff or session.busy or session.streams:
                return
            self._forget(session_id)

    async def _refuse(self, tenant: str, scope: Scope, receive: Receive, send: Send) -> None:
        message = (
            f"Too many open sessions for your account ({tenant!r}): this server allows {self.limit} at once per "
            "account (HEYGEN_MCP_MAX_SESSIONS_PER_TENANT), and each of yours has a call in flight. Close a "
            "client you no longer use, or wait for a call to finish, then connect again."
        )
        body = JSONRPCError(jsonrpc="2.0", id=None, error=ErrorData(code=INTERNAL_ERROR, message=message))
        response = Response(body.model_dump_json(by_alias=True, exclude_unset=True), 503, media_type="application/json")
        await response(scope, receive, send)
