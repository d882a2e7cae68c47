"""`heygen-video-mcp demo`: the whole product end to end, as an assistant would use it.

It starts this server as a subprocess over stdio, exactly as Claude Desktop does, and drives it with the
MCP client: list_providers -> generate_video -> wait_for_video (again and again, printing progress) -> the
saved MP4. Without HEYGEN_API_KEY it runs against the built-in HeyGen sandbox on 127.0.0.1; with a key it
makes one real (paid) video with HeyGen's fastest provider, or the one --provider names (video_agent, once
HeyGen has retired the v1 API the model providers run on).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from heygen_video_mcp.server.config import DEFAULT_BASE_URL, ENV, Settings


class DemoFailed(Exception):
    pass


DEFAULT_PROMPT = (
    "A slow drone shot gliding over a coastal city at golden hour, warm backlight on glass towers, "
    "gentle waves below, cinematic, calm and hopeful"
)


def run_demo(settings: Settings, *, prompt: str | None, provider: str | None = None) -> int:
    with ExitStack() as stack:
        env = {k: v for k, v in os.environ.items() if k not in ENV}
        if settings.api_key is None:
            from heygen_video_mcp.server.sandbox import Sandbox

            logging.getLogger("uvicorn").setLevel(logging.WARNING)
            # A render that outlasts two bounded waits shows how the assistant keeps calling wait_for_video.
            sandbox = stack.enter_context(Sandbox(render_seconds=12.0))
            # HEYGEN_OUTPUT_DIR keeps the demo's video; otherwise it goes to a temporary folder removed at the end.
            if "HEYGEN_OUTPUT_DIR" in os.environ:
                out, kept = settings.output_dir, True
            else:
                out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="heygen-demo-")))
                kept = False
                stack.callback(print, "The temporary folder is now removed; set HEYGEN_OUTPUT_DIR to keep the video.")
            env |= {
                "HEYGEN_API_KEY": sandbox.api_key,
                "HEYGEN_API_BASE_URL": sandbox.base_url,
                "HEYGEN_POLL_INTERVAL": "1",
                "HEYGEN_WAIT_SECONDS": "5",
                "HEYGEN_OUTPUT_DIR": str(out),
                "HEYGEN_LOG_LEVEL": "WARNING",
            }
            print(f"No HEYGEN_API_KEY: using the built-in HeyGen sandbox at {sandbox.base_url}")
            print(f"Videos go to {out}" if kept else f"Videos go to a temporary folder, removed at the end: {out}")
            provider = provider or "veo_3_1"
        else:
            env |= {name: os.environ[name] for name in ENV if name in os.environ}
            where = "HeyGen" if settings.api_base_url == DEFAULT_BASE_URL else settings.api_base_url
            print(f"HEYGEN_API_KEY is set: making one real video with {where} (this may use credits).")
            print(f"Videos go to {settings.output_dir}")
            provider = provider or "ltx_distilled"
        failures: list[str] = []
        try:
            return anyio.run(_drive, env, prompt or DEFAULT_PROMPT, provider)
        except* DemoFailed as group:  # raised inside the client's task group, so it arrives grouped
            failures = [str(exc) for exc in _leaves(group)]
    for failure in failures:
        print(f"Demo failed: {failure}", file=sys.stderr)
    return 1


async def _drive(env: dict[str, str], prompt: str, provider: str) -> int:
    params = StdioServerParameters(command=sys.executable, args=["-m", "heygen_video_mcp.server"], env=env)
    async with Client(params) as client:
        tools = await client.list_tools()
        print(f"Connected to the server over stdio; tools: {', '.join(t.name for t in tools.tools)}")
        catalog = await client.call_tool("list_providers", {})
        assert catalog.structured_content is not None
        print(f"{len(catalog.structured_content['providers'])} providers; using {provider}")

        print(f"generate_video: {prompt!r}")
        result = await client.call_tool("generate_video", {"prompt": prompt, "provider": provider})
        data = _checked(result)
        execution_id = data["execution_id"]
        reused = " (an identical recent request: reused, not paid for again)" if data["duplicate"] else ""
        print(f"  -> execution {execution_id}: {data['status']}{reused}")

        async def progress(progress: float, total: float | None, message: str | None) -> None:
            print(f"    progress {progress:5.1f} s of about {total or 0:.0f} s  {message or ''}")

        for call in range(1, 61):  # a render takes minutes; each call is bounded by the server
            print(f"wait_for_video (call {call})")
            result = await client.call_tool(
                "wait_for_video", {"execution_id": execution_id}, progress_callback=progress
            )
            data = _checked(result)
            if data["done"]:
                break
            print(f"  -> still {data['status']}; calling again")
        else:
            print("Gave up after 60 calls; the job continues at HeyGen.", file=sys.stderr)
            return 1
        for _ in range(120):  # a large video is saved in the background; check_status reports the file
            if not data.get("saving"):
                break
            print("  saving the video in the background...")
            await anyio.sleep(1)
            data = _checked(await client.call_tool("check_status", {"execution_id": execution_id}))
    print(f"\nCompleted: execution {execution_id}")
    print(f"Video URL (temporary): {data['video_url']}")
    if data.get("local_path"):
        path = Path(data["local_path"])
        print(f"Saved to: {path} ({path.stat().st_size:,} bytes)")
    else:
        print(f"Not saved: {data.get('download_error')}")
    return 0


def _leaves(group: BaseExceptionGroup[DemoFailed]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return found


def _checked(result: Any) -> dict[str, Any]:
    if result.is_error or result.structured_content is None:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        if (result.structured_content or {}).get("error") == "endpoint_retired":
            text += (
                "\nTo make a video with HeyGen's Video Agent instead (a produced video with an AI avatar presenter, "
                "about $0.033 per second): heygen-video-mcp demo --provider video_agent"
            )
        raise DemoFailed(f"the server returned an error: {text}")
    data: dict[str, Any] = result.structured_content
    return data
