"""What a person and a model read: one time format, honest submission times, titled and described resources and
prompts, and completions for prompt arguments with a fixed set of values, through mcp.Client in both eras."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from mcp import Client
from mcp.types import Prompt, PromptReference, Resource, ResourceTemplate, ResourceTemplateReference

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.player import PLAYER_URI
from heygen_video_mcp.tools.providers import COMMON_ASPECT_RATIOS, PROVIDER_VALUES

from .conftest import REPO, MakeSettings, data_of

pytestmark = pytest.mark.anyio


def times_in(value: Any, key: str = "") -> list[tuple[str, Any]]:
    """Every (key, value) whose key names a time: `at` or anything ending in `_at`."""
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in times_in(v, k)]
    if isinstance(value, list):
        return [found for v in value for found in times_in(v, key)]
    return [(key, value)] if key == "at" or key.endswith("_at") else []


def assert_iso_with_zone(found: list[tuple[str, Any]]) -> None:
    assert found
    for key, value in found:
        assert isinstance(value, str), f"{key} is {value!r}, not an ISO 8601 time"
        parsed = datetime.fromisoformat(value)
        assert parsed.utcoffset() == timedelta(0), f"{key} = {value} has no UTC zone"


async def read_json(client: Client, uri: str) -> Any:
    return json.loads(getattr((await client.read_resource(uri)).contents[0], "text", ""))


async def test_every_time_in_results_and_resources_is_iso_8601_with_a_zone(client: Client) -> None:
    job = data_of(await client.call_tool("generate_video", {"prompt": "Fog rolling over a pine ridge, drone"}))
    done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
    assert done["status"] == "completed"
    status = data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))
    listed = data_of(await client.call_tool("list_videos", {}))
    one = await read_json(client, f"heygen://videos/{job['execution_id']}")
    every = await read_json(client, "heygen://videos")
    history = [change["at"] for change in one["history"]]
    assert len(history) >= 3 and history == sorted(history)  # the status history, in order
    for shown in (job, done, status, listed, one, every):
        assert_iso_with_zone(times_in(shown))
    text = (await client.call_tool("list_videos", {})).content[0]
    assert f"Submitted: {job['submitted_at']}" in getattr(text, "text", "")


async def test_an_unknown_execution_id_has_no_submission_time(client: Client) -> None:
    result = await client.call_tool("check_status", {"execution_id": "node-gw-never-sent"})
    assert data_of(result)["status"] == "not_found"
    assert data_of(result).get("submitted_at") is None


async def test_a_job_another_library_submitted_has_no_submission_time_here(
    make_settings: MakeSettings, tmp_path: Any, mode: str
) -> None:
    """Looked up by id from a second computer's server, the job is real but its submission time unknown: the
    time this server first saw it is not reported as when it was submitted."""
    async with Client(create_server(make_settings()), mode=mode) as first:
        job = data_of(await first.call_tool("generate_video", {"prompt": "Koi circling in a stone pond"}))
        assert job["submitted_at"]
    other = make_settings(output_dir=tmp_path / "elsewhere")
    async with Client(create_server(other), mode=mode) as second:
        seen = data_of(await second.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        assert seen["status"] == "completed"
        assert seen.get("submitted_at") is None
        one = await read_json(second, f"heygen://videos/{job['execution_id']}")
        assert one["video"]["submitted_at"] is None
        assert_iso_with_zone(times_in(one["history"]))


async def test_resources_and_prompts_carry_titles_and_descriptions(client: Client) -> None:
    resources = (await client.list_resources()).resources
    templates = (await client.list_resource_templates()).resource_templates
    prompts = (await client.list_prompts()).prompts
    # The player page (MCP Apps) is a resource too, which hosts read when a bound tool's result comes.
    assert {r.uri for r in resources} == {"heygen://providers", "heygen://videos", PLAYER_URI}
    assert [t.uri_template for t in templates] == ["heygen://videos/{execution_id}"]
    items: list[Resource | ResourceTemplate | Prompt] = [*resources, *templates, *prompts]
    for item in items:
        assert item.title and item.description and len(item.description) > 30, item.name
    for prompt in prompts:
        for argument in prompt.arguments or []:
            assert argument.description, f"{prompt.name}.{argument.name}"


async def complete(client: Client, prompt: str, argument: str, typed: str = "") -> list[str]:
    result = await client.complete(PromptReference(type="ref/prompt", name=prompt), {"name": argument, "value": typed})
    assert result.completion.total in (None, len(result.completion.values))
    return result.completion.values


async def test_prompt_arguments_with_fixed_values_offer_completions(client: Client) -> None:
    for prompt in ("cinematic_video", "animate_product_photo", "social_vertical_video"):
        assert await complete(client, prompt, "provider") == list(PROVIDER_VALUES)
    assert await complete(client, "cinematic_video", "aspect_ratio") == list(COMMON_ASPECT_RATIOS)
    assert await complete(client, "animate_product_photo", "aspect_ratio", "9:") == ["9:16"]
    kling = await complete(client, "cinematic_video", "provider", "KLING")
    assert kling and all(value.startswith("kling") for value in kling)
    assert await complete(client, "social_vertical_video", "platform", "tik") == ["TikTok"]
    assert (await complete(client, "social_vertical_video", "platform", "reels"))[:2] == [
        "Instagram Reels",
        "Facebook Reels",
    ]
    # Free text and arguments a prompt does not have get nothing; so does a typo.
    assert await complete(client, "cinematic_video", "idea", "a") == []
    assert await complete(client, "social_vertical_video", "aspect_ratio") == []
    assert await complete(client, "cinematic_video", "provider", "zz") == []
    template = ResourceTemplateReference(type="ref/resource", uri="heygen://videos/{execution_id}")
    assert (await client.complete(template, {"name": "execution_id", "value": ""})).completion.values == []


async def test_completions_are_announced(client: Client) -> None:
    assert client.server_capabilities.completions is not None


async def test_following_a_video_is_read_only_at_heygen(client: Client) -> None:
    """check_status and wait_for_video spend and change nothing at HeyGen; the README says they save the
    finished video to the output folder as they see it."""
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("check_status", "wait_for_video"):
        hints = tools[name].annotations
        assert hints is not None
        assert hints.read_only_hint is True and hints.destructive_hint is not True and hints.idempotent_hint is True
    readme = " ".join((REPO / "README.md").read_text().split())
    assert (
        "read-only in the MCP sense" in readme
        and "saved to the output folder (`HEYGEN_OUTPUT_DIR`) as it is seen" in readme
    )
