"""Local images: generate_video(reference_image_path=...) uploads the file through POST /v3/assets (stdio mode
only), after checking its size and type, and gives HeyGen the asset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import routes

from .conftest import data_of, text_of
from .httpserver import connect, http_server
from .test_cli import Run, run  # noqa: F401  (the command line, as a person runs it)

pytestmark = pytest.mark.anyio

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
PROMPT = "The product on a turntable, soft studio light, slow orbit"


def created(sandbox: Sandbox) -> list[Any]:
    return [r.json for r in sandbox.requests if r.route == "create"]


def uploads(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.path == routes.ASSETS)


async def make(client: Client, image: Path, provider: str = "video_agent", **extra: Any) -> Any:
    arguments = {"prompt": PROMPT, "provider": provider, "reference_image_path": str(image), **extra}
    return await client.call_tool("generate_video", arguments)


async def test_the_video_agent_gets_the_uploaded_file_as_an_asset(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    image = tmp_path / "product.png"
    image.write_bytes(PNG)
    result = await make(client, image)
    assert not result.is_error, text_of(result)
    ((asset_id, stored),) = sandbox.assets.items()
    assert stored == (PNG, "image/png")
    assert created(sandbox)[0]["files"] == [{"type": "asset_id", "asset_id": asset_id}]


async def test_the_executions_api_gets_the_assets_url(client: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    image = tmp_path / "photo.jpg"
    image.write_bytes(JPEG)
    result = await make(client, image, provider="veo_3_1")
    assert not result.is_error, text_of(result)
    ((asset_id, stored),) = sandbox.assets.items()
    assert stored == (JPEG, "image/jpeg")
    assert created(sandbox)[0]["input"]["reference_image_url"] == sandbox.asset_url(asset_id)


async def test_the_same_picture_under_another_name_is_the_same_request(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    first, copy, other = tmp_path / "a.png", tmp_path / "copy-of-a.png", tmp_path / "b.png"
    first.write_bytes(PNG)
    copy.write_bytes(PNG)
    other.write_bytes(PNG + b"another picture")
    made = data_of(await make(client, first))
    again = data_of(await make(client, copy))
    assert again["duplicate"] is True and again["execution_id"] == made["execution_id"]
    assert uploads(sandbox) == 1 and len(created(sandbox)) == 1  # neither uploaded nor bought twice
    assert data_of(await make(client, other))["execution_id"] != made["execution_id"]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.png", b"just some text, not a picture", "PNG or JPEG"),
        ("anim.gif", b"GIF89a" + bytes(64), "PNG or JPEG"),
        ("empty.png", b"", "PNG or JPEG"),
        ("huge.png", None, "32 MB"),
        ("missing.png", "absent", "no file"),
        ("folder", "folder", "no file"),
    ],
)
async def test_a_file_that_cannot_be_used_is_refused_before_anything_is_sent(
    client: Client, sandbox: Sandbox, tmp_path: Path, name: str, content: bytes | str | None, says: str
) -> None:
    image = tmp_path / name
    if content is None:  # a sparse file over the limit, with a PNG's first bytes
        with image.open("wb") as file:
            file.write(PNG[:8])
            file.truncate(33_000_001)
    elif content == "folder":
        image.mkdir()
    elif isinstance(content, bytes):
        image.write_bytes(content)
    result = await make(client, image)
    assert result.is_error and data_of(result)["error"] == "invalid_input", text_of(result)
    assert says in text_of(result) and str(image.name) in text_of(result)
    assert sandbox.requests == []


async def test_a_path_and_a_url_together_are_refused(client: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    result = await make(client, image, reference_image_url="https://example.com/a.png")
    assert result.is_error and data_of(result)["error"] == "invalid_input", text_of(result)
    assert "reference_image_url" in text_of(result) and sandbox.requests == []


async def test_remote_mode_refuses_a_local_path(sandbox: Sandbox, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    sandbox.reset()
    with http_server(sandbox, tmp_path) as server:
        async with connect(server.url, "legacy") as client:
            result = await make(client, image)
    assert result.is_error and data_of(result)["error"] == "invalid_input", text_of(result)
    assert "remote" in text_of(result) and "reference_image_url" in text_of(result)
    assert [r for r in sandbox.requests if r.route != "other"] == [] and uploads(sandbox) == 0


def test_the_command_line_takes_a_local_image(
    run: Run,  # noqa: F811
    sandbox: Sandbox,
    tmp_path: Path,
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(PNG)
    done = run("generate", PROMPT, "--provider", "video_agent", "--reference-image-path", str(image), "--json")
    assert done.returncode == 0, done.stderr
    ((asset_id, _),) = sandbox.assets.items()
    assert created(sandbox)[0]["files"] == [{"type": "asset_id", "asset_id": asset_id}]
    assert json.loads(done.stdout)["execution_id"].startswith("video_agent:")
