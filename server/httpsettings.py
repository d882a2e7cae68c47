"""Settings of the remote (streamable HTTP) mode, read from the environment like the rest (server/config.py);
`serve --host/--port` override the address."""

from __future__ import annotations

import ipaddress
import os
from typing import Final

from pydantic import BaseModel, Field, SecretStr, field_validator

from heygen_video_mcp.server.config import model_from_env

LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "::1")
# Enough for any tool call this server takes (prompts are at most a few thousand characters).
DEFAULT_MAX_BODY: Final = 256 * 1024
MIN_TOKEN_CHARS: Final = 16


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpSettings(BaseModel, frozen=True):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    token: SecretStr | None = None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = Field(DEFAULT_MAX_BODY, ge=1024, le=64 * 1024 * 1024)

    @field_validator("allowed_hosts", "allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return tuple(part.strip() for part in value.split(",") if part.strip()) if isinstance(value, str) else value

    @field_validator("token")
    @classmethod
    def _long_random(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if len(secret) < MIN_TOKEN_CHARS or not (secret.isascii() and secret.isprintable()) or " " in secret:
            raise ValueError(
                f"must be at least {MIN_TOKEN_CHARS} printable ASCII characters without spaces; make one with "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value

    @property
    def authenticates(self) -> bool:
        return self.token is not None


# Environment variable -> setting. Documented in the README's "Remote mode" section.
HTTP_ENV: Final[dict[str, str]] = {
    "HEYGEN_MCP_HOST": "host",
    "HEYGEN_MCP_PORT": "port",
    "HEYGEN_MCP_TOKEN": "token",
    "HEYGEN_MCP_ALLOWED_HOSTS": "allowed_hosts",
    "HEYGEN_MCP_ALLOWED_ORIGINS": "allowed_origins",
    "HEYGEN_MCP_MAX_BODY_BYTES": "max_body_bytes",
}


def http_settings_from_env(*, host: str | None = None, port: int | None = None) -> HttpSettings:
    """The settings from the environment; the command line's --host and --port, when given, win."""
    given = {"HEYGEN_MCP_HOST": host, "HEYGEN_MCP_PORT": None if port is None else str(port)}
    return model_from_env(HttpSettings, HTTP_ENV, os.environ | {k: v for k, v in given.items() if v is not None})
