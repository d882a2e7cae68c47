"""Settings of the remote (streamable HTTP) mode, read from the environment like the rest (server/config.py);
`serve --host/--port` override the address."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from heygen_video_mcp.server.config import model_from_env
from heygen_video_mcp.server.tenantfile import Token
from heygen_video_mcp.tools.publichost import is_loopback_host

# Enough for any tool call this server takes (prompts are at most a few thousand characters).
DEFAULT_MAX_BODY: Final = 256 * 1024


class HttpSettings(BaseModel, frozen=True):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: Token | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, ge=1024, le=64 * 1024 * 1024)
    tenants_file: Path | None = None
    # OAuth 2.1 resource server: access tokens are JWTs from `issuer`, signed with a key of `jwks_url`,
    # for the audience `resource_url` (this server's /mcp as clients reach it).
    issuer: str | None = None
    jwks_url: str | None = None
    resource_url: str | None = None
    allow_caller_keys: bool = False
    share_server_key: bool = False
    max_sessions_per_tenant: int = Field(100, ge=1)
    tenant_daily_renders: int | None = Field(None, ge=0)

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("issuer", "jwks_url", "resource_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        # Keys and tokens are trusted from these: plain http only on this machine.
        if value is None:
            return None
        parts = urlsplit(value)
        if not parts.netloc or not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))
        ):
            raise ValueError(f"must be an https:// URL (http:// only for localhost), not {value[:80]!r}")
        return value

    @model_validator(mode="after")
    def _oauth_complete(self) -> HttpSettings:
        given = [self.issuer, self.jwks_url, self.resource_url]
        if any(given) and not all(given):
            raise ValueError(
                "OAuth needs all three of HEYGEN_MCP_ISSUER, HEYGEN_MCP_JWKS_URL and HEYGEN_MCP_RESOURCE_URL"
            )
        return self


# Environment variable -> setting. Documented in the README's "Remote mode" section.
HTTP_ENV: Final[dict[str, str]] = {
    "HEYGEN_MCP_HOST": "host",
    "HEYGEN_MCP_PORT": "port",
    "HEYGEN_MCP_TOKEN": "token",
    "HEYGEN_MCP_ALLOWED_HOSTS": "allowed_hosts",
    "HEYGEN_MCP_ALLOWED_ORIGINS": "allowed_origins",
    "HEYGEN_MCP_MAX_BODY_BYTES": "max_body_bytes",
    "HEYGEN_MCP_TENANTS_FILE": "tenants_file",
    "HEYGEN_MCP_ISSUER": "issuer",
    "HEYGEN_MCP_JWKS_URL": "jwks_url",
    "HEYGEN_MCP_RESOURCE_URL": "resource_url",
    "HEYGEN_ALLOW_CALLER_KEYS": "allow_caller_keys",
    "HEYGEN_SHARE_SERVER_KEY": "share_server_key",
    "HEYGEN_MCP_MAX_SESSIONS_PER_TENANT": "max_sessions_per_tenant",
    "HEYGEN_TENANT_DAILY_RENDERS": "tenant_daily_renders",
}


def http_settings_from_env(*, host: str | None = None, port: int | None = None) -> HttpSettings:
    """The settings from the environment; the command line's --host and --port, when given, win."""
    given = {"HEYGEN_MCP_HOST": host, "HEYGEN_MCP_PORT": None if port is None else str(port)}
    return model_from_env(HttpSettings, HTTP_ENV, os.environ | {k: v for k, v in given.items() if v is not None})
