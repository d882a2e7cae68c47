"""Batch status reads: a tenant's followed Video Agent videos are read together through
GET /v3/videos/statuses, and each video's own GET comes only once it is completed, for its URL."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from mcp import Client

from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import routes

from .conftest import data_of, text_of

pytestmark = pytest.mark.anyio


async def test_video_agent_renders_are_read_together_and_each_video_once_for_its_url(
    client: Client, sandbox: Sandbox
) -> None:
    requests = [{"prompt": f"A chef explains recipe {n} in one minute", "provider": "video_agent"} for n in range(5)]
    made = data_of(await client.call_tool("generate_videos", {"requests": requests}))
    ids = [item["video"]["execution_id"] for item in made["results"]]
    pending = list(ids)
    while pending:
        result = await client.call_tool("wait_for_videos", {"execution_ids": pending})
        items = data_of(result)["results"]
        pending = [i for i, item in zip(pending, items, strict=True) if not item["video"]["done"]]
        assert all(item["ok"] for item in items), text_of(result)
    batches = [
        parse_qs(r.query)["video_ids"][0].split(",") for r in sandbox.requests if r.path == routes.VIDEO_STATUSES
    ]
    assert batches and max(len(batch) for batch in batches) >= 2, batches  # reads were shared
    own = [r.path for r in sandbox.requests if r.route == "status" and r.path.startswith(routes.VIDEOS + "/")]
    own = [path for path in own if path != routes.VIDEO_STATUSES]
    assert sorted(own) == sorted(routes.status_path(i) for i in ids)  # one each, for the URL of the finished video
