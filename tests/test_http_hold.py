"""Remote mode holding up under many callers, keys and sessions, over real HTTP to the real server process:
caller keys in bounded memory, a session cap per tenant, separate namespaces for static tenants and OAuth
subjects, a rotated signing key, and a server key shared with signed-in tenants."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx2
import pytest

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, data_of, text_of
from .httpserver import HttpServer, connect, http_server
from .issuer import RESOURCE, Issuer, running_issuer
from .test_http import INITIALIZE, MCP_HEADERS
from .test_http_auth import ALICE, BOB, status_of, tenants_file
from .test_http_tenants import CAROL, serve_tenants, tenants

pytestmark = pytest.mark.anyio


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def refused_keys(server: HttpServer, token: str, count: int) -> list[str]:
    """generate_video with `count` distinct caller keys HeyGen does not know; the texts of the answers."""
    answers: list[str] = []
    limit = anyio.CapacityLimiter(8)

    async def one() -> None:
        async with limit, connect(server.url, "auto", token=token, **{"X-HeyGen-Api-Key": secrets.token_hex(16)}) as c:
            answers.append(text_of(await c.call_tool("generate_video", {"prompt": "A kite over dunes"})))

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    return answers


async def test_many_caller_keys_hold_bounded_memory(sandbox: Sandbox, tmp_path: Path) -> None:
    with serve_tenants(sandbox, tmp_path, tenants(carol={"token": CAROL}), HEYGEN_ALLOW_CALLER_KEYS="true") as server:
        await refused_keys(server, CAROL, 20)  # warm: the HTTP client, the library, the code paths
        before = rss_mb(server.process.pid)
        answers = await refused_keys(server, CAROL, 300)
        grown = rss_mb(server.process.pid) - before
    assert len(answers) == 300 and all("HeyGen rejected" in answer for answer in answers)
    assert grown < 30, f"300 caller keys grew the server by {grown:.0f} MB"


async def test_a_rejected_caller_key_is_named_as_the_callers(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    wrong = "wrong-key-" + secrets.token_hex(8)
    with serve_tenants(sandbox, tmp_path, tenants(carol={"token": CAROL}), HEYGEN_ALLOW_CALLER_KEYS="true") as server:
        async with connect(server.url, mode, token=CAROL, **{"X-HeyGen-Api-Key": wrong}) as carol:
            said = text_of(await carol.call_tool("generate_video", {"prompt": "A kite over dunes"}))
    assert "HeyGen rejected the API key" in said and "X-HeyGen-Api-Key" in said
    assert "HEYGEN_API_KEY" not in said and wrong not in said and wrong not in server.stderr()


async def open_session(http: httpx2.AsyncClient, server: HttpServer, token: str) -> httpx2.Response:
    return await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS | {"Authorization": f"Bearer {token}"})


async def session_alive(http: httpx2.AsyncClient, server: HttpServer, token: str, session: str) -> bool:
    headers = MCP_HEADERS | {
        "Authorization": f"Bearer {token}",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": "2025-11-25",
    }
    answer = await http.post(server.url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, headers=headers)
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


async def test_a_tenant_at_its_session_cap_loses_its_own_idle_sessions(sandbox: Sandbox, tmp_path: Path) -> None:
    text = tenants(alice={"token": ALICE}, bob={"token": BOB})
    with serve_tenants(sandbox, tmp_path, text, HEYGEN_MCP_MAX_SESSIONS_PER_TENANT="3") as server:
        async with httpx2.AsyncClient(timeout=30) as http:
            bobs = (await open_session(http, server, BOB)).headers["mcp-session-id"]
            first, second, third = [(await open_session(http, server, ALICE)).headers["mcp-session-id"] for _ in "123"]
            assert await session_alive(http, server, ALICE, first)  # now `second` is the least recently used
            fourth = await open_session(http, server, ALICE)
            assert fourth.status_code == 200
            assert not await session_alive(http, server, ALICE, second)
            for kept in (first, third, fourth.headers["mcp-session-id"]):
                assert await session_alive(http, server, ALICE, kept)
            # bob's session and bob's new ones are his own business.
            assert await session_alive(http, server, BOB, bobs)
            assert (await open_session(http, server, BOB)).status_code == 200


async def test_past_the_session_cap_a_busy_tenant_is_told_the_limit(tmp_path: Path) -> None:
    text = tenants(alice={"token": ALICE, "heygen_api_key": API_KEY}, bob={"token": BOB})
    # Renders slow enough that a wait_for_video keeps its session busy while the test looks.
    with (
        Sandbox(api_key=API_KEY, render_seconds=120, submitted_seconds=0.1) as slow,
        serve_tenants(slow, tmp_path, text, HEYGEN_MCP_MAX_SESSIONS_PER_TENANT="2") as server,
    ):
        async with anyio.create_task_group() as group:
            waiting = 0
            all_waiting = anyio.Event()

            async def wait_in_a_session(prompt: str) -> None:
                nonlocal waiting
                async with connect(server.url, "legacy", token=ALICE) as alice:
                    job = data_of(await alice.call_tool("generate_video", {"prompt": prompt}))
                    waiting += 1
                    if waiting == 2:
                        all_waiting.set()
                    await alice.call_tool("wait_for_video", {"execution_id": job["execution_id"]})

            group.start_soon(wait_in_a_session, "A slow tide")
            group.start_soon(wait_in_a_session, "A slow moon")
            await all_waiting.wait()
            await anyio.sleep(0.3)  # both wait_for_video calls are in flight
            async with httpx2.AsyncClient(timeout=30) as http:
                refused = await open_session(http, server, ALICE)
                bobs = await open_session(http, server, BOB)
            group.cancel_scope.cancel()
    assert refused.status_code == 503
    assert "HEYGEN_MCP_MAX_SESSIONS_PER_TENANT" in refused.text and "2" in refused.text
    assert bobs.status_code == 200


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with running_issuer() as running:
        yield running


def oauth_env(issuer: Issuer) -> dict[str, str]:
    return {
        "HEYGEN_MCP_TOKEN": "",
        "HEYGEN_MCP_ISSUER": issuer.url,
        "HEYGEN_MCP_JWKS_URL": issuer.jwks_url,
        "HEYGEN_MCP_RESOURCE_URL": RESOURCE,
    }


async def test_oauth_subjects_are_not_static_tenants_unless_mapped(
    sandbox: Sandbox, tmp_path: Path, issuer: Issuer, mode: str
) -> None:
    text = tenants(
        alice={"token": ALICE, "heygen_api_key": API_KEY},
        bob={"token": BOB, "heygen_api_key": API_KEY, "oauth_subject": "bob@example.com"},
    )
    with serve_tenants(sandbox, tmp_path, text, **oauth_env(issuer)) as server:
        async with connect(server.url, mode, token=ALICE) as alice:
            made = data_of(await alice.call_tool("generate_video", {"prompt": "Lanterns over a lake"}))
        async with connect(server.url, mode, token=BOB) as bob:
            bobs = data_of(await bob.call_tool("generate_video", {"prompt": "Herons over a marsh"}))
        # An issuer's user whose subject happens to be "alice" is not the static tenant alice.
        async with connect(server.url, mode, token=issuer.token("alice")) as namesake:
            assert data_of(await namesake.call_tool("list_videos", {}))["count"] == 0
            refused = await namesake.call_tool("check_status", {"execution_id": made["execution_id"]})
            assert refused.is_error and "Lanterns" not in text_of(refused)
            keyless = await namesake.call_tool("generate_video", {"prompt": "A borrowed key"})
            assert keyless.is_error and "No HeyGen API key" in text_of(keyless)
        # The subject the file maps to bob is bob.
        async with connect(server.url, mode, token=issuer.token("bob@example.com")) as mapped:
            listing = data_of(await mapped.call_tool("list_videos", {}))
            assert [v["execution_id"] for v in listing["videos"]] == [bobs["execution_id"]]
        for subject in ("bob\x00", "bob\x1b[2J", "bob\nadmin"):
            assert (await status_of(server, issuer.token(subject))).status_code == 401, repr(subject)


async def test_a_rotated_signing_key_works_at_once(sandbox: Sandbox, tmp_path: Path, issuer: Issuer) -> None:
    with serve_tenants(sandbox, tmp_path, tenants(), **oauth_env(issuer)) as server:
        assert (await status_of(server, issuer.token("alice"))).status_code == 200
        issuer.rotate("key-2")
        assert (await status_of(server, issuer.token("alice"))).status_code == 200
        # Tokens naming keys nobody publishes: at most one more read of the key set, however many arrive.
        before = issuer.fetches
        for n in range(20):
            assert (await status_of(server, issuer.token("alice", kid=f"bogus-{n}"))).status_code == 401
        assert issuer.fetches - before <= 1
        assert (await status_of(server, issuer.token("alice"))).status_code == 200


async def test_a_shared_server_key_gives_each_tenant_its_own_budget(
    sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    path = tenants_file(tmp_path, tenants(alice={"token": ALICE}, bob={"token": BOB}))
    env = {"HEYGEN_MCP_TENANTS_FILE": str(path), "HEYGEN_TENANT_DAILY_RENDERS": "1"}
    with http_server(sandbox, tmp_path, **env) as server:  # not shared: today's behaviour
        async with connect(server.url, mode, token=ALICE) as alice:
            said = await alice.call_tool("generate_video", {"prompt": "A paper boat"})
            assert said.is_error and "No HeyGen API key is set up for your account ('alice')" in text_of(said)
    with http_server(sandbox, tmp_path, HEYGEN_SHARE_SERVER_KEY="true", **env) as server:
        async with connect(server.url, mode, token=ALICE) as alice, connect(server.url, mode, token=BOB) as bob:
            made = data_of(await alice.call_tool("generate_video", {"prompt": "A paper boat in the rain"}))
            video = data_of(await alice.call_tool("wait_for_video", {"execution_id": made["execution_id"]}))
            assert video["status"] == "completed" and list((tmp_path / "videos" / "alice").glob("*.mp4"))
            again = await alice.call_tool("generate_video", {"prompt": "A paper boat in the snow"})
            assert again.is_error and "daily budget on this server is 1 new video" in text_of(again)
            # bob's budget and library are his own.
            assert data_of(await bob.call_tool("list_videos", {}))["count"] == 0
            assert not (await bob.call_tool("generate_video", {"prompt": "A paper boat in the rain"})).is_error
    assert API_KEY not in server.stderr()
