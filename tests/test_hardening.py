"""The hardened job path, as a demanding user meets it: through the real MCP client, mostly over a stdio
subprocess, against the sandbox's fault injection. No paid id is lost, every call comes back before the
client's cut, and local faults are named."""

from __future__ import annotations

import sqlite3
import subprocess
import unicodedata
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.types import CallToolResult, TextResourceContents

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.answer import answer

from .conftest import MakeSettings, data_of, text_of
from .test_stdio import server_params

pytestmark = pytest.mark.anyio
PROMPT = "A hot-air balloon rising over misty vineyards at sunrise, slow crane up, warm haze, serene"
# What a client allows a call before it gives up on it (they cut at about 60 s; ours end far sooner).
CLIENT_CUT = 60.0


@asynccontextmanager
async def stdio(sandbox: Sandbox, tmp_path: Path, mode: str = "auto", **env: str) -> AsyncIterator[Client]:
    async with Client(server_params(sandbox, tmp_path, **env), mode=mode) as client:
        yield client


async def timed_call(client: Client, tool: str, arguments: dict[str, Any], within: float) -> CallToolResult:
    """A call that must come back within `within` seconds, as a client's cut-off would demand."""
    with anyio.fail_after(within):
        return await client.call_tool(tool, arguments)


def start_alone(params: StdioServerParameters) -> subprocess.CompletedProcess[str]:
    """Start the server with nothing on its stdin, as a client that never connects; it must stop by itself."""
    return subprocess.run(
        [params.command],
        env=params.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


async def until(condition: Any, seconds: float = 10.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 (the state is in another thread or process)
            await anyio.sleep(0.02)


async def saved(client: Client, execution_id: str, seconds: float = 20.0) -> dict[str, Any]:
    """check_status, again and again, until the background save reports its file."""
    with anyio.fail_after(seconds):
        while True:
            checked = data_of(await client.call_tool("check_status", {"execution_id": execution_id}))
            if checked["local_path"]:
                return checked
            await anyio.sleep(0.2)


# --- no paid id is lost --------------------------------------------------------------------------------------


async def test_a_cancelled_generate_keeps_the_paid_id(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.reset()
    sandbox.inject("create", Fault.late_answer(1.5))
    async with stdio(sandbox, tmp_path, mode) as client:
        before = set(sandbox.jobs)
        with anyio.move_on_after(10) as scope:
            async with anyio.create_task_group() as group:
                group.start_soon(client.call_tool, "generate_video", {"prompt": PROMPT})
                await until(lambda: set(sandbox.jobs) - before)  # HeyGen has the job; its answer is held back
                group.cancel_scope.cancel()  # the user stops the call
        assert not scope.cancelled_caught
        (execution_id,) = set(sandbox.jobs) - before
        await anyio.sleep(2.0)  # HeyGen's answer arrives after the caller left

        listed = data_of(await client.call_tool("list_videos", {}))
        assert [v["execution_id"] for v in listed["videos"]] == [execution_id]
        again = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        assert again["execution_id"] == execution_id and again["duplicate"] is True
        assert sandbox.count("create") == 1


async def test_a_submission_slower_than_the_call_is_still_found(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.inject("create", Fault.late_answer(9.5))
    async with stdio(sandbox, tmp_path, HEYGEN_CALL_SECONDS="5") as client:
        first = await timed_call(client, "generate_video", {"prompt": PROMPT}, within=6)
        pending = data_of(first)
        assert not first.is_error, text_of(first)
        assert pending["status"] == "submitting" and pending["execution_id"] is None
        assert "generate_video again with the same arguments" in pending["next_step"]
        twin = data_of(await timed_call(client, "generate_video", {"prompt": PROMPT}, within=6))
        assert twin["status"] == "submitting" and twin["duplicate"] is True  # in flight: waited, not resent
        await anyio.sleep(1.5)
        found = data_of(await timed_call(client, "generate_video", {"prompt": PROMPT}, within=6))
        assert found["duplicate"] is True and found["execution_id"] in sandbox.jobs
        assert sandbox.count("create") == 1


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HEYGEN_API_BASE_URL": "api.heygen.com"}, "HEYGEN_API_BASE_URL"),
        ({"HEYGEN_API_BASE_URL": "ftp://api.heygen.com"}, "HEYGEN_API_BASE_URL"),
        ({"HEYGEN_API_KEY": "sk-abc\u00e9def-ghij"}, "HEYGEN_API_KEY"),
    ],
)
def test_an_unusable_url_or_key_stops_the_server_at_start(
    sandbox: Sandbox, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    params = server_params(sandbox, tmp_path, **env)
    done = start_alone(params)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr and "Traceback" not in done.stderr
    assert "sk-abc" not in done.stderr


async def test_what_never_left_does_not_block_a_retry(
    make_settings: MakeSettings, sandbox: Sandbox, tmp_path: Path, mode: str
) -> None:
    # (NaN and Infinity cannot cross MCP's JSON at all; test_client shows the server would never send them.)
    closed = make_settings(api_base_url="http://127.0.0.1:9")  # nothing listens there: no connection
    async with Client(create_server(closed), mode=mode) as client:
        refused = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert refused.is_error and "nothing was sent" in text_of(refused)
        assert data_of(refused)["retryable"] is True
    sandbox.inject("create", Fault.rate_limited(retry_after=3), times=3)
    async with stdio(sandbox, tmp_path, mode) as client:
        with anyio.move_on_after(1.0):  # the user gives up while the server waits out HeyGen's 429
            await client.call_tool("generate_video", {"prompt": PROMPT})
        assert sandbox.count("create") == 1
        sandbox.reset()
        accepted = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert not accepted.is_error, text_of(accepted)
        assert data_of(accepted)["duplicate"] is False and data_of(accepted)["execution_id"] in sandbox.jobs


async def test_heygens_read_lag_is_not_the_end_of_a_job(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.reset()
    sandbox.set_read_lag(1.0)
    try:
        async with stdio(sandbox, tmp_path, mode) as client:
            job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
            early = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
            assert not early.is_error and data_of(early)["status"] == "submitted", text_of(early)
            twin = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
            assert twin["duplicate"] is True and twin["execution_id"] == job["execution_id"]
            done = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
            assert not done.is_error and data_of(done)["status"] == "completed", text_of(done)
            assert sandbox.count("create") == 1
    finally:
        sandbox.set_read_lag(0)


async def test_not_found_past_the_grace_is_final(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.next_outcome("vanish")
    async with stdio(sandbox, tmp_path, HEYGEN_NOT_FOUND_GRACE_SECONDS="0") as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        gone = await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]})
        assert gone.is_error and data_of(gone)["status"] == "not_found"


async def test_a_lost_answer_is_listed_with_what_to_do(sandbox: Sandbox, tmp_path: Path, mode: str) -> None:
    sandbox.reset()
    sandbox.inject("create", Fault.lost_answer())
    async with stdio(sandbox, tmp_path, mode) as client:
        lost = await client.call_tool("generate_video", {"prompt": PROMPT})
        assert lost.is_error and data_of(lost)["retryable"] is False
        (video,) = data_of(await client.call_tool("list_videos", {}))["videos"]
        assert video["status"] == "submit_uncertain" and video["execution_id"] is None
        # Waiting cannot settle a lost answer (there is no id to follow), so the job is done as far as
        # waiting goes: the same rule that ends wait_for_videos' progress for it.
        assert video["done"] is True
        assert video["prompt"] == PROMPT and "dashboard" in video["next_step"]
        only = data_of(await client.call_tool("list_videos", {"status": "submit_uncertain"}))
        assert only["count"] == 1
        resource = (await client.read_resource("heygen://videos")).contents[0]
        assert isinstance(resource, TextResourceContents) and "submit_uncertain" in resource.text


# --- every call comes back in time ---------------------------------------------------------------------------


async def test_hanging_status_reads_end_within_the_call(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    async with stdio(sandbox, tmp_path, HEYGEN_CALL_SECONDS="5", HEYGEN_READ_TIMEOUT="30") as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        sandbox.inject("status", Fault.hang(60), times=10)
        result = await timed_call(client, "check_status", {"execution_id": job["execution_id"]}, within=7)
        assert result.is_error and job["execution_id"] in text_of(result)
        assert "did not answer" in text_of(result) and data_of(result)["retryable"] is True
        waited = await timed_call(
            client, "wait_for_video", {"execution_id": job["execution_id"], "max_wait_seconds": 2}, within=8
        )
        assert job["execution_id"] in text_of(waited)


async def test_a_retry_after_storm_answers_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.inject("create", Fault.rate_limited(retry_after=30), times=20)
    async with stdio(sandbox, tmp_path) as client:
        result = await timed_call(client, "generate_video", {"prompt": PROMPT}, within=10)
        assert result.is_error and "Wait 30 seconds" in text_of(result)
        assert "nothing was spent" in text_of(result) and data_of(result)["error"] == "rate_limited"
        again = await timed_call(client, "generate_video", {"prompt": PROMPT}, within=10)
        assert again.is_error and "allow_duplicate" not in text_of(again)  # a refusal never blocks a retry


# --- saving leaves the call path ----------------------------------------------------------------------------


async def test_a_slow_video_is_saved_in_the_background(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.set_video_size(3_000_000)
    sandbox.set_video_rate(600_000)  # five seconds of download
    async with stdio(sandbox, tmp_path) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        done = data_of(await timed_call(client, "wait_for_video", {"execution_id": job["execution_id"]}, within=4))
        assert done["status"] == "completed" and done["video_url"]
        assert done["saving"] is True and done["local_path"] is None
        assert "check_status" in done["next_step"]
        checked = await saved(client, job["execution_id"])
        assert checked["saving"] is False
        assert Path(checked["local_path"]).read_bytes() == sandbox.video_bytes(checked["video_id"])
    sandbox.set_video_rate(None)


async def test_two_servers_on_one_library_save_a_video_once(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.set_video_size(2_000_000)
    sandbox.set_video_rate(2_000_000)
    async with stdio(sandbox, tmp_path) as desktop, stdio(sandbox, tmp_path) as code:
        job = data_of(await desktop.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        async with anyio.create_task_group() as group:
            for client in (desktop, code, desktop, code):
                group.start_soon(client.call_tool, "wait_for_video", {"execution_id": job["execution_id"]})
        await saved(code, job["execution_id"])
    sandbox.set_video_rate(None)
    videos = sorted(p.name for p in (tmp_path / "videos").glob("*.mp4"))
    assert len(videos) == 1, videos
    assert sandbox.count("video") == 1


async def test_a_failed_save_backs_off_and_an_explicit_one_resumes(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    sandbox.set_video_size(1_000_000)
    async with stdio(sandbox, tmp_path) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        sandbox.inject("video", Fault(truncate_at=400_000))
        first = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        await anyio.sleep(0.5)
        for _ in range(3):  # every poll does not restart a failing download
            checked = data_of(await client.call_tool("check_status", {"execution_id": job["execution_id"]}))
        assert first["local_path"] is None and checked["local_path"] is None
        assert checked["download_error"] and sandbox.count("video") == 1
        saved = data_of(await client.call_tool("download_video", {"execution_id": job["execution_id"]}))
        assert Path(saved["local_path"]).read_bytes() == sandbox.video_bytes(saved["video_id"])
        ranges = [r.headers.get("range") for r in sandbox.requests if r.route == "video"]
        assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
        assert int(ranges[1].removeprefix("bytes=").rstrip("-")) > 0  # it resumed rather than restarting


async def test_a_body_cut_off_without_length_is_not_a_video(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    async with stdio(sandbox, tmp_path, HEYGEN_DOWNLOAD="false") as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        sandbox.inject("video", Fault.chunked(cut_at=20_000))
        result = await client.call_tool("download_video", {"execution_id": job["execution_id"]})
        assert result.is_error, text_of(result)
        assert not list((tmp_path / "videos").glob("*.mp4"))


async def test_the_size_cap_names_its_setting(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    async with stdio(sandbox, tmp_path, HEYGEN_DOWNLOAD="false", HEYGEN_MAX_VIDEO_BYTES="1000") as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        result = await client.call_tool("download_video", {"execution_id": job["execution_id"]})
        assert result.is_error and "HEYGEN_MAX_VIDEO_BYTES" in text_of(result)


@pytest.mark.parametrize("directory", ["../outside", "a/../../outside", "~/../outside"])
async def test_a_relative_directory_cannot_leave_the_output_folder(
    sandbox: Sandbox, tmp_path: Path, directory: str
) -> None:
    sandbox.reset()
    async with stdio(sandbox, tmp_path, HEYGEN_DOWNLOAD="false") as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        await until(lambda: sandbox.jobs[job["execution_id"]].status == "completed")
        result = await client.call_tool("download_video", {"execution_id": job["execution_id"], "directory": directory})
        if directory.startswith("~"):
            assert not result.is_error  # "~" is the home folder, an absolute place the user named
            return
        assert result.is_error and "outside the output folder" in text_of(result)
        assert not (tmp_path / "outside").exists()
        absolute = await client.call_tool(
            "download_video", {"execution_id": job["execution_id"], "directory": str(tmp_path / "elsewhere")}
        )
        assert Path(data_of(absolute)["local_path"]).parent == tmp_path / "elsewhere"


# --- what the model reads -----------------------------------------------------------------------------------

NFD = unicodedata.normalize("NFD", "Café crème on a zinc bar, macro")
SAME_REQUESTS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"prompt": unicodedata.normalize("NFC", NFD)}, {"prompt": NFD}),
    ({"prompt": "Rain on glass, macro"}, {"prompt": "\u200bRain on glass,\u00a0 macro\u200d "}),
    ({"prompt": "Dunes", "config": {"duration": 8}}, {"prompt": "Dunes", "config": {"duration": 8.0}}),
    ({"prompt": "Fjord"}, {"prompt": "Fjord", "config": {}}),
    (
        {"prompt": "Tram", "config": {"a": 1, "b": {"c": 2, "d": 3}}},
        {"prompt": "Tram", "config": {"b": {"d": 3, "c": 2}, "a": 1}},
    ),
]


@pytest.mark.parametrize(("first", "second"), SAME_REQUESTS)
async def test_requests_a_person_calls_identical_are_one_job(
    make_settings: MakeSettings, sandbox: Sandbox, first: dict[str, Any], second: dict[str, Any]
) -> None:
    async with Client(create_server(make_settings())) as client:
        one = data_of(await client.call_tool("generate_video", first))
        two = data_of(await client.call_tool("generate_video", second))
        assert two["execution_id"] == one["execution_id"] and two["duplicate"] is True
        assert sandbox.count("create") == 1


@pytest.mark.parametrize(
    ("tool", "arguments", "valid"),
    [
        ("generate_video", {"prompt": PROMPT, "provider": "bogus"}, "veo_3_1"),
        ("list_videos", {"status": "bogus"}, "submit_uncertain"),
        ("list_videos", {"limit": 5000}, "between 1 and 200"),
    ],
)
async def test_errors_lead_with_our_words(
    make_settings: MakeSettings, tool: str, arguments: dict[str, Any], valid: str, mode: str
) -> None:
    async with Client(create_server(make_settings()), mode=mode) as client:
        result = await client.call_tool(tool, arguments)
        text = text_of(result)
        assert result.is_error and valid in text
        assert not text.startswith("Error executing tool") and "validation error" not in text
        assert "pydantic" not in text and data_of(result)["error"] == "invalid_input"


async def test_prompt_arguments_are_checked(client: Client) -> None:
    with pytest.raises(MCPError, match="ltx_distilled"):
        await client.get_prompt("cinematic_video", {"idea": "a fox", "provider": "bogus"})
    with pytest.raises(MCPError, match="16:9"):
        await client.get_prompt("cinematic_video", {"idea": "a fox", "aspect_ratio": "wide"})
    with pytest.raises(MCPError, match="idea"):
        await client.get_prompt("cinematic_video", {})


async def test_an_unexpected_failure_is_named_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> CallToolResult:
        raise KeyError("video")

    result = await answer(broken, action="check_status", seconds=5, execution_id="node-gw-42")
    assert result.is_error and result.structured_content is not None
    text = text_of(result)
    assert text.startswith("check_status failed inside heygen-video-mcp (KeyError)")
    assert "node-gw-42" in text and "server log" in text
    assert result.structured_content["execution_id"] == "node-gw-42"
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


# --- local state fails loudly and safely ---------------------------------------------------------------------


def newer_library(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, future TEXT)")
        db.execute("PRAGMA user_version = 99")


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda path: path.write_bytes(b"this is not a database" * 100), ["damaged", "mv '"]),
        (newer_library, ["newer heygen-video-mcp", "version 99", "left untouched"]),
    ],
)
def test_a_library_that_cannot_be_used_stops_the_server_by_name(
    sandbox: Sandbox, tmp_path: Path, make: Any, needles: list[str]
) -> None:
    library = tmp_path / "videos" / "heygen-library.sqlite3"
    library.parent.mkdir()
    make(library)
    before = library.read_bytes()
    params = server_params(sandbox, tmp_path)
    done = start_alone(params)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert str(library) in done.stderr
    for needle in needles:
        assert needle in done.stderr
    assert library.read_bytes() == before  # left as it was
