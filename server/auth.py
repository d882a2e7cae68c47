"""Who is calling: bearer tokens checked through the MCP SDK's token-verifier hook. A static token's
name is its tenant."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from mcp.server.auth.provider import AccessToken

DEFAULT_TENANT = "default"


class StaticTokens:
    """Named shared secrets (name -> token). Every configured token is compared, each in constant time, so
    the time an answer takes says nothing about which token, or how much of one, matched."""

    def __init__(self, tokens: Mapping[str, str]) -> None:
        self._tokens = [(name, token.encode()) for name, token in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        offered = token.encode()
        found: str | None = None
        for name, secret in self._tokens:
            if hmac.compare_digest(offered, secret):
                found = name
        if found is None:
            return None
        return AccessToken(token=token, client_id=found, scopes=[], subject=found)
