"""Remote mode's sign-in: named static tokens from the tenants file, and OAuth 2.1 access tokens (JWTs from
an issuer the test runs on 127.0.0.1), with the protected-resource metadata that tells clients where to go."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from heygen_video_mcp.server.sandbox import Sandbox

from .httpserver import HttpServer, connect, http_server, server_env
from .issuer import RESOURCE, Issuer, new_key, running_issuer
from .test_http import INITIALIZE, MCP_HEADERS
from .test_stdio import console_script

pytestmark = pytest.mark.anyio

ALICE = "alice-token-8c1d0e6b2f9a4735"
BOB = "bob-token-3f7a9e2c5d1b8064"


def tenants_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


TENANTS = f"""
[tenants.alice]
token = "{ALICE}"

[tenants.bob]
token = "{BOB}"
"""


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


@pytest.fixture
def oauth_server(sandbox: Sandbox, tmp_path: Path, issuer: Issuer) -> Iterator[HttpServer]:
    env = {
        "HEYGEN_MCP_TOKEN": "",
        "HEYGEN_MCP_ISSUER": issuer.url,
        "HEYGEN_MCP_JWKS_URL": issuer.jwks_url,
        "HEYGEN_MCP_RESOURCE_URL": RESOURCE,
    }
    with http_server(sandbox, tmp_path, **env) as server:
        yield server


def hs256(claims: dict[str, object], secret: bytes) -> str:
    """A token "signed" with HMAC over `secret` (pyjwt refuses to make one with a public key, as attackers do)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = (
        part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "key-1"}).encode())
        + "."
        + part(json.dumps(claims).encode())
    )
    return head + "." + part(hmac.new(secret, head.encode(), hashlib.sha256).digest())


async def status_of(server: HttpServer, token: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS | {"Authorization": f"Bearer {token}"})


async def test_each_named_token_signs_in(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    path = tenants_file(tmp_path, TENANTS)
    with http_server(sandbox, tmp_path, HEYGEN_MCP_TOKEN="", HEYGEN_MCP_TENANTS_FILE=str(path)) as server:
        for token in (ALICE, BOB):
            async with connect(server.url, mode, token=token) as client:
                assert (await client.call_tool("list_providers", {})).is_error is False
        assert (await status_of(server, "carol-token-0000000000000")).status_code == 401
    assert ALICE not in server.stderr() and BOB not in server.stderr()


@pytest.mark.parametrize(
    ("text", "mode", "problem"),
    [
        (TENANTS, 0o644, "chmod 600"),
        ('[tenants.alice]\ntoken = "short"\n', 0o600, "at least 16"),
        (f'[tenants.alice]\ntoken = "{ALICE}"\n[tenants.bob]\ntoken = "{ALICE}"\n', 0o600, "same token"),
        ('[tenants.alice]\ntokn = "x"\n', 0o600, "tokn"),
        ("[tenants.alice\n", 0o600, "not valid TOML"),
        ('[tenants.a]\noauth_subject = "x"\n[tenants.b]\noauth_subject = "x"\n', 0o600, "one tenant only"),
        ('[tenants.a]\noauth_subject = "x\\u0000"\n', 0o600, "printable"),
    ],
)
def test_a_bad_tenants_file_stops_the_start(
    sandbox: Sandbox, tmp_path: Path, text: str, mode: int, problem: str
) -> None:
    env = server_env(sandbox, tmp_path, HEYGEN_MCP_TENANTS_FILE=str(tenants_file(tmp_path, text, mode)))
    command = [console_script(), "serve", "--transport", "streamable-http", "--port", "0"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert problem in done.stderr and "HEYGEN_MCP_TENANTS_FILE" in done.stderr and ALICE not in done.stderr


async def test_protected_resource_metadata_names_the_issuer(oauth_server: HttpServer, issuer: Issuer) -> None:
    async with httpx2.AsyncClient() as http:
        refused = await http.post(oauth_server.url, json=INITIALIZE, headers=MCP_HEADERS)
        suffixed = await http.get(f"{oauth_server.base}/.well-known/oauth-protected-resource/mcp")
        bare = await http.get(f"{oauth_server.base}/.well-known/oauth-protected-resource")
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'resource_metadata="http://localhost:8000/.well-known/oauth-protected-resource/mcp"' in challenge
    for metadata in (suffixed, bare):
        assert metadata.status_code == 200
        assert metadata.json()["resource"] == RESOURCE
        assert [url.rstrip("/") for url in metadata.json()["authorization_servers"]] == [issuer.url]


async def test_an_access_token_from_the_issuer_signs_in(oauth_server: HttpServer, issuer: Issuer, mode: str) -> None:
    async with connect(oauth_server.url, mode, token=issuer.token("alice@example.com")) as client:
        assert (await client.call_tool("list_providers", {})).is_error is False


async def test_bad_access_tokens_are_refused(oauth_server: HttpServer, issuer: Issuer) -> None:
    public_pem = issuer.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    bad = {
        "expired": issuer.token("alice", exp=now - 3600, iat=now - 7200),
        "wrong issuer": issuer.token("alice", iss="https://evil.example"),
        "wrong audience": issuer.token("alice", aud="https://other.example/mcp"),
        "another key, same key id": issuer.token("alice", key=new_key()),
        "another key, unknown key id": issuer.token("alice", key=new_key(), kid="key-2"),
        "no subject": jwt.encode(
            {"iss": issuer.url, "aud": RESOURCE, "exp": now + 600},
            issuer.key,
            algorithm="RS256",
            headers={"kid": "key-1"},
        ),
        "HMAC with the public key": hs256(
            {"iss": issuer.url, "aud": RESOURCE, "sub": "alice", "exp": now + 600}, public_pem
        ),
        "not a token": "x.y.z",
    }
    for why, token in bad.items():
        answer = await status_of(oauth_server, token)
        assert answer.status_code == 401, why
        assert answer.headers["www-authenticate"].startswith("Bearer "), why
    assert (await status_of(oauth_server, issuer.token("alice"))).status_code == 200
