"""What one tool call knows of the server: the lifespan's state, the caller's own job logic (its tenant's),
and how its caller reaches a saved video; and the execution-id parameter every tool about a job takes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from heygen_video_mcp.tools.tenancy import CALLER_KEY_HEADER, OWN, Tenants, caller_tenant

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from heygen_video_mcp.tools.jobs.front import VideoJobs

# A signed link to a saved video for a remote caller: (base_url, tenant, execution_id) -> (url, expiry).
SignLink = Callable[[str, str, str], tuple[str, datetime]]


@dataclass(frozen=True)
class AppState:
    """What the server's lifespan holds: the job logic (the server's own user's, and the tenants'); in remote
    mode, how saved videos are handed out (signed links under `public_url`, or under the URL each caller used).
    As a call sees it (state()), it names the caller's tenant and the key the caller offered."""

    tenants: Tenants
    wait_seconds: float
    wait_cap: float
    call_seconds: float
    sign_link: SignLink | None = None
    public_url: str | None = None
    tenant: str = OWN
    offered_key: str | None = None

    @cached_property
    def jobs(self) -> VideoJobs:
        """The caller's job logic, made on its first use: the server's own user's at the first tool call, so
        start-up loads none of it (tools/jobs). Kept by this state: the lifespan's for the server's own user,
        a call's own for a tenant."""
        return self.tenants.jobs(self.tenant, self.offered_key)


def state(ctx: Context[AppState, Any]) -> AppState:
    """The state as the calling tool's caller sees it: with its tenant's job logic (see tools/tenancy.py)."""
    # The request context once: each read of it (a pydantic private attribute) costs a few microseconds.
    return caller_state(ctx.request_context)


def caller_state(context: ServerRequestContext[AppState, Any]) -> AppState:
    """The state as the caller of any request sees it (a tool call, or an MCP task's: server/tasks.py)."""
    app = context.lifespan_context
    tenant = caller_tenant()
    headers = getattr(context.request, "headers", None)  # as ctx.headers: None on stdio
    offered = (headers.get(CALLER_KEY_HEADER, "").strip() or None) if headers else None
    if tenant == OWN and offered is None:
        return app
    return replace(app, tenant=tenant, offered_key=offered)


@dataclass(frozen=True)
class Links:
    """How this call's caller reaches a saved video: a link signed for it, since it cannot open a path on
    the server."""

    sign: SignLink
    base_url: str


def links(ctx: Context[AppState, Any]) -> Links | None:
    """Links for a remote caller; None on stdio, where a saved video is a local path. (How links are signed
    is the server's, not the tenant's: no need to look up the caller's job logic again, as state() does.)"""
    app = ctx.request_context.lifespan_context
    if app.sign_link is None:
        return None
    request = ctx.request_context.request
    base_url = app.public_url or str(getattr(request, "base_url", ""))
    return Links(app.sign_link, base_url)


ExecutionId = Annotated[
    str,
    Field(
        description="The execution_id that generate_video returned, as it was: like 'node-gw-v1d2e3o4', or "
        "'video_agent:<video_id>' for a Video Agent video."
    ),
]
