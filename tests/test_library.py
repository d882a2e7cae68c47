"""The video library and the duplicate guard, through mcp.Client (both protocol eras) against the sandbox.

The library must survive restarts, record every status a job went through, refuse to buy the same video
twice (even when identical calls race, in one process or two), and never block a retry that is safe.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.types import CallToolResult, TextResourceContents

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.status import Execution
from tests.conftest import BACKENDS, MakeSettings, data_of, on_backend, run_together, text_of, wait_together

pytestmark = pytest.mark.anyio


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    """Every test here, on a SQLite file and on a PostgreSQL database."""
    return on_backend(request, make_settings)


FOX = "A red fox trotting through fresh snow at dawn, low tracking shot, soft golden light, cinematic"
WHALE = "A blue whale breaching at sunset, drone shot circling, warm haze, documentary style"


async def generate(client: Client, prompt: str = FOX, **arguments: Any) -> CallToolResult:
    return await client.call_tool("generate_video", {"prompt": prompt, **arguments})


async def submit(client: Client, prompt: str = FOX, **arguments: Any) -> str:
    result = await generate(client, prompt, **arguments)
    assert not result.is_error, text_of(result)
    execution_id: str = data_of(result)["execution_id"]
    return execution_id


async def complete(client: Client, execution_id: str) -> dict[str, Any]:
    result = await client.call_tool("wait_for_video", {"execution_id": execution_id, "max_wait_seconds": 10})
    data = data_of(result)
    assert data["done"], text_of(result)
    return data


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def listed(client: Client, **arguments: Any) -> list[dict[str, Any]]:
    result = await client.call_tool("list_videos", arguments)
    assert not result.is_error, text_of(result)
    videos: list[dict[str, Any]] = data_of(result)["videos"]
    assert data_of(result)["count"] == len(videos)
    return videos


async def finished_in_sandbox(sandbox: Sandbox, execution_id: str) -> None:
    """Wait (in the sandbox, not through the server) until HeyGen would report the job as done."""
    with anyio.fail_after(10):
        while sandbox.jobs[execution_id].status in ("submitted", "pending", "processing"):  # noqa: ASYNC110
            await anyio.sleep(0.05)


# --- what the library shows -------------------------------------------------------------------------------


async def test_completed_job_is_listed_by_tool_and_resources(
    client: Client, settings: Settings, sandbox: Sandbox, provider: str
) -> None:
    execution_id = await submit(client, provider=provider)
    done = await complete(client, execution_id)
    assert done["status"] == "completed" and done["local_path"]

    [video] = await listed(client)
    assert video["execution_id"] == execution_id
    assert video["status"] == "completed"
    assert video["prompt"] == FOX
    assert video["provider"] == provider
    assert video.get("session_id") == sandbox.jobs[execution_id].session_id
    assert video["local_path"] == done["local_path"]
    assert video["video_url"] == done["video_url"]

    everything = await read_json(client, "heygen://videos")
    assert everything["count"] == 1
    assert [v["execution_id"] for v in everything["videos"]] == [execution_id]
    assert everything["videos"][0]["local_path"] == done["local_path"]

    one = await read_json(client, f"heygen://videos/{execution_id}")
    assert one["video"]["execution_id"] == execution_id
    assert one["video"]["status"] == "completed"
    assert one["video"]["session_id"] == sandbox.jobs[execution_id].session_id
    statuses = [change["status"] for change in one["history"]]
    # The job was recorded before the POST went out, then followed to the end, in order, without repeats.
    assert statuses[0] == "submitting"
    assert statuses[-1] == "completed"
    assert "submitted" in statuses
    assert statuses.index("submitted") < statuses.index("completed")
    assert all(a != b for a, b in itertools.pairwise(statuses))
    times = [change["at"] for change in one["history"]]
    assert times == sorted(times)


async def test_unknown_video_resource_is_an_error(client: Client) -> None:
    with pytest.raises(MCPError, match="node-gw-0000000000000000"):
        await client.read_resource("heygen://videos/node-gw-0000000000000000")


async def test_list_videos_filters_by_status_and_prompt_words(client: Client, sandbox: Sandbox) -> None:
    fox = await submit(client, FOX)
    sandbox.next_outcome("failed", message="The prompt was flagged by the content filter")
    whale = await submit(client, WHALE, provider="kling_pro")
    assert (await complete(client, fox))["status"] == "completed"
    assert (await complete(client, whale))["status"] == "failed"

    def ids(videos: list[dict[str, Any]]) -> list[str]:
        return [v["execution_id"] for v in videos]

    assert ids(await listed(client)) == [whale, fox]  # newest first
    assert ids(await listed(client, limit=1)) == [whale]
    assert ids(await listed(client, status="completed")) == [fox]
    failed = await listed(client, status="failed")
    assert ids(failed) == [whale]
    assert failed[0]["error"] == "The prompt was flagged by the content filter"
    assert ids(await listed(client, status="processing")) == []
    assert ids(await listed(client, query="fox")) == [fox]
    assert ids(await listed(client, query="SNOW trotting")) == [fox]  # every word, any case
    assert ids(await listed(client, query="whale sunset")) == [whale]
    assert ids(await listed(client, query="fox whale")) == []
    assert ids(await listed(client, query="kling_pro")) == [whale]
    assert ids(await listed(client, query=fox)) == [fox]
    assert ids(await listed(client, query="%")) == []  # a LIKE wildcard is just a character
    assert ids(await listed(client, status="completed", query="whale")) == []
    result = await client.call_tool("list_videos", {"query": "penguin"})
    assert data_of(result)["count"] == 0
    assert "No videos match" in text_of(result)


# --- restarts ---------------------------------------------------------------------------------------------


async def test_library_survives_a_restart(settings: Settings, mode: str, sandbox: Sandbox, provider: str) -> None:
    async with Client(create_server(settings), mode=mode) as first:
        execution_id = await submit(first, provider=provider)
        done = await complete(first, execution_id)
    assert done["status"] == "completed"

    async with Client(create_server(settings), mode=mode) as second:
        [video] = await listed(second)
        assert video["execution_id"] == execution_id
        assert video["status"] == "completed"
        assert video["prompt"] == FOX
        assert video["local_path"] == done["local_path"]
        assert video.get("session_id") == sandbox.jobs[execution_id].session_id  # kept: HeyGen gives it once
        path = Path(video["local_path"])
        assert path.is_file() and path.parent == settings.output_dir.resolve()
        one = await read_json(second, f"heygen://videos/{execution_id}")
        assert [c["status"] for c in one["history"]][-1] == "completed"
        # Still a duplicate after the restart: the guard lives in the library, not in memory.
        again = await generate(second, provider=provider)
        assert data_of(again)["duplicate"] is True
        assert data_of(again)["execution_id"] == execution_id


async def test_job_unfinished_at_shutdown_is_finished_after_restart(
    settings: Settings, mode: str, sandbox: Sandbox, provider: str
) -> None:
    async with Client(create_server(settings), mode=mode) as first:
        execution_id = await submit(first, provider=provider)
    # The first server is gone; it never saw the job finish, and nothing has followed the job since.
    library = settings.library()
    try:
        job = await library.get(execution_id=execution_id)
    finally:
        library.close()
    assert job is not None and (job.status, job.local_path) == ("submitted", None)
    assert not list(settings.output_dir.glob("*.mp4"))
    await finished_in_sandbox(sandbox, execution_id)

    async with Client(create_server(settings), mode=mode) as second:
        [video] = await listed(second)
    assert video["execution_id"] == execution_id
    assert video["status"] == "completed"
    assert video["local_path"], video
    path = Path(video["local_path"])
    assert path.is_file()
    assert path.read_bytes() == sandbox.video_bytes(sandbox.jobs[execution_id].video_id)


# --- an expired video URL ---------------------------------------------------------------------------------


async def test_expired_video_url_says_so_and_names_the_asset(
    make_settings: MakeSettings, mode: str, sandbox: Sandbox
) -> None:
    settings = make_settings(download=False)
    async with Client(create_server(settings), mode=mode) as client:
        execution_id = await submit(client)
        done = await complete(client, execution_id)
        assert done["status"] == "completed" and done["local_path"] is None and done["download_error"] is None
        assert done["asset_id"]
        sandbox.inject(
            "video", Fault(status=403, body="<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
        )
        result = await client.call_tool("download_video", {"execution_id": execution_id})
        assert result.is_error
        text = text_of(result)
        assert "expired" in text
        assert done["asset_id"] in text
        assert execution_id in text
        assert not list(settings.output_dir.glob("*.mp4"))
        one = await read_json(client, f"heygen://videos/{execution_id}")
        assert one["video"]["local_path"] is None
        assert "expired" in one["video"]["download_error"]


# --- the duplicate guard ----------------------------------------------------------------------------------


async def test_identical_request_is_reused_not_resent(client: Client, sandbox: Sandbox, provider: str) -> None:
    before = sandbox.count("create")
    first = await generate(client, provider=provider)
    second = await generate(client, provider=provider)
    assert not first.is_error and not second.is_error
    assert data_of(first)["duplicate"] is False
    assert data_of(second)["duplicate"] is True
    assert data_of(second)["execution_id"] == data_of(first)["execution_id"]
    assert "duplicate" in text_of(second)
    assert sandbox.count("create") == before + 1
    assert len(await listed(client)) == 1


async def test_whitespace_differences_are_the_same_request(client: Client, sandbox: Sandbox) -> None:
    before = sandbox.count("create")
    first = await submit(client, FOX)
    spaced = "  " + FOX.replace(" ", "   ", 3).replace(", ", ",\n\t") + "\n"
    second = await generate(client, spaced)
    assert data_of(second)["duplicate"] is True
    assert data_of(second)["execution_id"] == first
    assert sandbox.count("create") == before + 1


async def test_different_provider_or_ratio_is_not_a_duplicate(client: Client, sandbox: Sandbox) -> None:
    before = sandbox.count("create")
    first = await submit(client)
    other_provider = await generate(client, provider="kling_pro")
    other_ratio = await generate(client, aspect_ratio="9:16")
    other_prompt = await generate(client, FOX + " Snow falling.")
    results = [other_provider, other_ratio, other_prompt]
    assert all(data_of(r)["duplicate"] is False for r in results)
    assert len({first, *(data_of(r)["execution_id"] for r in results)}) == 4
    assert sandbox.count("create") == before + 4


async def test_allow_duplicate_buys_a_second_video(client: Client, sandbox: Sandbox) -> None:
    before = sandbox.count("create")
    first = await submit(client)
    second = await generate(client, allow_duplicate=True)
    assert data_of(second)["duplicate"] is False
    assert data_of(second)["execution_id"] != first
    assert sandbox.count("create") == before + 2
    # The newest of them is what a later identical call reuses.
    third = await generate(client)
    assert data_of(third)["duplicate"] is True
    assert data_of(third)["execution_id"] == data_of(second)["execution_id"]
    assert sandbox.count("create") == before + 2


async def test_duplicate_window_zero_turns_the_guard_off(
    make_settings: MakeSettings, mode: str, sandbox: Sandbox
) -> None:
    async with Client(create_server(make_settings(duplicate_window=0)), mode=mode) as client:
        before = sandbox.count("create")
        first = await generate(client)
        second = await generate(client)
    assert data_of(first)["duplicate"] is False and data_of(second)["duplicate"] is False
    assert data_of(first)["execution_id"] != data_of(second)["execution_id"]
    assert sandbox.count("create") == before + 2


@pytest.mark.parametrize("callers", [2, 5])
async def test_identical_calls_at_once_post_once(client: Client, sandbox: Sandbox, callers: int, provider: str) -> None:
    before = sandbox.count("create")
    sandbox.inject("create", Fault(delay=0.5, passthrough=True))  # the first POST is slow: the calls overlap
    results: list[CallToolResult] = []

    async def call() -> None:
        results.append(await generate(client, provider=provider))

    async with anyio.create_task_group() as group:
        for _ in range(callers):
            group.start_soon(call)

    assert len(results) == callers
    assert not any(r.is_error for r in results), [text_of(r) for r in results]
    assert len({data_of(r)["execution_id"] for r in results}) == 1
    assert sorted(data_of(r)["duplicate"] for r in results) == [False] + [True] * (callers - 1)
    assert sandbox.count("create") == before + 1
    assert len(await listed(client)) == 1


async def test_refused_submission_does_not_block_the_next_one(client: Client, sandbox: Sandbox, provider: str) -> None:
    before = sandbox.count("create")
    sandbox.inject("create", Fault(status=400, body={"error": {"code": "invalid_parameter", "message": "nope"}}))
    refused = await generate(client, provider=provider)
    assert refused.is_error
    assert "400" in text_of(refused)
    accepted = await generate(client, provider=provider)
    assert not accepted.is_error, text_of(accepted)
    assert data_of(accepted)["duplicate"] is False
    assert sandbox.count("create") == before + 2
    # The refused attempt never got an execution id, so it is not in the list.
    assert [v["execution_id"] for v in await listed(client)] == [data_of(accepted)["execution_id"]]


async def test_lost_answer_blocks_an_identical_call_until_allowed(
    client: Client, sandbox: Sandbox, provider: str
) -> None:
    before = sandbox.count("create")
    sandbox.inject("create", Fault(drop=True))
    lost = await generate(client, provider=provider)
    assert lost.is_error
    assert re.search(r"may (or may not )?have (been )?created", text_of(lost)), text_of(lost)
    assert sandbox.count("create") == before + 1  # a POST whose answer was lost is never retried

    blocked = await generate(client, provider=provider)
    assert blocked.is_error
    text = text_of(blocked)
    assert "allow_duplicate=true" in text
    assert "lost" in text
    assert sandbox.count("create") == before + 1

    forced = await generate(client, provider=provider, allow_duplicate=True)
    assert not forced.is_error, text_of(forced)
    assert data_of(forced)["duplicate"] is False
    assert sandbox.count("create") == before + 2


# --- two processes, one library ---------------------------------------------------------------------------

JOBS_PER_PROCESS = 100
TASKS_PER_PROCESS = 4


def write_jobs_main(argv: Sequence[str]) -> None:
    """Entry point of a writer process: wait for the barrier file, then record jobs as fast as possible."""
    worker, barrier, database = argv[0], Path(argv[1]), Path(argv[2])
    library = Library(database)
    wait_together(worker, barrier)

    async def task(first: int, count: int) -> None:
        for number in range(first, first + count):
            request = VideoRequest.checked(
                prompt=f"worker {worker} job {number}: a paper boat on a puddle",
                provider="veo3_fast",
                aspect_ratio="1:1",
            )
            reservation = await library.reserve(request, window=600, allow_duplicate=False)
            assert not reservation.existing
            execution = Execution(
                execution_id=f"node-gw-{worker}-{number}", status="submitted", heygen_status="submitted"
            )
            job = await library.submitted(reservation.job.id, execution)
            assert job.status == "submitted"

    async def main() -> None:
        per_task = JOBS_PER_PROCESS // TASKS_PER_PROCESS
        async with anyio.create_task_group() as group:
            for index in range(TASKS_PER_PROCESS):
                group.start_soon(task, index * per_task, per_task)

    anyio.run(main)


def test_two_processes_write_one_library_at_once(tmp_path: Path) -> None:
    database = tmp_path / "library.sqlite3"
    Library(database).migrate()
    code = "import sys; from tests.test_library import write_jobs_main; write_jobs_main(sys.argv[1:])"
    workers = ["a", "b"]
    for returncode, _, stderr in run_together(code, {w: [str(database)] for w in workers}, tmp_path):
        assert "database is locked" not in stderr
        assert returncode == 0, stderr

    db = sqlite3.connect(database)
    try:
        total = len(workers) * JOBS_PER_PROCESS
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == total
        assert db.execute("SELECT count(DISTINCT execution_id) FROM jobs").fetchone()[0] == total
        assert db.execute("SELECT count(*) FROM jobs WHERE status = 'submitted'").fetchone()[0] == total
        expected = {f"node-gw-{w}-{n}" for w in workers for n in range(JOBS_PER_PROCESS)}
        assert {row[0] for row in db.execute("SELECT execution_id FROM jobs")} == expected
        changes = db.execute("SELECT status, count(*) FROM status_changes GROUP BY status").fetchall()
        assert dict(changes) == {"submitting": total, "submitted": total}
        orphans = db.execute(
            "SELECT count(*) FROM status_changes WHERE job_id NOT IN (SELECT id FROM jobs)"
        ).fetchone()[0]
        assert orphans == 0
    finally:
        db.close()
