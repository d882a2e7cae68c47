"""The client and the sandbox each read HeyGen's contract on their own (tools/routes.py and tools/providers.py;
server/sandbox/contract.py), so a path or provider the client gets wrong is refused here as HeyGen would."""

from __future__ import annotations

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools.providers import PROVIDER_VALUES

from .conftest import data_of, text_of

pytestmark = pytest.mark.anyio


async def test_every_provider_offered_is_made_through_the_paths_heygen_serves(
    settings: Settings, sandbox: Sandbox
) -> None:
    sandbox.reset()
    async with Client(create_server(settings)) as client:
        for provider in PROVIDER_VALUES:
            made = await client.call_tool(
                "generate_video", {"prompt": f"A lighthouse, by {provider}", "provider": provider}
            )
            assert not made.is_error, text_of(made)
            execution_id = data_of(made)["execution_id"]
            read = await client.call_tool("wait_for_video", {"execution_id": execution_id})
            assert not read.is_error, text_of(read)
            video = data_of(read)
            assert video["status"] == "completed" and video["video_url"], provider
    assert not [r for r in sandbox.requests if r.route == "other"]  # no request to a path HeyGen lacks
