"""The installed console script as a real stdio subprocess, driven by mcp.Client in both protocol eras,
exactly as Claude Desktop starts it."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY, data_of, text_of
from .test_tools import BAD_INPUTS, FAULTS, TOOLS, check_bad_input, check_fault, check_prompts

pytestmark = pytest.mark.anyio


def console_script() -> str:
    """The `heygen-video-mcp` that pip installed next to this interpreter."""
    found = shutil.which("heygen-video-mcp", path=str(Path(sys.executable).parent)) or shutil.which("heygen-video-mcp")
    assert found, "the package is not installed: pip install -e '.[test]'"
    return found


def server_params(sandbox: Sandbox, tmp_path: Path, **env: str) -> StdioServerParameters:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    base |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_POLL_INTERVAL": "0.1",
        "HEYGEN_WAIT_SECONDS": "10",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
    }
    return StdioServerParameters(command=console_script(), args=[], env=base | env)


async def test_generate_and_wait_over_stdio(sandbox: Sandbox, tmp_path: Path, mode: str, provider: str) -> None:
    sandbox.reset()
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as errlog:
        async with Client(stdio_client(server_params(sandbox, tmp_path), errlog=errlog), mode=mode) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert {"generate_video", "check_status", "wait_for_video", "list_providers"} <= names

            job = data_of(
                await client.call_tool(
                    "generate_video", {"prompt": "Rain on a neon street, handheld", "provider": provider}
                )
            )
            messages: list[str] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                messages.append(message or "")

            result = await client.call_tool(
                "wait_for_video", {"execution_id": job["execution_id"]}, progress_callback=on_progress
            )
            video = data_of(result)
            assert video["status"] == "completed", text_of(result)
            assert messages and "completed" in messages[-1]
            path = Path(video["local_path"])
            assert path.read_bytes() == sandbox.video_bytes(video["video_id"])

            bad = await client.call_tool("check_status", {"execution_id": "../../etc"})
            assert bad.is_error and "not a HeyGen execution id" in text_of(bad)

            prompt = await client.get_prompt("social_vertical_video", {"idea": "sunrise yoga"})
            assert "9:16" in getattr(prompt.messages[0].content, "text", "")
            listed = await client.read_resource(f"heygen://videos/{job['execution_id']}")
            assert '"completed"' in getattr(listed.contents[0], "text", "")
    assert API_KEY not in stderr.read_text()


async def test_server_starts_without_a_key(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    params = server_params(sandbox, tmp_path)
    assert params.env is not None
    params.env.pop("HEYGEN_API_KEY")
    async with Client(params, mode=mode) as client:
        assert not (await client.call_tool("list_providers", {})).is_error
        result = await client.call_tool("generate_video", {"prompt": "A quiet forest at dawn"})
        assert result.is_error and "HEYGEN_API_KEY" in text_of(result)


async def test_bad_configuration_is_reported_at_start(sandbox: Sandbox, tmp_path: Path) -> None:
    import subprocess

    params = server_params(sandbox, tmp_path, HEYGEN_WAIT_SECONDS="600")
    done = subprocess.run(  # noqa: ASYNC221 (a short, bounded child process)
        [params.command], env=params.env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "HEYGEN_WAIT_SECONDS" in done.stderr


async def test_every_tool_prompt_and_fault_over_stdio(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    """The in-memory tables, replayed through one real stdio server process."""
    sandbox.reset()
    params = server_params(sandbox, tmp_path, HEYGEN_MAX_RETRIES="1")
    async with Client(params, mode=mode) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        await check_prompts(client)
        for tool, arguments, hint in BAD_INPUTS:
            await check_bad_input(client, sandbox, tool, arguments, hint)
        for route, fault, hint in FAULTS:
            await check_fault(client, sandbox, route, fault, hint)

        catalog = data_of(await client.call_tool("list_providers", {}))
        # The contract's 13 model providers, and HeyGen's v3 Video Agent.
        assert len(catalog["providers"]) == 14 and catalog["providers"][-1]["backend"] == "video_agent"
        job = data_of(
            await client.call_tool("generate_video", {"prompt": "Steam rising from a cup, macro, soft light"})
        )
        done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        assert done["status"] == "completed"
        assert data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))["done"]
        copy = data_of(
            await client.call_tool(
                "download_video",
                {"execution_id": job["execution_id"], "directory": str(tmp_path / "copies"), "filename": "cup.mp4"},
            )
        )
        assert copy["local_path"] == str(tmp_path / "copies" / "cup.mp4")
        assert Path(copy["local_path"]).read_bytes() == sandbox.video_bytes(done["video_id"])
        listed = data_of(await client.call_tool("list_videos", {"query": "steam cup"}))
        assert [v["execution_id"] for v in listed["videos"]] == [job["execution_id"]]
        sandbox.next_outcome("failed", message="Provider unavailable")
        failed = data_of(await client.call_tool("generate_video", {"prompt": "A kite over dunes, wide shot"}))
        result = await client.call_tool("wait_for_video", {"execution_id": failed["execution_id"]})
        assert result.is_error and "Provider unavailable" in text_of(result)
