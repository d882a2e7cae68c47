"""A server killed while HeyGen holds its submission's answer: the row it left `submitting` is known for
what it is (HeyGen may have made the video), on SQLite and PostgreSQL, and no identical request waits on
it or buys a second video without allow_duplicate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from tests.conftest import BACKENDS, REPO, MakeSettings, data_of, on_backend, text_of

pytestmark = pytest.mark.anyio

PROMPT = "A lighthouse keeper climbing stairs at night, lantern light"

# A server process that submits one video; it is killed while HeyGen holds the answer.
DOOMED = """
import sys
import anyio
from mcp import Client
from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings

settings = Settings.model_validate_json(sys.argv[1])

async def main() -> None:
    async with Client(create_server(settings)) as client:
        await client.call_tool("generate_video", {"prompt": sys.argv[2]})

anyio.run(main)
"""


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    return on_backend(request, make_settings)


@pytest.fixture
def killed_mid_submission(make_settings: MakeSettings, sandbox: Sandbox) -> Iterator[None]:
    """A server process SIGKILLed after HeyGen made the job and before its answer came back."""
    settings = make_settings(read_timeout=30.0)
    values: dict[str, Any] = settings.model_dump(mode="json")
    values["api_key"] = settings.api_key.get_secret_value() if settings.api_key else None
    if settings.database_url is not None:
        values["database_url"] = settings.database_url.get_secret_value()
    sandbox.inject("create", Fault(after=True, delay=20.0))
    doomed = subprocess.Popen(
        [sys.executable, "-c", DOOMED, json.dumps(values), PROMPT],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while sandbox.count("create") == 0:
            assert doomed.poll() is None and time.monotonic() < deadline, "the submission never reached HeyGen"
            time.sleep(0.01)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
    yield


async def test_the_killed_servers_submission_is_listed_as_uncertain(
    killed_mid_submission: None, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    async with Client(create_server(make_settings())) as client:
        listed = data_of(await client.call_tool("list_videos", {}))
    [video] = listed["videos"]
    assert video["prompt"] == PROMPT and video["execution_id"] is None
    assert video["status"] == "submit_uncertain", video
    assert "dashboard" in video["next_step"], video


async def test_an_identical_request_answers_uncertain_at_once_and_buys_nothing(
    killed_mid_submission: None, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    async with Client(create_server(make_settings())) as client:
        again = await client.call_tool("generate_video", {"prompt": PROMPT})
    assert again.is_error and data_of(again)["error"] == "duplicate_uncertain", text_of(again)
    assert "dashboard" in text_of(again)
    assert sandbox.count("create") == 1


async def test_past_the_duplicate_window_it_still_asks_before_buying_again(
    killed_mid_submission: None, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    async with Client(create_server(make_settings(duplicate_window=0.5))) as client:
        await anyio.sleep(0.6)  # the killed submission is now older than the window
        again = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert again.is_error and data_of(again)["error"] == "duplicate_uncertain", text_of(again)
        assert sandbox.count("create") == 1
        bought = await client.call_tool("generate_video", {"prompt": PROMPT, "allow_duplicate": True})
        assert not bought.is_error, text_of(bought)
    assert sandbox.count("create") == 2
