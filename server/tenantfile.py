"""The tenants file (HEYGEN_MCP_TENANTS_FILE): one TOML table per tenant, with its bearer token, its HeyGen
key and its daily render budget, all optional:

    [tenants.alice]
    token = "..."              # a static bearer token that signs in as alice
    heygen_api_key = "..."     # the HeyGen key alice's videos are made (and paid) with
    daily_renders = 20         # at most this many generate_video submissions per UTC day
    oauth_subject = "..."      # the OAuth access tokens with this `sub` sign in as alice

A file rather than variables: the secrets stay out of the environment (which child processes, crash
reports and `ps e` can see), each tenant's settings sit together, and the file's permissions are checked.
Static tenant names and OAuth subjects are separate: a tenant signed in with an OAuth access token is
"oauth/" + its `sub` (no static name holds a "/"), unless a table maps that `sub` with oauth_subject."""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError

from heygen_video_mcp.server.config import ConfigError

TENANT_NAME: Final = re.compile(r"[A-Za-z0-9._@|:-]{1,128}")
MIN_TOKEN_CHARS: Final = 16


def _strong(token: SecretStr) -> SecretStr:
    secret = token.get_secret_value()
    if len(secret) < MIN_TOKEN_CHARS or not (secret.isascii() and secret.isprintable()) or " " in secret:
        raise ValueError(
            f"must be at least {MIN_TOKEN_CHARS} printable ASCII characters without spaces; make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


# A bearer token a caller signs in with: long enough not to be guessed, and sendable in a header.
Token = Annotated[SecretStr, AfterValidator(_strong)]


class Tenant(BaseModel, frozen=True):
    model_config = ConfigDict(extra="forbid")

    token: Token | None = None
    heygen_api_key: SecretStr | None = None
    daily_renders: int | None = Field(None, ge=0)
    oauth_subject: str | None = Field(None, min_length=1, max_length=1024)


class TenantsFile(BaseModel, frozen=True):
    model_config = ConfigDict(extra="forbid")

    tenants: dict[str, Tenant] = {}


def load_tenants(path: Path) -> dict[str, Tenant]:
    """The tenants in `path`; ConfigError (naming the file, never a secret) if it cannot be used."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"HEYGEN_MCP_TENANTS_FILE {path} holds secrets but others can read it; chmod 600 it")
        parsed = TenantsFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise ConfigError(f"HEYGEN_MCP_TENANTS_FILE {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"HEYGEN_MCP_TENANTS_FILE {path} is not valid TOML: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"HEYGEN_MCP_TENANTS_FILE {path}: {problems}") from None
    bad = [name for name in parsed.tenants if not TENANT_NAME.fullmatch(name)]
    if bad:
        raise ConfigError(
            f"HEYGEN_MCP_TENANTS_FILE {path}: tenant names are 1-128 letters, digits or ._@|:- ; not {bad[0][:40]!r}"
        )
    subjects = [t.oauth_subject for t in parsed.tenants.values() if t.oauth_subject is not None]
    if len(set(subjects)) != len(subjects) or not all(s.isprintable() for s in subjects):
        raise ConfigError(
            f"HEYGEN_MCP_TENANTS_FILE {path}: each oauth_subject must be printable and map to one tenant only"
        )
    tokens = [t.token.get_secret_value() for t in parsed.tenants.values() if t.token is not None]
    if len(set(tokens)) != len(tokens):
        raise ConfigError(f"HEYGEN_MCP_TENANTS_FILE {path}: two tenants have the same token; give each its own")
    return parsed.tenants
