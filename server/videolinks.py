"""Saved videos over HTTP for remote callers, who cannot open a `file://` path on the server: short-lived
links signed with a server secret (HMAC-SHA256 over tenant, execution id and expiry), served with HTTP
Range so players can seek.

A link is a bearer credential, as a pre-signed storage URL is: a video player cannot send an MCP token, so
the signature is the only check. It binds the tenant (the file is looked up in that tenant's library
only), the video and the expiry; changing any of them breaks it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import os
import secrets
import stat
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import urlencode, urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.request import is_execution_id

logger = logging.getLogger(__name__)

SECRET_ENV: Final = "HEYGEN_MCP_URL_SECRET"  # noqa: S105 (the variable's name)
SECONDS_ENV: Final = "HEYGEN_MCP_URL_SECONDS"
PUBLIC_URL_ENV: Final = "HEYGEN_MCP_PUBLIC_URL"
DEFAULT_SECONDS: Final = 3600
MIN_SECRET_CHARS: Final = 32
PATH: Final = "/videos"

# (tenant, execution_id) -> the saved file, looked up in that tenant's library; None when it has none.
Lookup = Callable[[str, str], Awaitable[Path | None]]


class LinkConfigError(ValueError):
    pass


class VideoLinks:
    """Signs links to saved videos and serves them (`routes()`), for files under `root` only."""

    def __init__(
        self,
        secret: bytes,
        *,
        root: Path,
        lookup: Lookup,
        seconds: int = DEFAULT_SECONDS,
        public_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.public_url = public_url
        self._root = root.resolve()
        self._lookup = lookup
        self.seconds = seconds
        self._clock = clock

    def sign(self, base_url: str, tenant: str, execution_id: str) -> tuple[str, datetime]:
        """A link to this tenant's saved video, valid for `seconds`, under `base_url` (the server's URL as
        its callers reach it), and when it expires."""
        expires = math.ceil(self._clock() + self.seconds)
        query = urlencode({"tenant": tenant, "expires": expires, "sig": self._mac(tenant, execution_id, expires)})
        url = f"{base_url.rstrip('/')}{PATH}/{execution_id}.mp4?{query}"
        return url, datetime.fromtimestamp(expires, UTC)

    def _mac(self, tenant: str, execution_id: str, expires: int) -> str:
        # JSON keeps the three fields apart whatever characters a tenant id holds.
        message = json.dumps([tenant, execution_id, expires]).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def routes(self) -> list[Route]:
        return [Route(PATH + "/{name}", self._serve, methods=["GET", "HEAD"])]

    async def _serve(self, request: Request) -> Response:
        name, tenant = request.path_params["name"], request.query_params.get("tenant", "")
        execution_id = name.removesuffix(".mp4")
        expires_text = request.query_params.get("expires", "")
        signature = request.query_params.get("sig", "")
        if not (name.endswith(".mp4") and is_execution_id(execution_id)):
            return _refuse(404, "Not found: there is no video at this address.")
        expires = int(expires_text) if expires_text.isascii() and expires_text.isdigit() else -1
        if expires < 0 or not hmac.compare_digest(signature, self._mac(tenant, execution_id, expires)):
            return _refuse(
                403,
                "This video link is not valid: it was changed, or it was signed by another server. Ask the "
                f"assistant for a new one (check_status with execution_id {execution_id} gives a fresh link).",
            )
        left = expires - self._clock()
        if left <= 0:
            when = datetime.fromtimestamp(expires, UTC).isoformat(timespec="seconds")
            return _refuse(
                403,
                f"This video link expired at {when}. Ask the assistant for a new one (check_status with "
                f"execution_id {execution_id} gives a fresh link).",
            )
        found = await self._lookup(tenant, execution_id)
        saved = await anyio.to_thread.run_sync(self._inside_root, found) if found else None
        if saved is None:
            return _refuse(404, f"Video {execution_id} is not saved on this server (any more).")
        path, status = saved
        return FileResponse(
            path,
            media_type="video/mp4",
            stat_result=status,
            filename=f"{execution_id}.mp4",
            content_disposition_type="inline",
            headers={"Cache-Control": f"private, max-age={int(left)}", "X-Content-Type-Options": "nosniff"},
        )

    def _inside_root(self, path: Path) -> tuple[Path, os.stat_result] | None:
        """The regular file at `path` if it lies under the video folder (links included, resolved); a
        library row pointing anywhere else is never served."""
        try:
            resolved = path.resolve(strict=True)
            status = resolved.stat()
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self._root) or not stat.S_ISREG(status.st_mode):
            return None
        return resolved, status


def _refuse(status: int, message: str) -> Response:
    return PlainTextResponse(message, status_code=status, headers={"Cache-Control": "no-store"})


def library_lookup(library: Library) -> Lookup:
    """Finds a saved video in the tenant's own view of `library`."""

    async def lookup(tenant: str, execution_id: str) -> Path | None:
        job = await library.for_tenant(tenant).get(execution_id=execution_id)
        return Path(job.local_path) if job and job.local_path else None

    return lookup


def links_from_env(environ: Mapping[str, str], *, root: Path, lookup: Lookup) -> VideoLinks:
    """VideoLinks with the secret, lifetime and public URL the environment gives; without a secret, one made
    now. Without a public URL, links use the address each caller reached the server at."""
    text = environ.get(SECRET_ENV, "").strip()
    if text and len(text) < MIN_SECRET_CHARS:
        raise LinkConfigError(
            f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters; make one with "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not text:
        logger.warning(
            "%s is not set: video links are signed with a secret made at start, so they stop working when this "
            "server restarts, and other replicas refuse them. Set the same %s on every replica.",
            SECRET_ENV,
            SECRET_ENV,
        )
    secret = text.encode() if text else secrets.token_bytes(32)
    seconds_text = environ.get(SECONDS_ENV, "").strip() or str(DEFAULT_SECONDS)
    if not (seconds_text.isascii() and seconds_text.isdigit() and 60 <= int(seconds_text) <= 7 * 86400):
        raise LinkConfigError(
            f"{SECONDS_ENV} must be a whole number of seconds from 60 to 604800, not {seconds_text[:20]!r}"
        )
    public_url = environ.get(PUBLIC_URL_ENV, "").strip().rstrip("/") or None
    if public_url and (urlsplit(public_url).scheme not in ("http", "https") or not urlsplit(public_url).netloc):
        raise LinkConfigError(f"{PUBLIC_URL_ENV} must be the server's http:// or https:// address, not {public_url!r}")
    return VideoLinks(secret, root=root, lookup=lookup, seconds=int(seconds_text), public_url=public_url)
