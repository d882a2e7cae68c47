"""Control characters (NUL above all) in any argument: refused as invalid_input naming the argument, before
anything reaches HeyGen or the library, on either library store. Only a prompt, and config's text values,
may hold line breaks and tabs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox
from tests.conftest import BACKENDS, MakeSettings, data_of, on_backend, text_of

pytestmark = pytest.mark.anyio

ID = "node-gw-v1d2e3o4"
URL = "https://example.com/photo.png"

REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("generate_video", {"prompt": "A red kite\x00 over the sea"}, "prompt"),
    ("generate_video", {"prompt": "A red kite over the sea\x1b[2J"}, "prompt"),
    ("generate_video", {"prompt": "A kite", "provider": "veo_3_1\x00"}, "provider"),
    ("generate_video", {"prompt": "A kite", "aspect_ratio": "16:9\x00"}, "aspect_ratio"),
    (
        "generate_video",
        {"prompt": "A kite", "reference_image_url": "https://example.com/a\x00.png"},
        "reference_image_url",
    ),
    ("generate_video", {"prompt": "A kite", "tail_image_url": URL + "\x07"}, "tail_image_url"),
    ("generate_video", {"prompt": "A kite", "reference_image_url": URL + "\n"}, "reference_image_url"),
    ("generate_video", {"prompt": "A kite", "config": {"seed\x00": 1}}, "config"),
    ("generate_video", {"prompt": "A kite", "config": {"negative_prompt": "blur\x00"}}, "config"),
    ("generate_video", {"prompt": "A kite", "config": {"a": {"b": ["ok", "x\x08"]}}}, "config"),
    ("generate_video", {"prompt": "A kite", "config": {"line\nkey": 1}}, "config"),
    ("generate_videos", {"requests": [{"prompt": "A kite\x00"}]}, "prompt"),
    ("generate_videos", {"requests": [{"prompt": "A kite", "config": {"k": "\x00"}}]}, "config"),
    ("check_status", {"execution_id": ID + "\x00"}, "execution_id"),
    ("wait_for_video", {"execution_id": "\x00" + ID, "max_wait_seconds": 1}, "execution_id"),
    ("wait_for_videos", {"execution_ids": [ID + "\x00"], "max_wait_seconds": 1}, "execution_id"),
    ("download_video", {"execution_id": ID + "\x00"}, "execution_id"),
    ("download_video", {"execution_id": ID, "directory": "picks\x00"}, "directory"),
    ("download_video", {"execution_id": ID, "directory": "picks\nmore"}, "directory"),
    ("download_video", {"execution_id": ID, "filename": "kite\x00.mp4"}, "filename"),
    ("download_video", {"execution_id": ID, "filename": "kite\t.mp4"}, "filename"),
    ("list_videos", {"query": "kite\x00"}, "query"),
    ("list_videos", {"query": "kite\n"}, "query"),
    ("list_videos", {"status": "completed\x00"}, "status"),
]


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    return on_backend(request, make_settings)


@pytest.fixture
async def client(make_settings: MakeSettings) -> AsyncIterator[Client]:
    async with Client(create_server(make_settings())) as c:
        yield c


def problem(result: Any) -> dict[str, Any]:
    """The error of a call, or of a batch's only item."""
    data = data_of(result)
    if "results" in data:
        error: dict[str, Any] = data["results"][0]["error"]
        return error
    return data


@pytest.mark.parametrize(("tool", "arguments", "name"), REFUSED, ids=[f"{t}-{n}" for t, _, n in REFUSED])
async def test_control_characters_are_refused_by_name(
    client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], name: str
) -> None:
    before = len(sandbox.requests)
    result = await client.call_tool(tool, arguments)
    error = problem(result)
    assert error["error"] == "invalid_input", text_of(result)
    assert name in error["message"] and "control character" in error["message"], error["message"]
    assert error["retryable"] is False
    assert "\x00" not in text_of(result)  # the message shows the character escaped, not raw
    assert len(sandbox.requests) == before  # nothing was sent to HeyGen


async def test_a_prompt_may_hold_line_breaks_and_tabs(client: Client, sandbox: Sandbox) -> None:
    prompt = "Scene 1:\tA red kite over the sea.\r\nScene 2: it lands on the sand."
    result = await client.call_tool("generate_video", {"prompt": prompt, "config": {"note": "one\ntwo"}})
    assert not result.is_error, text_of(result)
    assert data_of(result)["prompt"] == prompt
