"""Who is calling: bearer tokens checked through the MCP SDK's token-verifier hook. The caller's tenant is
the static token's name, or for an OAuth access token the tenant the tenants file maps its subject (`sub`)
to, else "oauth/" + the subject: a namespace of its own, since no static name holds a "/"; see
tools/tenancy.py."""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import anyio
import httpx2
from mcp.server.auth.provider import AccessToken, TokenVerifier

if TYPE_CHECKING:
    from jwt import PyJWK

# Asymmetric algorithms only: a token signed with the public key as an HMAC secret, or with "none", never passes.
ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
OAUTH_TENANT_PREFIX: Final = "oauth/"  # an OAuth subject's tenant, unless the tenants file maps it
LEEWAY_SECONDS: Final = 30  # clock skew between this server and the issuer
JWKS_REFETCH_SECONDS: Final = 30.0  # a key the cache lacks is looked up again at most this often
JWKS_MAX_BYTES: Final = 256 * 1024

logger = logging.getLogger(__name__)


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


class JwtAccessTokens:
    """OAuth 2.1 access tokens as JWTs (RFC 9068): signed by a key the issuer publishes at `jwks_url`, from
    `issuer`, for `audience` (this server), not expired, with a subject. The keys are fetched on first use
    and again when a token names a key id not yet seen: a rotated key works at once, and tokens naming keys
    nobody publishes cost at most one fetch every JWKS_REFETCH_SECONDS. (The first load does not count, so
    a rotation soon after the server's first sign-in works at once too.)"""

    def __init__(self, *, issuer: str, jwks_url: str, audience: str, subjects: Mapping[str, str] | None = None) -> None:
        self.issuer = issuer
        self.subjects = dict(subjects or {})  # subject -> tenant, from the tenants file's oauth_subject
        self.jwks_url = jwks_url
        self.audience = audience
        self._keys: dict[str | None, PyJWK] = {}
        self._loaded = False
        self._refetched_at = -math.inf  # no refetch yet
        self._lock = anyio.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            return None  # not a JWT (a static token, or garbage)
        if header.get("alg") not in ALGORITHMS:
            logger.info("refused an access token signed with %r", str(header.get("alg"))[:20])
            return None
        key = await self._key(header.get("kid"))
        if key is None:
            logger.info("refused an access token signed with a key %s does not publish", self.jwks_url)
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[header["alg"]],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as exc:
            logger.info("refused an access token: %s", exc)
            return None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            logger.info("refused an access token without a subject")
            return None
        if not subject.isprintable():  # NUL, newlines, escapes: never a tenant, a log line or a folder name
            logger.info("refused an access token whose subject holds control characters")
            return None
        scope = claims.get("scope")
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id") or claims.get("azp") or subject),
            scopes=scope.split() if isinstance(scope, str) else [],
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=self.subjects.get(subject, OAUTH_TENANT_PREFIX + subject),
            claims={"iss": claims["iss"]},
        )

    async def _key(self, kid: str | None) -> PyJWK | None:
        async with self._lock:
            now = anyio.current_time()
            if kid in self._keys or now - self._refetched_at < JWKS_REFETCH_SECONDS:
                return self._keys.get(kid)
            first = not self._loaded
            try:
                self._keys, self._loaded = await self._fetch(), True
            except (httpx2.HTTPError, ValueError) as exc:
                logger.warning("could not read the issuer's keys at %s: %s", self.jwks_url, exc)
                first = False  # an issuer that cannot be read is asked again no sooner than a refetch
            if not first:
                self._refetched_at = now
            return self._keys.get(kid)

    async def _fetch(self) -> dict[str | None, PyJWK]:
        from jwt import PyJWKSet
        from jwt.exceptions import PyJWKSetError

        async with httpx2.AsyncClient(timeout=httpx2.Timeout(5.0), follow_redirects=False) as http:
            response = await http.get(self.jwks_url, headers={"Accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > JWKS_MAX_BYTES:
            raise ValueError(f"the key set is over {JWKS_MAX_BYTES} bytes")
        try:
            keys = PyJWKSet.from_dict(json.loads(response.content)).keys
        except (PyJWKSetError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a JSON Web Key Set ({exc})") from None
        return {key.key_id: key for key in keys}


class AnyOf:
    """The first verifier that accepts the token decides (static tokens are checked before JWTs)."""

    def __init__(self, verifiers: Sequence[TokenVerifier]) -> None:
        self._verifiers = list(verifiers)

    async def verify_token(self, token: str) -> AccessToken | None:
        for verifier in self._verifiers:
            accepted = await verifier.verify_token(token)
            if accepted is not None:
                return accepted
        return None
