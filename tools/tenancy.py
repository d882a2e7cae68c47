"""Tenants of a remote server: each caller gets job logic of its own (its HeyGen key, its view of the
library, its duplicate guard, its status-read pacer and render budget), made on its first call.

The caller is the signed-in token's subject (a static token's name; for an OAuth token, the tenant its `sub`
is mapped to, else "oauth/" + `sub`: see server/auth.py); '' is the server's own user: stdio mode, an HTTP
server without sign-in, and HEYGEN_MCP_TOKEN."""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal

from mcp.server.auth.middleware.auth_context import get_access_token

from heygen_video_mcp.tools.library import Library

if TYPE_CHECKING:
    from heygen_video_mcp.tools.jobs.front import VideoJobs

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


# How many execution ids known to be a tenant's are remembered (then forgotten at once, and relearned).
_OWN_LIMIT: Final = 10_000


class Ownership:
    """Whose an execution id is, as one tenant's job logic asks before each status read. Ids the library holds
    as this tenant's are remembered: a row is never handed to another tenant, so such an id needs no check
    again."""

    def __init__(self, library: Library) -> None:
        self._library = library
        self._own: set[str] = set()

    async def foreign(self, execution_id: str) -> bool:
        """Recorded only under other tenants: it must answer as an unknown id would."""
        return execution_id not in self._own and await self._library.foreign(execution_id)

    def learn(self, execution_id: str) -> None:
        if len(self._own) >= _OWN_LIMIT:
            self._own.clear()
        self._own.add(execution_id)


# Where a tenant's HeyGen key comes from.
KeySource = Literal["configured", "caller", "shared", "none"]
# Job logic kept for callers beyond the configured tenants (caller keys, OAuth subjects): the least recently
# used idle one is dropped past this. Its HTTP client is the run's shared one, so dropping frees all it held.
RECENT_JOBS_LIMIT: Final = 256


@dataclass(frozen=True)
class Tenancy:
    """Who makes (and pays for) videos with which HeyGen key, and how many a day."""

    keys: Mapping[str, str] = field(default_factory=dict)  # tenant -> HeyGen key ('' -> HEYGEN_API_KEY)
    daily_renders: Mapping[str, int] = field(default_factory=dict)
    default_daily_renders: int | None = None
    allow_caller_keys: bool = False  # a tenant without a key here may send its own (X-HeyGen-Api-Key)
    share_server_key: bool = False  # a signed-in tenant without a key of its own uses HEYGEN_API_KEY

    def key_for(self, tenant: str, offered: str | None) -> tuple[str | None, KeySource]:
        if configured := self.keys.get(tenant):
            return configured, "configured"
        if self.allow_caller_keys and offered:
            return offered, "caller"
        if self.share_server_key and tenant != OWN and (shared := self.keys.get(OWN)):
            return shared, "shared"
        return None, "none"

    def budget_for(self, tenant: str) -> int | None:
        return self.daily_renders.get(tenant, self.default_daily_renders)


# What makes a tenant's job logic: (tenant, HeyGen key, daily budget, what to check if HeyGen refuses the
# key) -> VideoJobs.
MakeJobs = Callable[[str, str | None, int | None, str | None], "VideoJobs"]
Slot = tuple[str, str | None]


class Tenants:
    """The job logic of each tenant, made on first use. A caller's own key gets job logic of its own, kept
    under a digest of the key: no tenant's calls ever run with a key another tenant sent. The configured
    tenants' job logic is kept for the run; the rest (caller keys, subjects without a table) at most
    RECENT_JOBS_LIMIT idle ones, so a caller sending key after key cannot grow the server without bound."""

    def __init__(self, tenancy: Tenancy, make: MakeJobs, limit: int = RECENT_JOBS_LIMIT) -> None:
        self.tenancy = tenancy
        self._make = make
        self._limit = limit
        self._kept: dict[Slot, VideoJobs] = {}
        self._recent: OrderedDict[Slot, VideoJobs] = OrderedDict()

    def jobs(self, tenant: str, offered_key: str | None = None) -> VideoJobs:
        key, source = self.tenancy.key_for(tenant, offered_key)
        slot = (tenant, hashlib.sha256(key.encode()).hexdigest() if key else None)
        if found := self._kept.get(slot):
            return found
        if found := self._recent.get(slot):
            self._recent.move_to_end(slot)
            return found
        made = self._make(tenant, key, self.tenancy.budget_for(tenant), rejected_key_advice(tenant, source))
        if source == "configured" or (tenant == OWN and source == "none"):  # a set the server's config bounds
            self._kept[slot] = made
        else:
            self._recent[slot] = made
            self._forget_idle()
        return made

    def _forget_idle(self) -> None:
        """Drop the least recently used idle job logic past the limit; work still running keeps its own."""
        for slot in [s for s, jobs in self._recent.items() if not jobs.busy][: len(self._recent) - self._limit]:
            del self._recent[slot]

    def all(self) -> list[VideoJobs]:
        return [*self._kept.values(), *self._recent.values()]


def missing_key_message(tenant: str, tenancy: Tenancy) -> str:
    own = (
        ", or send your own HeyGen key in the X-HeyGen-Api-Key header of your MCP client"
        if tenancy.allow_caller_keys
        else ""
    )
    return (
        f"No HeyGen API key is set up for your account ({tenant!r}) on this server, so it cannot reach HeyGen. "
        f"Ask the server's operator to add one (heygen_api_key in its tenants file, or HEYGEN_SHARE_SERVER_KEY=true "
        f"to share the server's own){own}. "
        "list_providers works without a key."
    )


def rejected_key_advice(tenant: str, source: KeySource) -> str | None:
    """What to check when HeyGen refuses the key, by where it came from (None: HEYGEN_API_KEY, the default)."""
    if source == "caller":
        return (
            "Check the key your MCP client sends in the X-HeyGen-Api-Key header: it must be a current key from "
            "HeyGen's API settings."
        )
    if source == "configured" and tenant != OWN:
        return f"Ask the server's operator to check heygen_api_key for your account ({tenant!r}) in its tenants file."
    if source == "shared":
        return "This server lends you its own key (HEYGEN_API_KEY): ask its operator to check it."
    return None
