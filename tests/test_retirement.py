"""Retirement remembered: once HeyGen says its v1 executions API is retired, the library remembers it for that
API base URL (SQLite and PostgreSQL), so list_providers marks the model providers unavailable and
generate_video with them answers at once, without a request; the Video Agent stays available. The demo, with a
key, offers --provider video_agent and makes a video with it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import routes

from .conftest import API_KEY, BACKENDS, MakeSettings, data_of, on_backend, text_of
from .test_stdio import console_script

pytestmark = pytest.mark.anyio
PROMPT = "A drone shot over a harbour at dawn, soft mist, slow push in"


def v1_creates(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.route == "create" and r.path == routes.EXECUTIONS)


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    return on_backend(request, make_settings)


async def test_a_retirement_is_remembered_across_restarts(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str
) -> None:
    settings = make_settings()
    sandbox.retire_v1(410)
    async with Client(create_server(settings), mode=mode) as client:
        first = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert data_of(first)["error"] == "endpoint_retired", text_of(first)
    assert v1_creates(sandbox) == 1
    async with Client(create_server(settings), mode=mode) as client:  # a restart: the library remembers
        catalog = data_of(await client.call_tool("list_providers", {}))
        by_value = {p["value"]: p for p in catalog["providers"]}
        assert by_value["video_agent"]["available"] is True and by_value["video_agent"]["unavailable_reason"] is None
        for value, info in by_value.items():
            if value != "video_agent":
                assert info["available"] is False, value
                assert "retired" in info["unavailable_reason"] and sandbox.base_url in info["unavailable_reason"]
        listed = text_of(await client.call_tool("list_providers", {}))
        assert "unavailable" in listed and "video_agent" in listed

        again = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "kling_pro"})
        data = data_of(again)
        assert again.is_error and data["error"] == "endpoint_retired" and data["retryable"] is False
        assert 'provider="video_agent"' in text_of(again) and "nothing was sent" in text_of(again)
        assert "ask whether" in data["next_step"]
        batch = data_of(await client.call_tool("generate_videos", {"requests": [{"prompt": PROMPT}]}))
        assert batch["results"][0]["ok"] is False and batch["results"][0]["error"]["error"] == "endpoint_retired"
        assert v1_creates(sandbox) == 1  # neither asked HeyGen

        agent = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"})
        assert not agent.is_error, text_of(agent)
    # Another HeyGen (base URL) is not taken to be retired: its answer decides.
    sandbox.retire_v1(410)
    other = make_settings(api_base_url=sandbox.base_url.replace("127.0.0.1", "localhost"))
    async with Client(create_server(other), mode=mode) as client:
        assert data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))["error"] == "endpoint_retired"
    assert v1_creates(sandbox) == 2


async def test_a_missing_route_is_not_remembered_as_retired(client: Client, sandbox: Sandbox) -> None:
    """A plain 404 may be a wrong HEYGEN_API_BASE_URL or a passing fault: each call asks again."""
    sandbox.retire_v1(404, notice=False)
    for _ in range(2):
        result = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert data_of(result)["error"] == "endpoint_retired"
    assert v1_creates(sandbox) == 2
    catalog = data_of(await client.call_tool("list_providers", {}))
    assert all(p["available"] for p in catalog["providers"])


def run_demo(tmp_path: Path, sandbox: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")} | {
        "TMPDIR": str(tmp_path),
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_POLL_INTERVAL": "0.2",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "out"),
        "HEYGEN_LIBRARY_PATH": str(tmp_path / "library.db"),
    }
    return subprocess.run(
        [console_script(), "demo", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_demo_with_a_key_offers_the_video_agent_when_v1_is_retired(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.reset()
    sandbox.retire_v1(410)
    refused = run_demo(tmp_path, sandbox)
    assert refused.returncode == 1
    assert "--provider video_agent" in refused.stderr, refused.stderr
    made = run_demo(tmp_path, sandbox, "--provider", "video_agent")
    assert made.returncode == 0, made.stdout + made.stderr
    assert "using video_agent" in made.stdout and re.search(r"Saved to: .+\.mp4", made.stdout)
    sandbox.reset()
