"""generate_videos and wait_for_videos through mcp.Client, in memory and over stdio, both protocol eras,
against the sandbox: one result per item, and one item's failure never hides the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.batch import MAX_GENERATE, MAX_WAIT

from .conftest import API_KEY, MakeSettings, data_of, text_of
from .test_stdio import server_params

pytestmark = pytest.mark.anyio
LIGHTHOUSE = "A lighthouse on a cliff at dusk, slow dolly-in, stormy sky, cinematic"
LATTE = "Latte art poured in slow motion, warm morning light, macro lens"


async def test_a_mixed_batch_answers_every_item_and_buys_each_video_once(client: Client, sandbox: Sandbox) -> None:
    before = sandbox.count("create")
    result = await client.call_tool(
        "generate_videos",
        {
            "requests": [
                {"prompt": LIGHTHOUSE},
                {"prompt": LIGHTHOUSE, "provider": "veo4"},  # bad input
                {"prompt": "  " + LIGHTHOUSE + " "},  # the same video as the first: not bought twice
                {"prompt": LATTE, "aspect_ratio": "9:16", "provider": "ltx_distilled"},
                "a string, not a request",
                {"prompt": LATTE, "colour": "blue"},  # an unknown field
            ]
        },
    )
    assert not result.is_error, text_of(result)
    data = data_of(result)
    items = data["results"]
    assert [item["index"] for item in items] == [0, 1, 2, 3, 4, 5]
    assert [item["ok"] for item in items] == [True, False, True, True, False, False]
    assert (data["succeeded"], data["failed"]) == (3, 3)
    first, unknown, again, latte, text, colour = items
    assert first["video"]["status"] == "submitted" and "wait_for_videos" in data["next_step"]
    assert unknown["error"]["error"] == "invalid_input" and "ltx_distilled" in unknown["error"]["message"]
    assert again["video"]["execution_id"] == first["video"]["execution_id"]
    assert {first["video"]["duplicate"], again["video"]["duplicate"]} == {False, True}
    assert sandbox.jobs[latte["video"]["execution_id"]].input["aspect_ratio"] == "9:16"
    assert "request 4" in text["error"]["message"] and "colour" in colour["error"]["message"]
    assert sandbox.count("create") - before == 2
    assert "[1] Failed: provider 'veo4' is unknown" in text_of(result)


async def test_a_batch_with_nothing_valid_is_an_error_and_sends_nothing(client: Client, sandbox: Sandbox) -> None:
    before = len(sandbox.requests)
    result = await client.call_tool(
        "generate_videos", {"requests": [{"prompt": " "}, {"prompt": LATTE, "aspect_ratio": "wide"}]}
    )
    assert result.is_error and data_of(result)["failed"] == 2
    assert "prompt is empty" in text_of(result) and "16:9" in text_of(result)
    for too_many in ([], [{"prompt": LATTE}] * (MAX_GENERATE + 1)):
        refused = await client.call_tool("generate_videos", {"requests": too_many})
        assert refused.is_error and f"1 to {MAX_GENERATE}" in text_of(refused)
    assert len(sandbox.requests) == before


async def test_waiting_for_several_reports_each_one(client: Client, sandbox: Sandbox, settings: Any) -> None:
    made = data_of(await client.call_tool("generate_videos", {"requests": [{"prompt": LIGHTHOUSE}, {"prompt": LATTE}]}))
    ids = [item["video"]["execution_id"] for item in made["results"]]
    sandbox.next_outcome("failed", message="Prompt rejected by content moderation")
    failing = data_of(await client.call_tool("generate_video", {"prompt": "A storm over the sea, handheld"}))

    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = await client.call_tool(
        "wait_for_videos",
        {"execution_ids": [*ids, failing["execution_id"], "node-unknown-42", "../etc"]},
        progress_callback=on_progress,
    )
    assert not result.is_error, text_of(result)
    data = data_of(result)
    items = data["results"]
    assert [item["ok"] for item in items] == [True, True, False, False, False]
    for item, execution_id in zip(items[:2], ids, strict=True):
        video = item["video"]
        assert video["execution_id"] == execution_id and video["status"] == "completed"
        assert Path(video["local_path"]).read_bytes() == sandbox.video_bytes(video["video_id"])
    failed, unknown, malformed = items[2:]
    assert failed["video"]["status"] == "failed" and failed["video"]["error"] == "Prompt rejected by content moderation"
    assert unknown["video"]["status"] == "not_found"
    assert (
        malformed["error"]["error"] == "invalid_input" and "not a HeyGen execution id" in malformed["error"]["message"]
    )
    # One progress for the whole call: it never goes back, and ends with every job ended.
    assert seen and [p for p, *_ in seen] == sorted(p for p, *_ in seen)
    assert all(total == 5 for _, total, _ in seen) and seen[-1][0] == pytest.approx(4, abs=0.01)
    assert any(ids[0] in (message or "") for *_, message in seen)


async def test_a_heygen_error_for_one_id_leaves_the_others(client: Client, sandbox: Sandbox) -> None:
    done = data_of(await client.call_tool("generate_video", {"prompt": LIGHTHOUSE}))
    waited = data_of(await client.call_tool("wait_for_video", {"execution_id": done["execution_id"]}))
    assert waited["status"] == "completed"
    # The finished job needs no read; the one read made (of an id the library does not know) gets garbage.
    sandbox.inject("status", Fault.malformed(), times=10)
    result = await client.call_tool("wait_for_videos", {"execution_ids": [done["execution_id"], "node-elsewhere-7"]})
    assert not result.is_error, text_of(result)
    ok, broken = data_of(result)["results"]
    assert ok["ok"] and ok["video"]["local_path"] == waited["local_path"]
    assert not broken["ok"] and broken["error"]["execution_id"] == "node-elsewhere-7"
    assert broken["error"]["retryable"] is True


async def test_wait_for_videos_is_bounded(client: Client) -> None:
    for arguments, hint in (
        ({"execution_ids": ["node-1"], "max_wait_seconds": 3600}, "between 1 and"),
        ({"execution_ids": []}, f"1 to {MAX_WAIT}"),
        ({"execution_ids": [f"node-{i}" for i in range(MAX_WAIT + 1)]}, f"1 to {MAX_WAIT}"),
    ):
        result = await client.call_tool("wait_for_videos", arguments)
        assert result.is_error and hint in text_of(result), arguments


async def test_still_rendering_is_reported_per_id(make_settings: MakeSettings, mode: str) -> None:
    with Sandbox(api_key=API_KEY, render_seconds=30) as slow:
        async with Client(create_server(make_settings(api_base_url=slow.base_url)), mode=mode) as client:
            made = data_of(await client.call_tool("generate_videos", {"requests": [{"prompt": LATTE}]}))
            execution_id = made["results"][0]["video"]["execution_id"]
            result = await client.call_tool(
                "wait_for_videos", {"execution_ids": [execution_id], "max_wait_seconds": 0.5}
            )
            (item,) = data_of(result)["results"]
            assert item["ok"] and item["video"]["done"] is False and item["video"]["waited_seconds"] >= 0.5


async def test_batches_over_stdio(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.reset()
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(server_params(sandbox, tmp_path), errlog=errlog), mode=mode) as client:
            made = await client.call_tool(
                "generate_videos", {"requests": [{"prompt": LIGHTHOUSE}, {"prompt": LATTE}, {"prompt": LATTE}]}
            )
            items = data_of(made)["results"]
            assert all(item["ok"] for item in items) and sandbox.count("create") == 2
            ids = [item["video"]["execution_id"] for item in items]
            assert ids[1] == ids[2]
            result = await client.call_tool("wait_for_videos", {"execution_ids": [ids[0], ids[1], "a/b"]})
            waited = data_of(result)["results"]
            assert [item["ok"] for item in waited] == [True, True, False]
            assert all(Path(item["video"]["local_path"]).is_file() for item in waited[:2])
