"""Tenants of a remote server: each caller gets job logic of its own (its HeyGen key, its view of the
library, its duplicate guard, its status-read pacer and render budget), made on its first call.

The caller is the signed-in token's subject (a static token's name, an OAuth token's `sub`); '' is the
server's own user: stdio mode, an HTTP server without sign-in, and HEYGEN_MCP_TOKEN."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from mcp.server.auth.middleware.auth_context import get_access_token

from heygen_video_mcp.tools.jobs import VideoJobs
from heygen_video_mcp.tools.library import Library

OWN: Final = ""  # the server's own user
CALLER_KEY_HEADER: Final = "x-heygen-api-key"


def caller_tenant() -> str:
    """The signed-in caller's tenant (the SDK keeps the verified token in a context variable per request)."""
    token = get_access_token()
    return (token.subject or token.client_id) if token is not None else OWN


def tenant_folder(tenant: str) -> str:
    """A folder name for the tenant's videos: its name when that is plain, otherwise a plain version of it
    with a digest, so no subject ("../x", "a/b") can name a path outside the output folder."""
    plain = re.sub(r"[^A-Za-z0-9@._-]", "_", tenant)[:64]
    plain = f"_{plain[1:]}" if plain.startswith(".") else plain  # never ".", "..", or a hidden folder
    return plain if plain == tenant else f"{plain}-{hashlib.sha256(tenant.encode()).hexdigest()[:10]}"


def callers(library: Library) -> Library:
    """The caller's view of `library`: a tenant's own, or `library` itself for the server's own user."""
    tenant = caller_tenant()
    return library.for_tenant(tenant) if tenant else library


@dataclass(frozen=True)
class Tenancy:
    """Who makes (and pays for) videos with which HeyGen key, and how many a day."""

    keys: Mapping[str, str] = field(default_factory=dict)  # tenant -> HeyGen key ('' -> HEYGEN_API_KEY)
    daily_renders: Mapping[str, int] = field(default_factory=dict)
    default_daily_renders: int | None = None
    allow_caller_keys: bool = False  # a tenant without a key here may send its own (X-HeyGen-Api-Key)

    def key_for(self, tenant: str, offered: str | None) -> str | None:
        return self.keys.get(tenant) or (offered if self.allow_caller_keys and offered else None)

    def budget_for(self, tenant: str) -> int | None:
        return self.daily_renders.get(tenant, self.default_daily_renders)


# What makes a tenant's job logic: (tenant, HeyGen key, daily budget) -> VideoJobs.
MakeJobs = Callable[[str, str | None, int | None], VideoJobs]


class Tenants:
    """The job logic of each tenant, made on first use. A caller's own key gets job logic of its own, kept
    under a digest of the key: no tenant's calls ever run with a key another tenant sent."""

    def __init__(self, tenancy: Tenancy, make: MakeJobs) -> None:
        self.tenancy = tenancy
        self._make = make
        self._jobs: dict[tuple[str, str | None], VideoJobs] = {}

    def jobs(self, tenant: str, offered_key: str | None = None) -> VideoJobs:
        key = self.tenancy.key_for(tenant, offered_key)
        slot = (tenant, hashlib.sha256(key.encode()).hexdigest() if key else None)
        if slot not in self._jobs:
            self._jobs[slot] = self._make(tenant, key, self.tenancy.budget_for(tenant))
        return self._jobs[slot]

    def all(self) -> list[VideoJobs]:
        return list(self._jobs.values())


def missing_key_message(tenant: str, tenancy: Tenancy) -> str:
    own = (
        ", or send your own HeyGen key in the X-HeyGen-Api-Key header of your MCP client"
        if tenancy.allow_caller_keys
        else ""
    )
    return (
        f"No HeyGen API key is set up for your account ({tenant!r}) on this server, so it cannot reach HeyGen. "
        f"Ask the server's operator to add one (heygen_api_key in its tenants file){own}. "
        "list_providers works without a key."
    )
