"""Remote mode's tenants over real HTTP: each signed-in caller sees and touches only its own videos, works
with its own HeyGen key, and stays within its daily render budget."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path

import httpx2
import pytest
from mcp.shared.exceptions import MCPError

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, data_of, text_of
from .httpserver import HttpServer, connect, http_server
from .issuer import RESOURCE, running_issuer
from .test_http import INITIALIZE, MCP_HEADERS
from .test_http_auth import ALICE, BOB, tenants_file

pytestmark = pytest.mark.anyio

CAROL = "carol-token-6e0b4d2a9c7f1358"


def tenants(**tables: Mapping[str, object]) -> str:
    """A tenants file's text: one table per tenant."""
    return "\n".join(
        f'[tenants."{name}"]\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
        for name, fields in tables.items()
    )


def serve_tenants(sandbox: Sandbox, tmp_path: Path, text: str, **env: str) -> AbstractContextManager[HttpServer]:
    path = tenants_file(tmp_path, text)
    return http_server(sandbox, tmp_path, HEYGEN_MCP_TENANTS_FILE=str(path), HEYGEN_API_KEY="", **env)


async def test_a_tenant_never_sees_or_touches_anothers_video(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    text = tenants(alice={"token": ALICE, "heygen_api_key": API_KEY}, bob={"token": BOB})
    env = {"HEYGEN_ALLOW_CALLER_KEYS": "true"}
    with serve_tenants(sandbox, tmp_path, text, **env) as server:
        async with connect(server.url, mode, token=ALICE) as alice:
            job = data_of(await alice.call_tool("generate_video", {"prompt": "Lanterns drifting over a lake"}))
            execution_id = job["execution_id"]
            video = data_of(await alice.call_tool("wait_for_video", {"execution_id": execution_id}))
            assert video["status"] == "completed"
            # Her video comes as a link signed for her; with another tenant's name in it, it is refused. The file
            # is in alice's folder on the server.
            assert "local_path" not in video and "tenant=alice&" in video["video_link"]
            assert list((tmp_path / "videos" / "alice").glob("*.mp4"))
            async with httpx2.AsyncClient() as http:
                assert (await http.get(video["video_link"])).content == sandbox.video_bytes(video["video_id"])
                borrowed = await http.get(video["video_link"].replace("tenant=alice&", "tenant=bob&"))
                assert borrowed.status_code == 403
        reads = len(sandbox.status_reads(execution_id))

        # bob brings his own key (the same sandbox account): still, alice's job is not his.
        async with connect(server.url, mode, token=BOB, **{"X-HeyGen-Api-Key": API_KEY}) as bob:
            assert data_of(await bob.call_tool("list_videos", {}))["count"] == 0
            for tool, extra in (
                ("check_status", {}),
                ("wait_for_video", {"max_wait_seconds": 2}),
                ("download_video", {}),
            ):
                result = await bob.call_tool(tool, {"execution_id": execution_id, **extra})
                assert result.is_error, (tool, text_of(result))
                assert "not_found" in text_of(result) or "does not know" in text_of(result), (tool, text_of(result))
                assert "Lanterns" not in text_of(result)
            with pytest.raises(MCPError, match=execution_id):
                await bob.read_resource(f"heygen://videos/{execution_id}")
            listing = await bob.read_resource("heygen://videos")
            assert execution_id not in getattr(listing.contents[0], "text", "")
            assert data_of(await bob.call_tool("list_videos", {"query": execution_id}))["count"] == 0
        assert len(sandbox.status_reads(execution_id)) == reads  # HeyGen was never asked on bob's behalf

        async with connect(server.url, mode, token=ALICE) as alice:
            listing = await alice.read_resource("heygen://videos")
            assert execution_id in getattr(listing.contents[0], "text", "")
    assert API_KEY not in server.stderr()


async def test_a_tenant_without_a_key_is_told_and_sends_nothing(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    text = tenants(carol={"token": CAROL})
    with serve_tenants(sandbox, tmp_path, text) as server:
        creates = sandbox.count("create")
        # Caller keys are off by default: the header is not used.
        async with connect(server.url, mode, token=CAROL, **{"X-HeyGen-Api-Key": API_KEY}) as carol:
            result = await carol.call_tool("generate_video", {"prompt": "A paper boat in the rain"})
            assert result.is_error and "No HeyGen API key is set up for your account ('carol')" in text_of(result)
            assert API_KEY not in text_of(result)
            assert not (await carol.call_tool("list_providers", {})).is_error
    assert sandbox.count("create") == creates


async def test_the_daily_budget_refuses_before_sending(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    text = tenants(
        alice={"token": ALICE, "heygen_api_key": API_KEY},
        bob={"token": BOB, "heygen_api_key": API_KEY, "daily_renders": 2},
    )
    with serve_tenants(sandbox, tmp_path, text, HEYGEN_TENANT_DAILY_RENDERS="1") as server:
        async with connect(server.url, mode, token=ALICE) as alice, connect(server.url, mode, token=BOB) as bob:
            assert not (await alice.call_tool("generate_video", {"prompt": "A red kite over dunes"})).is_error
            creates = sandbox.count("create")
            refused = await alice.call_tool("generate_video", {"prompt": "A blue kite over dunes"})
            assert refused.is_error and "daily budget on this server is 1 new video" in text_of(refused)
            assert "Nothing was sent" in text_of(refused)
            assert sandbox.count("create") == creates
            # bob's own budget (2 in the file) is his alone: alice's use does not count against it.
            for prompt in ("A green kite over dunes", "A gold kite over dunes"):
                assert not (await bob.call_tool("generate_video", {"prompt": prompt})).is_error
            assert (await bob.call_tool("generate_video", {"prompt": "A grey kite over dunes"})).is_error


async def test_an_access_tokens_mapped_subject_is_its_tenant(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    text = tenants(alice={"heygen_api_key": API_KEY, "oauth_subject": "alice@example.com"})
    with running_issuer() as issuer:
        env = {
            "HEYGEN_MCP_TOKEN": "",
            "HEYGEN_MCP_ISSUER": issuer.url,
            "HEYGEN_MCP_JWKS_URL": issuer.jwks_url,
            "HEYGEN_MCP_RESOURCE_URL": RESOURCE,
            "HEYGEN_ALLOW_CALLER_KEYS": "true",
        }
        with serve_tenants(sandbox, tmp_path, text, **env) as server:
            async with connect(server.url, mode, token=issuer.token("alice@example.com")) as alice:
                job = data_of(await alice.call_tool("generate_video", {"prompt": "Snow on a quiet station"}))
            # A subject is not a path: its videos stay inside the output folder.
            escape = {"X-HeyGen-Api-Key": API_KEY}
            async with connect(server.url, mode, token=issuer.token("../../escape"), **escape) as odd:
                made = data_of(await odd.call_tool("generate_video", {"prompt": "A lighthouse at dusk"}))
                video = data_of(await odd.call_tool("wait_for_video", {"execution_id": made["execution_id"]}))
                saved = list(tmp_path.rglob("*.mp4"))
                assert saved and all(p.resolve().is_relative_to((tmp_path / "videos").resolve()) for p in saved)
                async with httpx2.AsyncClient() as http:
                    assert (await http.get(video["video_link"])).status_code == 200
            async with connect(server.url, mode, token=issuer.token("mallory@example.com")) as mallory:
                result = await mallory.call_tool("check_status", {"execution_id": job["execution_id"]})
                assert result.is_error and "Snow" not in text_of(result)
                assert data_of(await mallory.call_tool("list_videos", {}))["count"] == 0


async def test_a_session_cannot_be_borrowed_by_another_tenant(sandbox: Sandbox, tmp_path: Path) -> None:
    text = tenants(alice={"token": ALICE}, bob={"token": BOB})
    with serve_tenants(sandbox, tmp_path, text) as server:
        async with httpx2.AsyncClient() as http:
            as_alice = MCP_HEADERS | {"Authorization": f"Bearer {ALICE}"}
            opened = await http.post(server.url, json=INITIALIZE, headers=as_alice)
            session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "MCP-Protocol-Version": "2025-11-25"}
            listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            borrowed = await http.post(
                server.url, json=listing, headers=MCP_HEADERS | session | {"Authorization": f"Bearer {BOB}"}
            )
            own = await http.post(server.url, json=listing, headers=as_alice | session)
    assert borrowed.status_code == 404
    assert own.status_code == 200
