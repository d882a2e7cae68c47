"""Image URLs that HeyGen would fetch from this machine's or its network's addresses (a cloud metadata
service, a router, a private service) are refused before anything is sent. Loopback is allowed only while
HeyGen itself is on loopback, as the sandbox is."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Sandbox
from tests.conftest import MakeSettings, data_of, text_of

pytestmark = pytest.mark.anyio

NEVER = [
    "http://169.254.169.254/latest/meta-data/iam/photo.png",  # cloud metadata
    "http://[::ffff:169.254.169.254]/photo.png",
    "http://[fe80::1%25eth0]/photo.png",  # link-local, with a zone
    "http://10.0.0.5/photo.png",
    "https://192.168.1.1/photo.png",
    "http://172.16.3.4:8080/photo.png",
    "http://100.64.0.1/photo.png",  # carrier-grade NAT
    "http://0.0.0.0/photo.png",
    "http://[fd00::5]/photo.png",  # unique local IPv6
    "http://0xa9.254.169.254/photo.png",  # the metadata address written in hex, as curl reads it
    "http://printer.local/photo.png",
    "http://metadata.google.internal/computeMetadata/photo.png",
    "http://router.home.arpa/photo.png",
    "http://intranet/photo.png",  # one label: only a local search domain resolves it
]
LOOPBACK = [
    "http://127.0.0.1:9/photo.png",
    "http://[::1]/photo.png",
    "http://localhost/photo.png",
    "http://a.localhost/p",
]


@pytest.mark.parametrize("url", NEVER)
@pytest.mark.parametrize("field", ["reference_image_url", "tail_image_url"])
async def test_local_image_hosts_are_refused(client: Client, sandbox: Sandbox, url: str, field: str) -> None:
    before = len(sandbox.requests)
    result = await client.call_tool("generate_video", {"prompt": "A kite", "provider": "kling_pro", field: url})
    data = data_of(result)
    assert result.is_error and data["error"] == "invalid_input", text_of(result)
    assert field in data["message"] and "public" in data["message"], data["message"]
    assert len(sandbox.requests) == before


async def test_loopback_images_are_allowed_beside_a_loopback_heygen(client: Client) -> None:
    for url in LOOPBACK:
        result = await client.call_tool("generate_video", {"prompt": f"A kite {url}", "reference_image_url": url})
        assert not result.is_error, text_of(result)


async def test_loopback_images_are_refused_when_heygen_is_not_local(make_settings: MakeSettings) -> None:
    seen: list[str] = []

    def heygen(request: httpx2.Request) -> httpx2.Response:
        seen.append(str(request.url))
        return httpx2.Response(400, json={"error": {"message": "stop here"}})

    settings = make_settings(api_base_url="https://api.heygen.com")
    async with Client(create_server(settings, transport=httpx2.MockTransport(heygen))) as client:
        for url in LOOPBACK:
            result = await client.call_tool("generate_video", {"prompt": "A kite", "reference_image_url": url})
            assert data_of(result)["error"] == "invalid_input", text_of(result)
        assert seen == []
        # A public image goes through (to this stand-in for HeyGen), so the refusals above were the check's.
        await client.call_tool(
            "generate_video", {"prompt": "A kite", "reference_image_url": "https://cdn.example/p.png"}
        )
        assert len(seen) == 1
