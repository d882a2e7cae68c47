"""Two replicas of the console script (streamable HTTP) behind nginx on one PostgreSQL: a video is made from
generate to download with calls landing on both, and one replica killed while a wait is in flight."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client

from heygen_video_mcp.server.sandbox import Sandbox
from tests.stack import Nginx, RemoteStack, remote_client

from .conftest import API_KEY, data_of, text_of
from .test_stdio import console_script

pytestmark = pytest.mark.anyio


def replica_env(sandbox: Sandbox, folder: Path, database_url: str, **extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_OUTPUT_DIR": str(folder / "videos"),
        "HEYGEN_DATABASE_URL": database_url,
        "HEYGEN_MCP_TOKEN": secrets.token_urlsafe(32),
        "HEYGEN_MCP_URL_SECRET": secrets.token_urlsafe(32),
        "HEYGEN_POLL_INTERVAL": "0.5",
        "HEYGEN_WAIT_SECONDS": "3",
        **extra,
    }


def need_nginx() -> None:
    if Nginx.available() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed; .ci/run installs it (apt-get install -y nginx)")
        pytest.skip("nginx is not installed (apt-get install -y nginx)")


@pytest.fixture
def sandbox8() -> Iterator[Sandbox]:
    """Renders of 8 s: long enough for several waits, and a replica's death during one."""
    with Sandbox(api_key=API_KEY, render_seconds=8.0, submitted_seconds=0.2, video_seconds=1.0) as sandbox:
        yield sandbox


@pytest.fixture
def stack(sandbox8: Sandbox, tmp_path: Path, database_url: str) -> Iterator[RemoteStack]:
    need_nginx()
    with RemoteStack(console_script(), replica_env(sandbox8, tmp_path, database_url), tmp_path / "stack") as started:
        yield started


async def wait_once(client: Client, execution_id: str) -> dict[str, Any] | BaseException:
    try:
        result = await client.call_tool("wait_for_video", {"execution_id": execution_id})
    except Exception as exc:  # the replica answering this call was killed
        return exc
    return data_of(result)


async def test_a_video_is_made_across_replicas_with_one_killed_mid_wait(stack: RemoteStack, sandbox8: Sandbox) -> None:
    killed, survivor = stack.replicas
    async with remote_client(stack.url, stack.token) as client:
        created = await client.call_tool("generate_video", {"prompt": "A red kite over a windy beach, wide shot"})
        assert not created.is_error, text_of(created)
        execution_id = data_of(created)["execution_id"]

        # Two waits at once: round robin gives each replica one; one replica dies while both wait.
        outcomes: list[dict[str, Any] | BaseException] = []

        async def wait_and_keep() -> None:
            outcomes.append(await wait_once(client, execution_id))

        async with anyio.create_task_group() as group:
            group.start_soon(wait_and_keep)
            group.start_soon(wait_and_keep)
            await anyio.sleep(1.0)
            killed.kill()
        # The wait on the killed replica failed as a cut connection does; the other answered as usual.
        answered = [o for o in outcomes if isinstance(o, dict)]
        assert len(answered) == 1 and answered[0]["execution_id"] == execution_id, outcomes
        assert answered[0]["status"] in ("submitted", "processing") and not answered[0]["done"], answered

        # The caller waits on; every call now lands on the survivor, which finds the job in the library.
        for _ in range(20):
            done = await wait_once(client, execution_id)
            assert isinstance(done, dict), done
            if done["done"]:
                break
        assert isinstance(done, dict) and done["status"] == "completed", done

        saved = data_of(await client.call_tool("download_video", {"execution_id": execution_id}))
        assert saved["status"] == "completed"
        video = sandbox8.video_bytes(sandbox8.jobs[execution_id].video_id)
        async with httpx2.AsyncClient() as http:
            fetched = await http.get(saved["video_link"])
        assert fetched.status_code == 200 and fetched.content == video

    upstreams = set(stack.nginx.upstreams_used())
    assert {f"127.0.0.1:{killed.port}", f"127.0.0.1:{survivor.port}"} <= upstreams, upstreams
    assert survivor.running


async def test_a_2025_session_behind_sticky_routing_stays_on_one_replica(
    sandbox8: Sandbox, tmp_path: Path, database_url: str
) -> None:
    """2025-11-25 clients keep a session on the replica that opened it: with nginx's ip_hash (the README's
    advice) every call of the session reaches that replica, and the video is made and fetched as usual."""
    need_nginx()
    env = replica_env(sandbox8, tmp_path, database_url, HEYGEN_WAIT_SECONDS="5")
    with RemoteStack(console_script(), env, tmp_path / "stack", sticky=True) as stack:
        async with remote_client(stack.url, stack.token, mode="legacy") as client:
            created = data_of(await client.call_tool("generate_video", {"prompt": "A paper lantern rising at dusk"}))
            for _ in range(10):
                done = data_of(await client.call_tool("wait_for_video", {"execution_id": created["execution_id"]}))
                if done["done"]:
                    break
            assert done["status"] == "completed", done
            async with httpx2.AsyncClient() as http:
                fetched = await http.get(done["video_link"])
            assert fetched.content == sandbox8.video_bytes(done["video_id"])
        used = {address for address in stack.nginx.upstreams_used() if address != "-"}
        assert len(used) == 1, used
