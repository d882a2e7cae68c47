"""Retirement remembered: once HeyGen says an API is retired (a notice, or 410 Gone), the library keeps it for
that base URL, so every later call with its providers answers at once, without a request, and list_providers
says they are unavailable. Another base URL (a proxy, the sandbox) is judged by its own answers."""

from __future__ import annotations

import logging
import time
from typing import Final

from heygen_video_mcp.tools import errors, routes
from heygen_video_mcp.tools.client import VIDEO_AGENT_OFFER, HeyGenClient
from heygen_video_mcp.tools.library import Library, Retirement
from heygen_video_mcp.tools.providers import PROVIDERS

logger = logging.getLogger(__name__)

_WHAT: Final[dict[str, str]] = {"executions": "HeyGen's v1 executions API"}


class Retirements:
    def __init__(self, client: HeyGenClient, library: Library) -> None:
        self._client = client
        self._library = library
        # Retired APIs never come back at one base URL: once seen, not read again.
        self._known: dict[str, Retirement] = {}

    async def known(self) -> dict[str, Retirement]:
        """The retired APIs at this base URL, by backend (one library read until one is known)."""
        if not self._known:
            found = await self._library.retirements(self._client.base_url)
            self._known.update({r.api: r for r in found})
        return self._known

    async def refuse(self, provider: str) -> None:
        """Raise EndpointRetired, asking nobody, for a provider whose API is known to be retired here."""
        backend: routes.Backend = "video_agent" if provider == routes.VIDEO_AGENT else "executions"
        retirement = (await self.known()).get(backend)
        if retirement is None:
            return
        raise errors.EndpointRetired(
            f"{self.reason(retirement)}, so provider {provider!r} cannot be used here; nothing was sent to "
            f"HeyGen (it said: {retirement.message}).",
            status_code=410,
            advice=VIDEO_AGENT_OFFER,
        )

    def reason(self, retirement: Retirement) -> str:
        day = time.strftime("%Y-%m-%d", time.gmtime(retirement.retired_at))
        what = _WHAT.get(retirement.api, retirement.api)
        return f"{what} at {self._client.base_url} answered on {day} that it is retired"

    async def unavailable(self) -> dict[str, str]:
        """Provider value -> why it cannot be used, for the providers of a retired API."""
        try:
            known = await self.known()
        except errors.LibraryError as exc:  # the catalog needs no library: shown as it is
            logger.warning("Could not read which HeyGen APIs are retired: %s", exc)
            return {}
        return {p.value: self.reason(known[p.backend]) for p in PROVIDERS if p.backend in known}

    async def learn(self, exc: errors.HeyGenError) -> None:
        """Remember what HeyGen said, if it said its API is retired; a library fault only delays it."""
        if not isinstance(exc, errors.EndpointRetired) or not exc.certain or exc.api is None:
            return
        retirement = Retirement(exc.api, exc.said, time.time())
        try:
            await self._library.remember_retired(self._client.base_url, retirement)
        except errors.LibraryError as err:
            logger.warning("Could not remember that %s is retired: %s", exc.api, err)
            return
        self._known.setdefault(exc.api, retirement)
