"""Settings, read from the environment. Only HEYGEN_API_KEY matters to most users, and even it is optional
at start-up: without it the server still lists providers and explains how to add the key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator

from heygen_video_mcp.server.folders import default_output_dir
from heygen_video_mcp.tools.download import DEFAULT_MAX_BYTES
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.timing import CALL_CAP_SECONDS, CALL_SECONDS, POLL_SECONDS, WAIT_CAP_SECONDS, WAIT_SECONDS

DEFAULT_BASE_URL: Final = "https://api.heygen.com"


class Settings(BaseModel, frozen=True):
    api_key: SecretStr | None = None
    api_base_url: str = DEFAULT_BASE_URL
    poll_interval: float = Field(POLL_SECONDS, gt=0, le=60)
    wait_seconds: float = Field(WAIT_SECONDS, gt=0, le=WAIT_CAP_SECONDS)
    call_seconds: float = Field(CALL_SECONDS, ge=5, le=CALL_CAP_SECONDS)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_retries: int = Field(3, ge=0, le=10)
    output_dir: Path = Field(default_factory=default_output_dir)
    library_path: Path | None = None
    # The library in PostgreSQL instead (remote mode, shared by replicas). A secret: it may hold a password.
    database_url: SecretStr | None = None
    library_lock_seconds: float = Field(10.0, gt=0, le=300)
    download: bool = True
    duplicate_window: float = Field(600.0, ge=0)
    not_found_grace: float = Field(120.0, ge=0, le=3600)
    # A Video Agent session still "thinking", with no video, this long after its creation is stuck (HeyGen's
    # own plugin gives up after 8 polls, ~40 s; a first look comes later here, so the bound is wider).
    agent_thinking_seconds: float = Field(120.0, gt=0, le=3600)
    # HeyGen publishes no rate limit for status reads. 50 a second covers some 300 renders followed at once
    # at the adaptive schedule's ~10 reads per job-minute, and keeps a busy server from bursting into 429s.
    max_reads_per_second: float = Field(50.0, gt=0, le=1000)
    max_video_bytes: int = Field(DEFAULT_MAX_BYTES, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # A task-run submission estimated above this many US dollars asks the user first (server/tasks.py).
    confirm_above_usd: float | None = Field(None, ge=0)

    @field_validator("api_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an http:// or https:// URL such as {DEFAULT_BASE_URL}, not {value[:60]!r}")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats the value: it may carry a password.
        scheme = urlsplit(value.get_secret_value()).scheme if value is not None else "postgresql"
        if scheme not in ("postgresql", "postgres"):
            raise ValueError(
                "must be a postgresql:// URL such as postgresql://user:password@db.example.com:5432/heygen"
            )
        return value

    @field_validator("api_key")
    @classmethod
    def _header_safe(cls, value: SecretStr | None) -> SecretStr | None:
        # The key travels as an HTTP header: a pasted newline or a non-ASCII character could never be sent.
        secret = value.get_secret_value() if value is not None else ""
        if secret and not (secret.isascii() and secret.isprintable()):
            raise ValueError("contains a line break or a character that is not plain ASCII; paste the key again")
        return value

    @property
    def library_file(self) -> Path:
        return self.library_path or self.output_dir / "heygen-library.sqlite3"

    def library(self) -> Library:
        """The SQLite file, or the PostgreSQL database when database_url is set."""
        if self.database_url is not None:
            return Library.postgres(self.database_url.get_secret_value(), lock_timeout=self.library_lock_seconds)
        return Library(self.library_file, lock_timeout=self.library_lock_seconds)


# Environment variable -> setting. Documented in the README's configuration table.
ENV: Final[dict[str, str]] = {
    "HEYGEN_API_KEY": "api_key",
    "HEYGEN_API_BASE_URL": "api_base_url",
    "HEYGEN_POLL_INTERVAL": "poll_interval",
    "HEYGEN_WAIT_SECONDS": "wait_seconds",
    "HEYGEN_CALL_SECONDS": "call_seconds",
    "HEYGEN_CONNECT_TIMEOUT": "connect_timeout",
    "HEYGEN_READ_TIMEOUT": "read_timeout",
    "HEYGEN_MAX_RETRIES": "max_retries",
    "HEYGEN_OUTPUT_DIR": "output_dir",
    "HEYGEN_LIBRARY_PATH": "library_path",
    "HEYGEN_DATABASE_URL": "database_url",
    "HEYGEN_LIBRARY_LOCK_SECONDS": "library_lock_seconds",
    "HEYGEN_DOWNLOAD": "download",
    "HEYGEN_DUPLICATE_WINDOW_SECONDS": "duplicate_window",
    "HEYGEN_NOT_FOUND_GRACE_SECONDS": "not_found_grace",
    "HEYGEN_AGENT_THINKING_SECONDS": "agent_thinking_seconds",
    "HEYGEN_MAX_READS_PER_SECOND": "max_reads_per_second",
    "HEYGEN_MAX_VIDEO_BYTES": "max_video_bytes",
    "HEYGEN_LOG_LEVEL": "log_level",
    "HEYGEN_CONFIRM_ABOVE_USD": "confirm_above_usd",
}


M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    pass


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    return model_from_env(Settings, ENV, environ)


def model_from_env(model: type[M], env: Mapping[str, str], environ: Mapping[str, str] | None = None) -> M:
    """`model` from the variables `env` maps to its fields; a ConfigError names every bad variable."""
    environ = os.environ if environ is None else environ
    values = {field: environ[name].strip() for name, field in env.items() if environ.get(name, "").strip()}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        names = {field: name for name, field in env.items()}
        problems = "; ".join(
            f"{names.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors()
        )
        raise ConfigError(f"Invalid configuration: {problems}") from None
