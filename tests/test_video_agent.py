"""HeyGen's v1 retirement and its v3 Video Agent, through mcp.Client (both protocol eras) against the sandbox
over real HTTP: a retired executions route is said plainly and offers the Video Agent without switching to it;
402 is insufficient credits; what the Video Agent cannot take is refused before anything is sent."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools import routes

from .conftest import MakeSettings, data_of, text_of
from .test_tools import check_bad_input

pytestmark = pytest.mark.anyio
PROMPT = "A founder explains in 30 seconds why her bakery switched to solar power, warm and upbeat"


def v3_creates(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.route == "create" and r.path == routes.VIDEO_AGENTS)


# (HTTP status, whether the answer says "retired"): a route that is gone, or a notice in its place.
RETIREMENTS = [(410, True), (404, False), (405, False), (400, True), (200, True)]


@pytest.mark.parametrize(
    ("status", "notice"), RETIREMENTS, ids=[f"{s}-{'notice' if n else 'plain'}" for s, n in RETIREMENTS]
)
async def test_a_retired_executions_api_is_said_plainly_and_offers_the_video_agent(
    client: Client, sandbox: Sandbox, status: int, notice: bool
) -> None:
    sandbox.retire_v1(status, notice=notice)
    jobs = len(sandbox.jobs)
    result = await client.call_tool("generate_video", {"prompt": PROMPT})
    assert result.is_error
    data = data_of(result)
    assert data["error"] == "endpoint_retired" and data["retryable"] is False
    text = text_of(result)
    for needle in ("retired", "November 1, 2026", "HEYGEN_API_BASE_URL", 'provider="video_agent"', "$0.033", "avatar"):
        assert needle in text, (needle, text)
    assert "Nothing was bought" in text and "Ask the user" in text
    assert "ask whether" in data["next_step"] and "without asking" in data["next_step"]
    # Nothing is recorded as possibly paid: no job, nothing listed, and asking again is not blocked.
    assert len(sandbox.jobs) == jobs
    assert data_of(await client.call_tool("list_videos", {}))["count"] == 0
    again = await client.call_tool("generate_video", {"prompt": PROMPT})
    assert data_of(again)["error"] == "endpoint_retired"
    # A notice or 410 Gone is remembered (tests/test_retirement.py): the second call asks HeyGen nothing.
    assert sandbox.count("create") == (1 if notice or status == 410 else 2)
    # Never a silent switch: the Video Agent is only used when asked for.
    assert v3_creates(sandbox) == 0

    agent = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": "video_agent"})
    assert not agent.is_error, text_of(agent)
    done = await client.call_tool("wait_for_video", {"execution_id": data_of(agent)["execution_id"]})
    assert data_of(done)["status"] == "completed" and data_of(done)["local_path"], text_of(done)


async def test_a_job_made_before_the_retirement_says_where_to_look(client: Client, sandbox: Sandbox) -> None:
    job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
    sandbox.retire_v1(410)
    for tool in ("check_status", "wait_for_video"):
        result = await client.call_tool(tool, {"execution_id": job["execution_id"]})
        assert result.is_error and data_of(result)["error"] == "endpoint_retired", text_of(result)
        text = text_of(result)
        assert job["execution_id"] in text and "dashboard" in text and "video_agent" in text
    [video] = data_of(await client.call_tool("list_videos", {}))["videos"]
    assert video["execution_id"] == job["execution_id"]  # the paid job is not lost


async def test_a_retirement_notice_on_a_status_read_is_not_a_lost_job(client: Client, sandbox: Sandbox) -> None:
    """A JSON 404 on the status route normally means "no such execution"; one that says retired does not."""
    job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
    sandbox.retire_v1(404, notice=True)
    result = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
    assert data_of(result)["error"] == "endpoint_retired", text_of(result)


@pytest.mark.parametrize("body", ["This API version has been retired.", {"message": "v1 is deprecated; use v3"}])
async def test_a_notice_in_place_of_an_answer_is_retired_not_maybe_paid(
    client: Client, sandbox: Sandbox, body: Any
) -> None:
    sandbox.inject("create", Fault(status=200, body=body))
    result = await client.call_tool("generate_video", {"prompt": PROMPT})
    assert data_of(result)["error"] == "endpoint_retired", text_of(result)
    assert data_of(await client.call_tool("list_videos", {}))["count"] == 0  # not submit_uncertain


async def test_insufficient_credits_is_said_and_nothing_is_recorded(
    client: Client, sandbox: Sandbox, provider: str
) -> None:
    sandbox.set_credits(0)
    result = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider})
    assert result.is_error
    data = data_of(result)
    assert data["error"] == "insufficient_credits" and data["retryable"] is False
    assert "credits" in text_of(result) and "Nothing was made or charged" in text_of(result)
    assert data_of(await client.call_tool("list_videos", {}))["count"] == 0
    sandbox.set_credits(1)  # the user topped up: the same request goes through, not blocked as a duplicate
    again = await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider})
    assert not again.is_error and data_of(again)["duplicate"] is False, text_of(again)


async def test_video_agent_request_carries_orientation_files_and_options(client: Client, sandbox: Sandbox) -> None:
    long_prompt = "Say this: " + "our bakery runs on sunshine. " * 250  # past the model providers' 5000
    arguments = {
        "prompt": long_prompt,
        "provider": "video_agent",
        "aspect_ratio": "9:16",
        "reference_image_url": "https://example.com/bakery.png",
        "config": {"avatar_id": "Daisy-inskirt-20220818", "style_id": "modern_vlog_01"},
    }
    result = await client.call_tool("generate_video", arguments)
    assert not result.is_error, text_of(result)
    job = data_of(result)
    assert sandbox.jobs[job["execution_id"]].input == {
        "prompt": long_prompt.strip(),
        "orientation": "portrait",
        "files": [{"type": "url", "url": "https://example.com/bakery.png"}],
        "avatar_id": "Daisy-inskirt-20220818",
        "style_id": "modern_vlog_01",
    }
    assert job["session_id"] == sandbox.jobs[job["execution_id"]].session_id
    assert "Video Agent video video_agent:" in text_of(result) and job["session_id"] in text_of(result)


AGENT = {"prompt": PROMPT, "provider": "video_agent"}
AGENT_BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("generate_video", {**AGENT, "aspect_ratio": "1:1"}, "16:9 or 9:16"),
    ("generate_video", {**AGENT, "aspect_ratio": "4:3"}, "16:9 or 9:16"),
    ("generate_video", {**AGENT, "tail_image_url": "https://e.com/end.png"}, "tail_image_url"),
    ("generate_video", {**AGENT, "reference_image_url": "http://e.com/a.png"}, "https://"),
    ("generate_video", {**AGENT, "config": {"seed": 1}}, "avatar_id, voice_id, style_id"),
    ("generate_video", {**AGENT, "config": {"avatar_id": 5}}, "HeyGen id"),
    ("generate_video", {**AGENT, "prompt": "x" * 10_001}, "the limit is 10000"),
    ("check_status", {"execution_id": "video_agent:../x"}, "video_agent:"),
    ("wait_for_video", {"execution_id": "video_agent:"}, "not a HeyGen execution id"),
    ("download_video", {"execution_id": "other:abc"}, "not a HeyGen execution id"),
]


@pytest.mark.parametrize(("tool", "arguments", "hint"), AGENT_BAD_INPUTS)
async def test_what_the_video_agent_cannot_take_is_refused_before_sending(
    client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], hint: str
) -> None:
    await check_bad_input(client, sandbox, tool, arguments, hint)


async def test_list_providers_says_what_the_video_agent_makes_and_costs(client: Client) -> None:
    catalog = data_of(await client.call_tool("list_providers", {}))
    [agent] = [p for p in catalog["providers"] if p["value"] == "video_agent"]
    assert agent["backend"] == "video_agent" and not agent["default"]
    for needle in ("scenes", "narration", "avatar", "not a raw model clip", "$0.033 per second"):
        assert needle in agent["description"]
    assert {p["backend"] for p in catalog["providers"] if p["value"] != "video_agent"} == {"executions"}
    tools = {t.name: t for t in (await client.list_tools()).tools}
    description = tools["generate_video"].description or ""
    for needle in ("video_agent", "$0.033", "retired", "consent"):
        assert needle in description


async def test_the_video_agent_waits_out_heygens_read_lag(make_settings: MakeSettings, mode: str) -> None:
    """A v3 video unknown for a moment after creation (404) is HeyGen's read lag, not a lost video."""
    with Sandbox(api_key="k", render_seconds=0.6, submitted_seconds=0.1, read_lag=0.4) as lagging:
        server = create_server(make_settings(api_key="k", api_base_url=lagging.base_url))
        async with Client(server, mode=mode) as client:
            job = data_of(await client.call_tool("generate_video", AGENT))
            first = data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))
            assert first["status"] == "submitted" and not first["done"]
            done = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            assert data_of(done)["status"] == "completed", text_of(done)


async def test_a_video_agent_video_is_found_by_its_bare_video_id_too(client: Client, sandbox: Sandbox) -> None:
    """The model may pass the video_id field of a result instead of its execution_id: the library knows it."""
    job = data_of(await client.call_tool("generate_video", AGENT))
    bare = job["video_id"]
    assert job["execution_id"] == f"video_agent:{bare}"
    for tool in ("wait_for_video", "check_status", "download_video"):
        result = await client.call_tool(tool, {"execution_id": bare})
        assert not result.is_error, (tool, text_of(result))
        assert data_of(result)["execution_id"] == job["execution_id"], tool
    assert data_of(result)["local_path"]
    # An id the library does not know stays HeyGen's to answer: no v3 read is made for it.
    reads = sandbox.count("status")
    unknown = await client.call_tool("check_status", {"execution_id": "node-gw-unknown"})
    assert data_of(unknown)["status"] == "not_found" and sandbox.count("status") == reads + 1
