"""Saving finished videos through the MCP tools, against the sandbox over real HTTP.

A saved file is always the whole video, under a safe name, inside the folder the user meant; a failed or
bogus download leaves nothing behind, and an existing file is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from mcp import Client
from mcp.types import CallToolResult, ResourceLink

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.server.sandbox.app import HTML_PAGE
from heygen_video_mcp.tools.routes import status_path
from tests.conftest import MakeSettings, data_of, text_of

pytestmark = pytest.mark.anyio

PROMPT = "A hummingbird hovering at a red flower, macro shot, shallow depth of field, morning light"


async def finished(client: Client, **arguments: Any) -> CallToolResult:
    """Submit a prompt and wait for it: the wait_for_video result."""
    created = await client.call_tool("generate_video", {"prompt": PROMPT, **arguments})
    assert not created.is_error, text_of(created)
    execution_id = data_of(created)["execution_id"]
    result = await client.call_tool("wait_for_video", {"execution_id": execution_id, "max_wait_seconds": 10})
    assert data_of(result)["status"] == "completed", text_of(result)
    return result


def leftovers(directory: Path) -> list[str]:
    """Video files and partial downloads in a folder (the library's own SQLite files do not count)."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.suffix in (".mp4", ".part") or ".part" in p.name)


def tree(root: Path) -> set[Path]:
    """Everything under `root` but the library's SQLite files (whose -wal and -shm come and go)."""
    return {p.relative_to(root) for p in root.rglob("*") if not p.name.startswith("heygen-library.sqlite3")}


@pytest.fixture
async def unsaved(make_settings: MakeSettings, mode: str) -> AsyncIterator[Client]:
    """A client of a server that does not save videos by itself, so each test chooses how to save."""
    async with Client(create_server(make_settings(download=False)), mode=mode) as client:
        yield client


async def test_completed_video_is_saved_whole_and_linked(
    client: Client, settings: Settings, sandbox: Sandbox, provider: str
) -> None:
    result = await finished(client, provider=provider)
    data = data_of(result)
    assert not result.is_error
    local = Path(data["local_path"])
    assert local.is_absolute()
    assert local.parent == settings.output_dir.resolve()
    # The id names the file (a Video Agent id's ':' as '-', which some file systems refuse).
    assert local.suffix == ".mp4" and data["execution_id"].replace(":", "-") in local.name and ":" not in local.name
    assert local.read_bytes() == sandbox.video_bytes(data["video_id"])
    assert str(local) in text_of(result)

    links = [block for block in result.content if isinstance(block, ResourceLink)]
    assert len(links) == 1
    link = links[0]
    assert str(link.uri) == local.as_uri()
    assert urlsplit(str(link.uri)).scheme == "file"
    assert link.mime_type == "video/mp4"
    assert link.size == local.stat().st_size

    fetches = [r for r in sandbox.requests if r.route == "video" and data["video_id"] in r.path]
    assert len(fetches) == 1
    assert "x-api-key" not in fetches[0].headers  # the pre-signed link never receives the API key
    # The API itself did get the key, so the header check above is not vacuous.
    statuses = [r for r in sandbox.requests if r.route == "status" and r.path == status_path(data["execution_id"])]
    assert statuses and all(r.headers.get("x-api-key") == "<match>" for r in statuses)
    assert leftovers(settings.output_dir) == [local.name]


async def test_saved_video_is_not_fetched_again(
    client: Client, settings: Settings, sandbox: Sandbox, provider: str
) -> None:
    data = data_of(await finished(client, provider=provider))
    fetched = sandbox.count("video")
    again = await client.call_tool("download_video", {"execution_id": data["execution_id"]})
    assert not again.is_error, text_of(again)
    assert data_of(again)["local_path"] == data["local_path"]
    checked = await client.call_tool("check_status", {"execution_id": data["execution_id"]})
    assert data_of(checked)["local_path"] == data["local_path"]
    assert sandbox.count("video") == fetched
    assert leftovers(settings.output_dir) == [Path(data["local_path"]).name]


async def test_truncated_download_is_reported_then_retried(
    client: Client, settings: Settings, sandbox: Sandbox, provider: str
) -> None:
    sandbox.inject("video", Fault(truncate_at=1000))
    result = await finished(client, provider=provider)
    data = data_of(result)
    assert not result.is_error  # the video exists at HeyGen: the job is done, only saving failed
    assert data["done"] is True
    assert data["local_path"] is None
    assert data["download_error"]
    assert data["video_url"]  # the user still gets the temporary link
    assert "download_video" in data["next_step"]
    assert not any(isinstance(block, ResourceLink) for block in result.content)
    # No video is published; only the hidden partial download stays, for the retry to resume.
    assert [name for name in leftovers(settings.output_dir) if not name.endswith(".part")] == []

    saved = await client.call_tool("download_video", {"execution_id": data["execution_id"]})
    assert not saved.is_error, text_of(saved)
    local = Path(data_of(saved)["local_path"])
    assert local.read_bytes() == sandbox.video_bytes(data["video_id"])
    assert data_of(saved)["download_error"] is None
    assert leftovers(settings.output_dir) == [local.name]


@pytest.mark.parametrize(
    "fault",
    [Fault.html(), Fault(status=200, body=HTML_PAGE, content_type="video/mp4")],
    ids=["html", "html-labelled-mp4"],
)
async def test_html_page_is_never_saved_as_a_video(
    unsaved: Client, make_settings: MakeSettings, sandbox: Sandbox, fault: Fault
) -> None:
    output_dir = make_settings().output_dir
    data = data_of(await finished(unsaved))
    sandbox.inject("video", fault)
    result = await unsaved.call_tool("download_video", {"execution_id": data["execution_id"]})
    assert result.is_error
    text = text_of(result)
    assert "nothing was saved" in text
    assert "video" in text.lower()
    assert data["execution_id"] in text
    assert leftovers(output_dir) == []


HOSTILE_NAMES = ("../evil.mp4", "/etc/passwd", "..", "a/b.mp4", "~x", "..\\evil.mp4", " ")


async def test_hostile_filenames_are_refused(unsaved: Client, tmp_path: Path) -> None:
    data = data_of(await finished(unsaved))
    before = tree(tmp_path)
    target = tmp_path / "target"
    for name in (*HOSTILE_NAMES, str(tmp_path / "outside.mp4")):
        result = await unsaved.call_tool(
            "download_video", {"execution_id": data["execution_id"], "directory": str(target), "filename": name}
        )
        assert result.is_error, name
        assert "plain file name" in text_of(result), name
    assert tree(tmp_path) == before  # nothing written anywhere under the test's folder...
    assert not (tmp_path.parent / "evil.mp4").exists()  # ...nor above it
    assert not Path("/etc/passwd-2").exists() and not Path("/etc/passwd.mp4").exists()
    assert not (Path.cwd() / "~x.mp4").exists()


async def test_odd_characters_are_cleaned_inside_the_folder(unsaved: Client, tmp_path: Path, sandbox: Sandbox) -> None:
    data = data_of(await finished(unsaved))
    target = tmp_path / "clips"
    result = await unsaved.call_tool(
        "download_video",
        {"execution_id": data["execution_id"], "directory": str(target), "filename": 'my clip: "best"?.mp4'},
    )
    assert not result.is_error, text_of(result)
    local = Path(data_of(result)["local_path"])
    assert local.parent == target.resolve()
    assert local.suffix == ".mp4"
    assert not set(':"?') & set(local.name)
    assert local.name.startswith("my clip")
    assert local.read_bytes() == sandbox.video_bytes(data["video_id"])
    assert [p.name for p in target.iterdir()] == [local.name]


async def test_directory_argument_saves_there(
    unsaved: Client, make_settings: MakeSettings, tmp_path: Path, sandbox: Sandbox
) -> None:
    data = data_of(await finished(unsaved))
    target = tmp_path / "deep" / "new folder"
    result = await unsaved.call_tool(
        "download_video", {"execution_id": data["execution_id"], "directory": str(target), "filename": "bird.mp4"}
    )
    assert not result.is_error, text_of(result)
    assert data_of(result)["local_path"] == str(target.resolve() / "bird.mp4")
    assert (target / "bird.mp4").read_bytes() == sandbox.video_bytes(data["video_id"])
    assert leftovers(make_settings().output_dir) == []
    links = [block for block in result.content if isinstance(block, ResourceLink)]
    assert [str(link.uri) for link in links] == [(target.resolve() / "bird.mp4").as_uri()]


async def test_existing_files_are_never_overwritten(unsaved: Client, tmp_path: Path, sandbox: Sandbox) -> None:
    data = data_of(await finished(unsaved))
    target = tmp_path / "mine"
    target.mkdir()
    precious = target / "keep.mp4"
    precious.write_bytes(b"the user's own video")
    arguments = {"execution_id": data["execution_id"], "directory": str(target), "filename": "keep.mp4"}

    first = await unsaved.call_tool("download_video", arguments)
    second = await unsaved.call_tool("download_video", arguments)
    assert not first.is_error and not second.is_error, (text_of(first), text_of(second))
    assert Path(data_of(first)["local_path"]) == target.resolve() / "keep-2.mp4"
    assert Path(data_of(second)["local_path"]) == target.resolve() / "keep-3.mp4"
    assert precious.read_bytes() == b"the user's own video"
    video = sandbox.video_bytes(data["video_id"])
    assert (target / "keep-2.mp4").read_bytes() == video
    assert (target / "keep-3.mp4").read_bytes() == video
    assert sorted(p.name for p in target.iterdir()) == ["keep-2.mp4", "keep-3.mp4", "keep.mp4"]


async def test_unwritable_directory_is_a_clear_error(unsaved: Client, tmp_path: Path) -> None:
    data = data_of(await finished(unsaved))
    blocker = tmp_path / "afile"
    blocker.write_bytes(b"not a folder")
    before = tree(tmp_path)
    target = blocker / "sub"
    result = await unsaved.call_tool(
        "download_video", {"execution_id": data["execution_id"], "directory": str(target), "filename": "x.mp4"}
    )
    assert result.is_error
    text = text_of(result)
    assert str(target) in text
    assert "folder" in text.lower()
    assert tree(tmp_path) == before
    assert blocker.read_bytes() == b"not a folder"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs file permissions that bind (not root)")
async def test_read_only_directory_is_a_clear_error(unsaved: Client, tmp_path: Path) -> None:
    data = data_of(await finished(unsaved))
    target = tmp_path / "locked"
    target.mkdir()
    target.chmod(0o500)
    try:
        result = await unsaved.call_tool(
            "download_video", {"execution_id": data["execution_id"], "directory": str(target)}
        )
        assert result.is_error
        assert str(target) in text_of(result)
        assert list(target.iterdir()) == []
    finally:
        target.chmod(0o700)


async def test_download_of_unfinished_job_says_to_wait(unsaved: Client, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.set_render_seconds(60)  # still rendering when asked, however busy the machine is
    created = await unsaved.call_tool("generate_video", {"prompt": PROMPT})
    execution_id = data_of(created)["execution_id"]
    result = await unsaved.call_tool("download_video", {"execution_id": execution_id, "directory": str(tmp_path)})
    assert result.is_error
    assert "wait_for_video" in text_of(result)
    assert leftovers(tmp_path) == []


@pytest.mark.anyio
async def test_a_relative_directory_is_inside_the_output_folder(client: Client, settings: Settings) -> None:
    job = data_of(await client.call_tool("generate_video", {"prompt": "Snow falling on a red lantern, night"}))
    assert not (await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})).is_error
    result = await client.call_tool(
        "download_video", {"execution_id": job["execution_id"], "directory": "picks", "filename": "lantern"}
    )
    assert data_of(result)["local_path"] == str(settings.output_dir / "picks" / "lantern.mp4")
