"""Discovery: the Video Agent's styles, and the avatars and voices it may be given in config, read from HeyGen
and kept for 10 minutes."""

from __future__ import annotations

import pytest
from mcp import Client

from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import routes

from .conftest import data_of, text_of

pytestmark = pytest.mark.anyio

LISTS = (routes.AGENT_STYLES, routes.AVATAR_LOOKS, routes.VOICES)


def reads(sandbox: Sandbox) -> list[str]:
    return [r.path for r in sandbox.requests if r.path in LISTS]


async def test_styles_avatars_and_voices_are_listed_with_the_ids_config_takes(client: Client, sandbox: Sandbox) -> None:
    result = await client.call_tool("list_video_agent_options", {})
    assert not result.is_error, text_of(result)
    data = data_of(result)
    assert {s["style_id"] for s in data["styles"]} == {s["style_id"] for s in sandbox.agent_styles}
    assert {a["avatar_id"] for a in data["avatars"]} == {a["id"] for a in sandbox.avatar_looks}
    assert {v["voice_id"] for v in data["voices"]} == {v["voice_id"] for v in sandbox.voices}
    assert all(s["name"] for s in data["styles"]) and all(v["language"] for v in data["voices"])
    assert "style_id" in text_of(result) and "avatar_id" in text_of(result) and "voice_id" in text_of(result)
    assert sorted(reads(sandbox)) == sorted(LISTS)  # three requests, one a list


async def test_a_second_look_within_ten_minutes_asks_heygen_nothing(client: Client, sandbox: Sandbox) -> None:
    first = data_of(await client.call_tool("list_video_agent_options", {}))
    again = data_of(await client.call_tool("list_video_agent_options", {}))
    assert again["styles"] == first["styles"] and again["voices"] == first["voices"]
    assert len(reads(sandbox)) == 3


async def test_a_chosen_style_avatar_and_voice_reach_the_video_agent(client: Client, sandbox: Sandbox) -> None:
    options = data_of(await client.call_tool("list_video_agent_options", {}))
    config = {
        "style_id": options["styles"][0]["style_id"],
        "avatar_id": options["avatars"][0]["avatar_id"],
        "voice_id": options["voices"][0]["voice_id"],
    }
    made = await client.call_tool(
        "generate_video", {"prompt": "A one-minute cooking tip", "provider": "video_agent", "config": config}
    )
    assert not made.is_error, text_of(made)
    (body,) = [r.json for r in sandbox.requests if r.route == "create"]
    assert isinstance(body, dict) and {k: body[k] for k in config} == config
