"""The tools, prompts and resources through mcp.Client (in memory, both protocol eras) against the sandbox."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import anyio
import pytest
from mcp import Client, MCPError
from mcp.types import ResourceLink

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.providers import PROVIDER_VALUES
from heygen_video_mcp.tools.timing import WAIT_CAP_SECONDS

from .conftest import API_KEY, MakeSettings, data_of, sent, text_of

pytestmark = pytest.mark.anyio
PROMPT = "A lighthouse on a cliff at dusk, slow dolly-in, stormy sky, cinematic, melancholic"
TOOLS = {
    "generate_video",
    "check_status",
    "wait_for_video",
    "download_video",
    "list_videos",
    "list_providers",
    "generate_videos",
    "wait_for_videos",
    "cancel_video",
    "check_credits",
}


async def test_tools_are_listed_with_truthful_annotations(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == TOOLS
    generate = tools["generate_video"]
    assert generate.annotations is not None
    assert generate.annotations.read_only_hint is False and generate.annotations.idempotent_hint is False
    for name in ("check_status", "wait_for_video", "list_providers", "list_videos", "wait_for_videos"):
        annotations = tools[name].annotations
        assert annotations is not None and annotations.read_only_hint is True, name
    for tool in tools.values():
        assert tool.output_schema is not None, tool.name
        assert tool.description and len(tool.description) > 80, tool.name


async def test_every_tool_parameter_is_described(client: Client) -> None:
    for tool in (await client.list_tools()).tools:
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"


async def test_generate_video_schema_is_an_enum_of_the_contracts_providers(client: Client) -> None:
    tools = {t.name: t for t in (await client.list_tools()).tools}
    schema = tools["generate_video"].input_schema
    assert schema["required"] == ["prompt"]
    assert schema["properties"]["provider"]["enum"] == list(PROVIDER_VALUES)
    assert schema["properties"]["provider"]["default"] == "veo_3_1"
    assert schema["properties"]["aspect_ratio"]["default"] == "16:9"
    description = tools["generate_video"].description or ""
    for advice in ("camera movement", "lighting", "style", "mood", "9:16", "wait_for_video"):
        assert advice in description


async def test_list_providers(client: Client) -> None:
    result = await client.call_tool("list_providers", {})
    assert not result.is_error
    data = data_of(result)
    assert [p["value"] for p in data["providers"]] == list(PROVIDER_VALUES)
    assert [p["value"] for p in data["providers"] if p["default"]] == ["veo_3_1"]
    assert set(data["fast_providers"]) == {"ltx_distilled", "veo3_fast", "veo_3_1_fast"}
    assert [r["value"] for r in data["aspect_ratios"]] == ["16:9", "9:16", "1:1"]
    assert "ltx_distilled - LTX Distilled: LTX Distilled (fastest) [fast]" in text_of(result)
    resource = await client.read_resource("heygen://providers")
    assert '"sora_v2_pro"' in getattr(resource.contents[0], "text", "")


async def test_whole_flow_with_progress(client: Client, sandbox: Sandbox, settings: Any, provider: str) -> None:
    created = await client.call_tool("generate_video", {"prompt": PROMPT, "aspect_ratio": "9:16", "provider": provider})
    assert not created.is_error, text_of(created)
    job = data_of(created)
    assert job["status"] == "submitted" and not job["done"] and not job["duplicate"]
    assert "wait_for_video" in job["next_step"]
    execution_id = job["execution_id"]
    assert sandbox.jobs[execution_id].input == sent(provider, PROMPT, "9:16")
    # Each API's ids are kept and told apart: the Video Agent's video id (prefixed) and its session id.
    assert job["backend"] == ("video_agent" if provider == "video_agent" else "executions")
    assert job.get("session_id") == sandbox.jobs[execution_id].session_id
    assert execution_id.startswith("video_agent:") == (provider == "video_agent")

    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    done = await client.call_tool("wait_for_video", {"execution_id": execution_id}, progress_callback=on_progress)
    assert not done.is_error, text_of(done)
    video = data_of(done)
    assert video["status"] == "completed" and video["done"]
    assert len(seen) >= 2, seen
    assert [p[0] for p in seen] == sorted(p[0] for p in seen)
    # Progress is the render's own clock (seconds since submission) against its expected length: with no
    # earlier renders to learn from, the contract's "1-5 minutes" (for the Video Agent, HeyGen's polling
    # guidance: 20-45 minutes).
    assert all(total is not None and progress <= total for progress, total, _ in seen)
    typical = "20-45 minutes" if provider == "video_agent" else "1-5 minutes"
    assert seen[0][0] < seen[-1][0] and typical in (seen[0][2] or "")
    assert typical in job["next_step"]
    # The Video Agent is first looked at 30 cadences in (5 minutes at HeyGen's; 3 s here), after the sandbox's
    # render has ended: its clock runs from "submitted" straight to the end.
    assert any(("processing" if provider != "video_agent" else "submitted") in (message or "") for *_, message in seen)
    assert "completed" in (seen[-1][2] or "")

    video_id = sandbox.jobs[execution_id].video_id
    assert video["video_id"] == video_id and execution_id.endswith(video_id) == (provider == "video_agent")
    # The executions API names a HeyGen asset; the Video Agent's video is its own id.
    assert video.get("asset_id") == (None if provider == "video_agent" else sandbox.jobs[execution_id].asset_id)
    path = Path(video["local_path"])
    assert path.is_absolute() and path.parent == settings.output_dir
    assert path.read_bytes() == sandbox.video_bytes(video_id)
    links = [b for b in done.content if isinstance(b, ResourceLink)]
    assert len(links) == 1 and str(links[0].uri) == path.as_uri() and links[0].mime_type == "video/mp4"
    assert "temporary" in video["next_step"] and str(path) in text_of(done)

    checked = data_of(await client.call_tool("check_status", {"execution_id": execution_id}))
    assert checked["status"] == "completed" and checked["local_path"] == str(path)
    assert checked.get("session_id") == job.get("session_id")


async def test_wait_budget_returns_the_id_not_an_error(make_settings: MakeSettings, mode: str, provider: str) -> None:
    with Sandbox(api_key=API_KEY, render_seconds=30) as slow:
        server = create_server(make_settings(api_base_url=slow.base_url, wait_seconds=0.3))
        async with Client(server, mode=mode) as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider}))
            result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            assert not result.is_error
            data = data_of(result)
            assert data["execution_id"] == job["execution_id"]
            assert data["done"] is False and data["status"] in ("submitted", "processing")
            assert 0.3 <= data["waited_seconds"] < 5
            assert "Call wait_for_video" in data["next_step"] and job["execution_id"] in data["next_step"]
            custom = await client.call_tool(
                "wait_for_video", {"execution_id": job["execution_id"], "max_wait_seconds": 0.5}
            )
            assert data_of(custom)["waited_seconds"] >= 0.5


@pytest.mark.parametrize("budget", [0, -1, WAIT_CAP_SECONDS + 1, 3600])
async def test_wait_budget_is_bounded(client: Client, budget: float) -> None:
    result = await client.call_tool("wait_for_video", {"execution_id": "node-gw-1", "max_wait_seconds": budget})
    assert result.is_error and f"between 1 and {WAIT_CAP_SECONDS:g}" in text_of(result)


async def test_failed_job_is_an_error_with_heygens_message(client: Client, sandbox: Sandbox, provider: str) -> None:
    sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
    job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider}))
    result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
    assert result.is_error
    assert "Prompt rejected by content moderation" in text_of(result)
    assert data_of(result)["status"] == "failed" and data_of(result)["error"] == "Prompt rejected by content moderation"


async def test_completed_without_url_is_an_error(client: Client, sandbox: Sandbox, provider: str) -> None:
    sandbox.next_outcome("completed_without_url")
    job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider}))
    result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
    assert result.is_error
    text = text_of(result)
    assert "no video URL" in text and job["execution_id"] in text
    assert (sandbox.jobs[job["execution_id"]].asset_id in text) == (provider != "video_agent")


async def test_vanished_job_is_not_found(
    make_settings: MakeSettings, sandbox: Sandbox, mode: str, provider: str
) -> None:
    sandbox.next_outcome("vanish")
    # Past the grace given to HeyGen's read lag (none here), not_found is final.
    async with Client(create_server(make_settings(not_found_grace=0)), mode=mode) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider}))
        result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
        assert result.is_error and data_of(result)["status"] == "not_found"
        assert "does not know" in text_of(result)


BAD_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("generate_video", {"prompt": "   "}, "prompt is empty"),
    ("generate_video", {"prompt": "x" * 6000}, "the limit is 5000"),
    ("generate_video", {"prompt": PROMPT, "provider": "veo4"}, "ltx_distilled"),
    ("generate_video", {"prompt": PROMPT, "aspect_ratio": "wide"}, "16:9"),
    ("generate_video", {"prompt": PROMPT, "aspect_ratio": "16/9"}, "16:9"),
    ("generate_video", {"prompt": PROMPT, "reference_image_url": "file:///etc/passwd"}, "http(s) URL"),
    ("generate_video", {"prompt": PROMPT, "tail_image_url": "data:image/png;base64,AAAA"}, "http(s) URL"),
    ("generate_video", {}, "prompt"),
    ("check_status", {"execution_id": "../../v2/videos"}, "not a HeyGen execution id"),
    ("check_status", {"execution_id": "abc?x=1"}, "not a HeyGen execution id"),
    ("check_status", {"execution_id": "a/b"}, "not a HeyGen execution id"),
    ("check_status", {"execution_id": "x" * 5000}, "not a HeyGen execution id"),
    ("wait_for_video", {"execution_id": ".."}, "not a HeyGen execution id"),
    ("download_video", {"execution_id": "a b"}, "not a HeyGen execution id"),
    ("download_video", {"execution_id": "node-gw-1", "filename": "../x.mp4"}, "plain file name"),
]


async def check_bad_input(client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], hint: str) -> None:
    before = len(sandbox.requests)
    result = await client.call_tool(tool, arguments)
    assert result.is_error, (tool, arguments)
    text = text_of(result)
    assert hint in text, (tool, text)
    assert len(text) < 2000  # a 5000-character id is not echoed back
    assert len(sandbox.requests) == before  # nothing was sent to HeyGen


@pytest.mark.parametrize(("tool", "arguments", "hint"), BAD_INPUTS)
async def test_bad_input_is_explained_and_nothing_is_sent(
    client: Client, sandbox: Sandbox, tool: str, arguments: dict[str, Any], hint: str
) -> None:
    await check_bad_input(client, sandbox, tool, arguments, hint)


async def test_missing_key_explains_how_to_set_it(make_settings: MakeSettings, sandbox: Sandbox, mode: str) -> None:
    before = len(sandbox.requests)
    async with Client(create_server(make_settings(api_key=None)), mode=mode) as client:
        for tool, args in (("generate_video", {"prompt": PROMPT}), ("check_status", {"execution_id": "node-1"})):
            result = await client.call_tool(tool, args)
            assert result.is_error
            assert "HEYGEN_API_KEY" in text_of(result) and "env" in text_of(result)
        assert not (await client.call_tool("list_providers", {})).is_error
    assert len(sandbox.requests) == before


FAULTS: list[tuple[Literal["create", "status"], Fault, str]] = [
    ("create", Fault(status=401), "rejected the API key"),
    ("create", Fault(status=403), "rejected the API key"),
    ("create", Fault.rate_limited(retry_after=0), "rate-limiting"),
    ("create", Fault.server_error(502), "server error"),
    ("create", Fault(drop=True), "may or may not have created"),
    ("create", Fault.malformed(), "expected shape"),
    ("status", Fault(status=401), "HEYGEN_API_KEY"),
    ("status", Fault.server_error(500), "server error"),
    ("status", Fault.html(), "expected shape"),
    ("status", Fault(status=404, body="404 page not found", content_type="text/plain"), "HEYGEN_API_BASE_URL"),
]


async def check_fault(
    client: Client,
    sandbox: Sandbox,
    route: Literal["create", "status"],
    fault: Fault,
    hint: str,
    provider: str = "veo_3_1",
) -> None:
    """Provoke one HeyGen fault (the server must allow at most one retry) and check what the model reads."""
    prompt = f"{PROMPT} ({route} {fault})"  # unique, so the duplicate guard stays out of the way
    arguments = {"prompt": prompt, "provider": provider}
    execution_id = "node-gw-1"
    if route == "status":
        execution_id = data_of(await client.call_tool("generate_video", arguments))["execution_id"]
    sandbox.inject(route, fault, times=5)
    if route == "create":
        result = await client.call_tool("generate_video", arguments)
    else:
        result = await client.call_tool("check_status", {"execution_id": execution_id})
    sandbox.reset()
    assert result.is_error, (route, fault)
    text = text_of(result)
    assert hint in text, (route, fault, text)
    assert not text.startswith("Error executing tool")  # our message comes first
    assert API_KEY not in text
    if route == "status":
        assert execution_id in text  # the job is never lost to the assistant


@pytest.mark.parametrize(("route", "fault", "hint"), FAULTS)
async def test_heygen_faults_become_clear_results(
    make_settings: MakeSettings,
    sandbox: Sandbox,
    mode: str,
    route: Literal["create", "status"],
    fault: Fault,
    hint: str,
    provider: str,
) -> None:
    async with Client(create_server(make_settings(max_retries=1)), mode=mode) as client:
        await check_fault(client, sandbox, route, fault, hint, provider)


async def test_key_never_reaches_results_or_logs(
    client: Client, sandbox: Sandbox, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.inject("create", Fault(status=401))
    results = [await client.call_tool("generate_video", {"prompt": PROMPT})]
    job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT + " again"}))
    results.append(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
    results.append(await client.call_tool("list_videos", {}))
    for result in results:
        assert API_KEY not in text_of(result) and API_KEY not in str(result.structured_content)
    assert API_KEY not in caplog.text
    for path in settings.output_dir.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


PROMPTS = {
    "cinematic_video": ({"idea": "a fox in the snow"}, ["camera", "lighting", "mood", "generate_video", "16:9"]),
    "animate_product_photo": (
        {"image_url": "https://e.com/mug.png", "product": "a ceramic mug"},
        ["reference_image_url=https://e.com/mug.png", "a ceramic mug", "wait_for_video"],
    ),
    "social_vertical_video": ({"idea": "latte art", "platform": "TikTok"}, ["9:16", "TikTok", "hook"]),
}


async def check_prompts(client: Client) -> None:
    listed = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(listed) == set(PROMPTS)
    for name, (args, needles) in PROMPTS.items():
        assert listed[name].description
        result = await client.get_prompt(name, args)
        text = getattr(result.messages[0].content, "text", "")
        for needle in needles:
            assert needle in text, (name, needle)


async def test_prompts(client: Client) -> None:
    await check_prompts(client)


async def test_unknown_id_is_not_found_and_not_recorded(client: Client) -> None:
    result = await client.call_tool("check_status", {"execution_id": "node-gw-typo"})
    assert result.is_error and data_of(result)["status"] == "not_found"
    assert "list_videos" in data_of(result)["next_step"]
    listed = data_of(await client.call_tool("list_videos", {}))
    assert "node-gw-typo" not in [v["execution_id"] for v in listed["videos"]]


async def test_a_duplicate_says_nothing_new_was_bought(client: Client, sandbox: Sandbox, provider: str) -> None:
    first = data_of(
        await client.call_tool("generate_video", {"prompt": PROMPT + " duplicate check", "provider": provider})
    )
    again = data_of(
        await client.call_tool("generate_video", {"prompt": PROMPT + "  duplicate check", "provider": provider})
    )
    assert again["execution_id"] == first["execution_id"] and again["duplicate"] is True
    assert "Nothing new was bought" in again["next_step"] and "allow_duplicate=true" in again["next_step"]


async def test_a_failed_render_can_be_retried_as_it_was(client: Client, sandbox: Sandbox, provider: str) -> None:
    sandbox.next_outcome("failed", message="Provider overloaded")
    prompt = PROMPT + " retry after failure"
    first = data_of(await client.call_tool("generate_video", {"prompt": prompt, "provider": provider}))
    assert (await client.call_tool("wait_for_video", {"execution_id": first["execution_id"]})).is_error
    before = sandbox.count("create")
    again = data_of(await client.call_tool("generate_video", {"prompt": prompt, "provider": provider}))
    assert again["execution_id"] != first["execution_id"] and again["duplicate"] is False
    assert sandbox.count("create") == before + 1


async def test_polling_stops_when_the_caller_gives_up(make_settings: MakeSettings, mode: str, provider: str) -> None:
    with Sandbox(api_key=API_KEY, render_seconds=60) as slow:
        # The Video Agent's first look is 30 cadences in: at 0.01 s, 0.3 s, inside the caller's half second.
        poll = 0.01 if provider == "video_agent" else 0.05
        server = create_server(make_settings(api_base_url=slow.base_url, wait_seconds=20, poll_interval=poll))
        async with Client(server, mode=mode) as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT, "provider": provider}))
            with pytest.raises(MCPError, match=r"(?i)timed out"):
                await client.call_tool(
                    "wait_for_video", {"execution_id": job["execution_id"]}, read_timeout_seconds=0.5
                )
            assert slow.count("status") >= 2  # it was polling...
            await anyio.sleep(0.3)  # let a read already on the wire arrive
            before = slow.count("status")
            await anyio.sleep(0.5)
            assert slow.count("status") == before  # ...and stopped with the caller
