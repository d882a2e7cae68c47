"""The server's log at DEBUG, over stdio as a client starts it: it may show what happened, but never a
signed video link's signature or expiry, nor the API key."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Fault, Sandbox

from .conftest import API_KEY, data_of, text_of
from .test_stdio import server_params

pytestmark = pytest.mark.anyio


# Where a CDN in front of the video bucket sends the download: a CloudFront-style signed URL.
CDN_SIGNATURE = "Zm9vYmFyLXNpZ25lZC1ieS1jZG4"


async def test_a_debug_log_holds_no_signed_link_or_key(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    cdn = f"{sandbox.base_url}/videos/elsewhere.mp4?Expires=1999999999&Signature={CDN_SIGNATURE}&Key-Pair-Id=K2AB"
    sandbox.inject("video", Fault.redirect(cdn))
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        params = server_params(sandbox, tmp_path, HEYGEN_LOG_LEVEL="DEBUG")
        async with Client(stdio_client(params, errlog=errlog)) as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": "Rain on a neon street, handheld"}))
            result = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            video = data_of(result)
            assert video["status"] == "completed", text_of(result)
            assert data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))["video_url"]
    log = stderr.read_text()
    assert "DEBUG" in log  # the level took effect, so the checks below mean something
    assert "location" in log  # the redirect's header was logged, as httpcore2 does at DEBUG...
    assert CDN_SIGNATURE not in log and "1999999999" not in log  # ...without its signature
    signed = parse_qs(urlsplit(video["video_url"]).query)
    for token in (signed["signature"][0], signed["expires"][0]):
        assert token not in log
    assert not re.search(r"(signature|expires)=(?!<redacted>)", log, re.IGNORECASE)
    assert API_KEY not in log
