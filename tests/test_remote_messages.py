"""A remote caller is told what went wrong without the server's paths or database URL, which are its
operator's business (the server's log keeps them); over stdio the user is the operator and sees them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Sandbox
from tests.postgres_server import PostgresServer

from .conftest import data_of, text_of
from .httpserver import connect, http_server
from .test_stdio import server_params

pytestmark = pytest.mark.anyio

OUTSIDE = {"execution_id": "node-gw-v1d2e3o4", "directory": "../../elsewhere"}


async def test_a_remote_caller_is_not_told_server_paths(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    with http_server(sandbox, tmp_path) as server:
        async with connect(server.url, "legacy") as client:
            result = await client.call_tool("download_video", OUTSIDE)
            error = data_of(result)
        log = server.stderr()
    assert error["error"] == "invalid_input" and "outside the output folder" in error["message"], error
    assert str(tmp_path) not in text_of(result) and str(tmp_path) not in str(error)
    assert str(tmp_path / "videos") in log  # the operator's log keeps the detail


async def test_a_local_caller_is_told_the_folder(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(server_params(sandbox, tmp_path), errlog=errlog)) as client:
            result = await client.call_tool("download_video", OUTSIDE)
    assert str((tmp_path / "videos").resolve()) in text_of(result)


async def test_a_remote_caller_is_not_told_the_database(
    sandbox: Sandbox, tmp_path: Path, postgres: PostgresServer, database_url: str
) -> None:
    sandbox.reset()
    name = database_url.rsplit("/", 1)[1]
    with http_server(sandbox, tmp_path, HEYGEN_DATABASE_URL=database_url) as server:
        async with connect(server.url, "legacy") as client:
            assert not (await client.call_tool("list_videos", {})).is_error
            postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")
            postgres.execute(f"CREATE DATABASE {name}")  # empty: the library's tables are gone
            result = await client.call_tool("list_videos", {})
        log = server.stderr()
    error = data_of(result)
    assert result.is_error and error["error"] == "library_error", text_of(result)
    assert "postgresql" not in text_of(result).lower() and "127.0.0.1" not in text_of(result), text_of(result)
    assert name not in str(error) and "server's log" in error["message"]
    assert f"127.0.0.1:{postgres.port}/{name}" in log


async def test_a_failed_save_is_told_to_a_remote_caller_without_the_folder(sandbox: Sandbox, tmp_path: Path) -> None:
    """A finished video whose save failed is a success with `download_error`: that text names no server path."""
    sandbox.reset()
    elsewhere = tmp_path / "elsewhere"
    library = str(tmp_path / "library.sqlite3")
    with http_server(
        sandbox, tmp_path, HEYGEN_OUTPUT_DIR=str(elsewhere / "videos"), HEYGEN_LIBRARY_PATH=library
    ) as server:
        shutil.rmtree(elsewhere / "videos", ignore_errors=True)
        elsewhere.mkdir(exist_ok=True)
        (elsewhere / "videos").write_text("not a folder")  # so the save cannot make it
        async with connect(server.url, "legacy") as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": "A red kite over a grey sea, wide"}))
            while not (done := data_of(await client.call_tool("wait_for_video", {**job, "max_wait_seconds": 5})))[
                "done"
            ]:
                pass
            checked = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
        log = server.stderr()
    data = data_of(checked)
    assert data["status"] == "completed" and data["download_error"], data
    for text in (text_of(checked), str(data), str(done)):
        assert str(elsewhere) not in text, text
    assert str(elsewhere) in log
