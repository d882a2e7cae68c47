"""What makes start-up and a status read cheap, asserted as behaviour (never as time): the HTTP client is built
on the first call to HeyGen, the stdio path loads nothing the MCP SDK does not, the library keeps its
connections (and follows its file when it is deleted or replaced), a status read that changes nothing
writes nothing and needs no write lock, a result leaves out what does not apply, and render_durations
answers from an index.

The timings themselves are in benchmarks/cold_start.py and benchmarks/check_status.py."""

from __future__ import annotations

import inspect
import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import anyio
import httpx2
import pytest
from mcp import Client
from pydantic import TypeAdapter

from heygen_video_mcp import prompts
from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools import (
    check_status,
    download_video,
    generate_video,
    generate_videos,
    list_providers,
    list_videos,
    wait_for_video,
    wait_for_videos,
)
from heygen_video_mcp.tools.calls import Links
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library import MIGRATIONS, Library
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.results import VideoAnswer, VideoResult, job_answer
from heygen_video_mcp.tools.status import Job
from tests.conftest import API_KEY, REPO, MakeSettings, data_of, text_of
from tests.test_library_state import execution, lock_held, new_job, new_library, request, sql
from tests.test_stdio import console_script

pytestmark = pytest.mark.anyio

UNKNOWN = "node-gw-0000000000000000"


# --- start-up -----------------------------------------------------------------------------------------------


class CountedClient(httpx2.AsyncClient):
    """httpx2.AsyncClient, counting the clients made (each builds a connection pool and a TLS context)."""

    made: ClassVar[list[httpx2.AsyncClient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        CountedClient.made.append(self)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[httpx2.AsyncClient]:
    CountedClient.made = []
    monkeypatch.setattr(httpx2, "AsyncClient", CountedClient)
    return CountedClient.made


async def test_the_http_client_is_built_by_the_first_call_to_heygen(
    settings: Settings, counted: list[httpx2.AsyncClient]
) -> None:
    async with Client(create_server(settings)) as client:
        assert not (await client.call_tool("list_videos", {})).is_error
        await client.read_resource("heygen://providers")
        assert counted == []  # started, listed, read the library: no HTTP client yet
        # With a key set, list_providers asks HeyGen for the account's balance: the first request.
        assert "account" in data_of(await client.call_tool("list_providers", {}))
        for _ in range(2):
            unknown = await client.call_tool("check_status", {"execution_id": UNKNOWN})
            assert unknown.is_error and "does not know" in text_of(unknown)
        assert len(counted) == 1  # built once, by the first request, and kept
    assert counted[0].is_closed


async def test_a_client_never_used_closes_without_being_built(counted: list[httpx2.AsyncClient]) -> None:
    client = HeyGenClient(api_key=API_KEY, base_url="http://127.0.0.1:9", timeout=httpx2.Timeout(1.0))
    await client.aclose()
    assert counted == []


# The functions the SDK derives the tools' and prompts' schemas from, reading each signature three times.
SIGNATURES = (
    generate_video.generate_video,
    check_status.check_status,
    wait_for_video.wait_for_video,
    download_video.download_video,
    list_videos.list_videos,
    list_providers.list_providers,
    generate_videos.generate_videos,
    wait_for_videos.wait_for_videos,
    prompts.cinematic_video,
    prompts.animate_product_photo,
    prompts.social_vertical_video,
)


def test_tool_and_prompt_signatures_hold_objects_not_strings() -> None:
    """Annotations written as strings (`from __future__ import annotations`) would be evaluated again, Field
    objects and all, each time the SDK reads a signature at start-up."""
    for fn in SIGNATURES:
        strings = {name: a for name, a in inspect.get_annotations(fn).items() if isinstance(a, str)}
        assert strings == {}, f"{fn.__name__} has annotations as strings: {strings}"


async def test_the_video_tools_list_the_schema_pydantic_derives(client: Client) -> None:
    """VideoResult's schema is derived once at start-up and copied: every tool that returns it lists exactly
    what pydantic derives afresh (here for a subclass of the same name, which has no copy yet)."""
    fresh = TypeAdapter(type("VideoResult", (VideoResult,), {})).json_schema()
    answer = TypeAdapter(type("VideoAnswer", (VideoAnswer,), {})).json_schema()  # admits an error result too
    tools = {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}
    for name in ("generate_video", "check_status", "wait_for_video", "download_video"):
        assert tools[name] == answer, name
    listed = tools["list_videos"]
    assert listed is not None and listed["$defs"]["VideoResult"] == fresh


def test_the_schema_made_once_is_handed_out_as_copies() -> None:
    first = TypeAdapter(VideoResult).json_schema()
    first["properties"]["status"]["enum"].append("changed")
    assert "changed" not in TypeAdapter(VideoResult).json_schema()["properties"]["status"]["enum"]


# What a bare MCPServer script imports before it serves stdio, then what our serve path adds to it until the
# moment it would serve (anyio.run, which starts serving, is replaced by a report of the modules loaded since).
IMPORTS = """
import json, sys
import anyio, mcp.server.mcpserver, mcp.server.stdio
from mcp.server.mcpserver import MCPServer

MCPServer("bare")  # a bare server is built too: the SDK then sets up logging (with rich, when installed)
before = set(sys.modules)
anyio.run = lambda *args, **kwargs: print(json.dumps(sorted(set(sys.modules) - before)))

from heygen_video_mcp.server.__main__ import main
sys.exit(main([]))
"""
OURS = ("heygen_video_mcp",)
LIBRARY = ("sqlite3", "_sqlite3")  # the library file is checked before serving
PLAYER = ("mcp.server.apps",)  # the SDK's MCP Apps extension, which serves the player page (server/player.py)
BUILT_IN = ("gc",)  # compiled into the interpreter: start-up turns the collector off
TRANSPORT = ("anyio.from_thread",)  # how the stdio transport's reader thread hands lines over (server/stdio.py)


def loaded_by_the_stdio_path(tmp_path: Path, **env: str) -> list[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "XDG_"))}
    base |= {"HEYGEN_API_KEY": API_KEY, "HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS], cwd=REPO, env=base | env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    added: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return added


def test_the_stdio_path_loads_nothing_the_sdk_does_not(tmp_path: Path) -> None:
    added = loaded_by_the_stdio_path(tmp_path, HEYGEN_OUTPUT_DIR=str(tmp_path / "videos"))
    allowed = OURS + LIBRARY + BUILT_IN
    extra = [name for name in added if name.split(".")[0] not in allowed and name not in PLAYER + TRANSPORT]
    assert extra == [], f"the stdio path imports {extra}, which a bare MCPServer does not"
    assert "sqlite3" in added and "heygen_video_mcp.server.app" in added  # it did get as far as serving


# A server in a fresh interpreter, up to its first answers, then its first tool call: is the job logic loaded?
FIRST_ANSWERS = """
import json, sys
import anyio
from mcp import Client
from heygen_video_mcp.server.__main__ import _server

JOB_LOGIC = "heygen_video_mcp.tools.jobs.front"

async def main() -> None:
    async with Client(_server(), mode="legacy") as client:
        await client.list_tools()
        await client.list_prompts()
        answered = JOB_LOGIC in sys.modules
        await client.call_tool("check_status", {"execution_id": "node-gw-0000000000000000"})
        print(json.dumps([answered, JOB_LOGIC in sys.modules]))

anyio.run(main)
"""


def test_no_job_logic_is_loaded_before_the_first_tool_call(tmp_path: Path) -> None:
    """tools/jobs (the job logic, a tenth of our start-up) is loaded at the first tool call, not before the
    first answers (initialize, tools/list, prompts/list)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "XDG_"))}
    base |= {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": "http://127.0.0.1:9",  # nothing listens: the tool call's read fails, as it may
        "HEYGEN_MAX_RETRIES": "0",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
        "HOME": str(tmp_path / "home"),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", FIRST_ANSWERS], cwd=REPO, env=base, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [False, True]


def test_the_videos_folder_is_looked_up_only_when_no_output_folder_is_set(tmp_path: Path) -> None:
    added = loaded_by_the_stdio_path(tmp_path)
    extra = {name.split(".")[0] for name in added if name not in PLAYER + TRANSPORT} - set(OURS + LIBRARY + BUILT_IN)
    assert extra == set()
    assert (tmp_path / "home" / "Videos" / "HeyGen" / "heygen-library.sqlite3").is_file()


# Reports, when the serve path logs that it is about to serve, the collections made since main() started.
GC = """
import gc, json, logging, os, sys

collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))


class Report(logging.Handler):
    def emit(self, record):
        if record.getMessage() == "serving MCP over stdio":
            state = {"collections": collections[start:], "enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
            print(json.dumps(state), flush=True)
            os._exit(0)


logging.getLogger("heygen_video_mcp.server.__main__").addHandler(Report())
from heygen_video_mcp.server.__main__ import main

start = len(collections)
main([])
"""


def test_start_up_collects_no_garbage_and_serves_with_its_objects_frozen(tmp_path: Path) -> None:
    """Loading the SDK and building the tools runs without the cyclic collector (its passes would find almost
    nothing to free); serving runs with it, and its collections skip what start-up made."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEYGEN_", "XDG_"))}
    env |= {"HEYGEN_API_KEY": API_KEY, "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", GC], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["collections"] == []
    assert state["enabled"] is True and state["frozen"] > 50_000


def test_a_damaged_library_still_stops_the_console_script_by_name(tmp_path: Path) -> None:
    """A guard for the check that now runs while the SDK loads: it must still stop the server, by name."""
    library = tmp_path / "videos" / "heygen-library.sqlite3"
    library.parent.mkdir()
    library.write_bytes(b"This is a text file that someone named like the library.\n" * 200)
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    done = subprocess.run(
        [console_script()],
        env=base | {"HEYGEN_API_KEY": API_KEY, "HEYGEN_OUTPUT_DIR": str(library.parent)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert str(library) in done.stderr and "mv " in done.stderr and "Traceback" not in done.stderr


# --- a status read ------------------------------------------------------------------------------------------


class Traced(httpx2.AsyncHTTPTransport):
    """The real transport, noting which requests carry an httpcore trace hook."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, bool]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append((request.method, "trace" in request.extensions))
        return await super().handle_async_request(request)


async def test_only_a_submission_is_traced_on_its_way_out(sandbox: Sandbox) -> None:
    """A submission must know whether its bytes left (a lost answer then blocks a blind resend); a status
    read is retried either way, so it goes without the trace hook, which awaits at every step of a request."""
    transport = Traced()
    client = HeyGenClient(api_key=API_KEY, base_url=sandbox.base_url, timeout=httpx2.Timeout(2.0), transport=transport)
    try:
        execution = await client.create_execution(request("traced").api_input())
        await client.get_execution(execution.execution_id)
    finally:
        await client.aclose()
    assert transport.requests == [("POST", True), ("GET", False)]


# --- a status read that changes nothing ---------------------------------------------------------------------


async def test_a_status_read_that_changes_nothing_writes_nothing(make_settings: MakeSettings) -> None:
    settings = make_settings(download=False)  # no background save writing to the library meanwhile
    async with Client(create_server(settings)) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": "Fog rolling over a pine ridge"}))
        done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        assert done["status"] == "completed"
        observer = sqlite3.connect(settings.library_file)
        try:
            version = observer.execute("PRAGMA data_version").fetchone()[0]
            row = observer.execute("SELECT * FROM jobs").fetchall()
            history = observer.execute("SELECT * FROM status_changes ORDER BY rowid").fetchall()
            for _ in range(3):
                checked = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
                assert not checked.is_error and data_of(checked)["status"] == "completed"
            # data_version moves when another connection commits a change to the file: none did.
            assert observer.execute("PRAGMA data_version").fetchone()[0] == version
            assert observer.execute("SELECT * FROM jobs").fetchall() == row  # updated_at included
            assert observer.execute("SELECT * FROM status_changes ORDER BY rowid").fetchall() == history
        finally:
            observer.close()


async def test_a_lone_check_status_reads_heygen_in_its_own_call(make_settings: MakeSettings, mode: str) -> None:
    """A check_status that finds no read of its job in flight reads it itself: no hand-off to a task of its
    own and back (two turns of the event loop per call). A wait, which must not cut a read off for the
    callers it shares it with when its budget ends, still reads in a task of its own."""
    readers: dict[str, str] = {}
    asking = ["check_status"]

    def heygen(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            return httpx2.Response(200, json={"data": {"execution_id": UNKNOWN, "status": "pending"}})
        readers[asking[0]] = str(anyio.get_current_task().name)
        return httpx2.Response(200, json={"data": {"execution_id": UNKNOWN, "status": "processing", "output": {}}})

    settings = make_settings(download=False, api_base_url="https://api.heygen.com")
    async with Client(create_server(settings, transport=httpx2.MockTransport(heygen)), mode=mode) as client:
        await client.call_tool("generate_video", {"prompt": "Fog rolling over a pine ridge"})
        checked = data_of(await client.call_tool("check_status", {"execution_id": UNKNOWN}))
        asking[0] = "wait_for_video"
        waited = data_of(await client.call_tool("wait_for_video", {"execution_id": UNKNOWN, "max_wait_seconds": 1}))
    assert checked["status"] == waited["status"] == "processing"
    assert readers["wait_for_video"].endswith("Following._run_read"), readers
    assert readers["check_status"] != readers["wait_for_video"], readers


class TenantChecksCounted(Library):
    """The library, counting how often it is asked whether an id is another tenant's."""

    tenant_checks = 0

    async def foreign(self, execution_id: str) -> bool:
        self.tenant_checks += 1
        return await super().foreign(execution_id)


async def test_a_job_known_as_the_callers_own_is_not_checked_again_before_each_read(
    make_settings: MakeSettings,
) -> None:
    """Every status read of an id first asks whether it is another tenant's; once the library has answered
    with the caller's own row, that cannot change, and the question would cost each later read a query."""
    settings = make_settings(download=False)
    library = TenantChecksCounted(settings.library_file)
    async with Client(create_server(settings, library=library)) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": "Fog rolling over a pine ridge"}))
        done = data_of(await client.call_tool("wait_for_video", {"execution_id": job["execution_id"]}))
        assert done["status"] == "completed"
        asked = library.tenant_checks
        for _ in range(3):
            checked = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
            assert not checked.is_error and data_of(checked)["status"] == "completed"
        assert library.tenant_checks == asked <= 1


def test_an_unchanged_jobs_answer_is_built_once_and_a_changed_job_gets_a_new_one(tmp_path: Path) -> None:
    """check_status builds its answer once per state of a job: polling an unchanged job gets the same one,
    and any change of the job, of whether it is being saved or of the caller's kind, is answered afresh."""
    video = tmp_path / "lantern.mp4"
    video.write_bytes(b"mp4")
    job = Job(
        id=7,
        execution_id="node-gw-7",
        prompt="A paper lantern over a river",
        status="processing",
        created_at=1.0,
        updated_at=2.0,
    )
    first = job_answer(job, saving=False, links=None)
    assert job_answer(replace(job), saving=False, links=None) is first  # the same row, read again
    done = replace(job, status="completed", video_url="https://example.test/v.mp4", local_path=str(video))
    answered = job_answer(done, saving=False, links=None)
    assert answered is not first and answered.structured_content is not None
    assert answered.structured_content["status"] == "completed"
    assert answered.structured_content["local_path"] == str(video)
    assert job_answer(done, saving=True, links=None) is not answered
    signed = Links(sign=lambda base, tenant, eid: (f"{base}v/{eid}", datetime.now(UTC)), base_url="https://mcp.test/")
    remote = job_answer(done, saving=False, links=signed)
    assert remote is not job_answer(done, saving=False, links=signed)  # a link is signed for each call
    assert remote.structured_content is not None and "local_path" not in remote.structured_content


class HistoryReadsCounted(Library):
    """The library, counting how often render history is read to plan status reads."""

    history_reads = 0

    async def render_durations(self, provider: str | None, aspect_ratio: str | None, *, limit: int = 20) -> list[float]:
        self.history_reads += 1
        return await super().render_durations(provider, aspect_ratio, limit=limit)


async def test_checking_a_finished_job_again_does_not_make_waits_reread_render_history(
    make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    """Render times are re-read from the library when a render ends (one more to learn from), not each
    time a job that ended long ago is checked again: those checks would make every wait re-read them."""
    settings = make_settings(download=False)
    library = HistoryReadsCounted(settings.library_file)
    async with Client(create_server(settings, library=library)) as client:
        first = data_of(await client.call_tool("generate_video", {"prompt": "Fog rolling over a pine ridge"}))
        assert data_of(await client.call_tool("wait_for_video", {"execution_id": first["execution_id"]}))["done"]
        sandbox.set_render_seconds(60)  # the second renders throughout
        second = data_of(await client.call_tool("generate_video", {"prompt": "Rain on a tin roof at dusk"}))
        await client.call_tool("check_status", {"execution_id": second["execution_id"]})
        read = library.history_reads
        for _ in range(3):
            await client.call_tool("check_status", {"execution_id": first["execution_id"]})
            await client.call_tool("wait_for_video", {"execution_id": second["execution_id"], "max_wait_seconds": 1})
        assert library.history_reads == read


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_a_finished_job_is_answered_from_the_library(
    outcome: str, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    """HeyGen's answer about a saved video, or a failed one, can no longer change: checking it again asks the
    library, not HeyGen (400 checks made 400 status reads before)."""
    if outcome == "failed":
        sandbox.next_outcome("failed", message="The provider refused the prompt")
    async with Client(create_server(make_settings())) as client:
        job = data_of(await client.call_tool("generate_video", {"prompt": "A kite over dunes at noon"}))
        eid = job["execution_id"]
        while not data_of(await client.call_tool("wait_for_video", {"execution_id": eid}))["done"]:
            pass
        first = await client.call_tool("check_status", {"execution_id": eid})
        assert (first.structured_content or {})["status"] == outcome
        if outcome == "completed":
            assert Path((first.structured_content or {})["local_path"]).is_file()
        reads = len(sandbox.status_reads(eid))
        for _ in range(20):
            again = await client.call_tool("check_status", {"execution_id": eid})
            assert again.structured_content == first.structured_content and again.is_error == first.is_error
        assert len(sandbox.status_reads(eid)) == reads
        # A saved file the user deleted is noticed: HeyGen is asked again, and the video saved again.
        if outcome == "completed":
            Path((first.structured_content or {})["local_path"]).unlink()
            await client.call_tool("check_status", {"execution_id": eid})
            assert len(sandbox.status_reads(eid)) == reads + 1


async def test_a_library_a_newer_release_upgraded_meanwhile_is_refused_by_the_next_read(tmp_path: Path) -> None:
    """Reads by key skip the transaction and check the file's version after the read instead: a newer
    release's upgrade between two reads is still refused, not misread."""
    library = new_library(tmp_path)
    job = await new_job(library, 1, "processing")
    assert await library.get(execution_id="node-gw-1") == job  # the connection is kept and its file known
    sql(library.path, f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LibraryError, match="newer heygen-video-mcp"):
        await library.get(execution_id="node-gw-1")
    with pytest.raises(LibraryError, match="newer heygen-video-mcp"):
        await library.observed(execution("node-gw-1", "processing"))


async def test_an_unchanged_status_needs_no_write_lock(tmp_path: Path) -> None:
    library = new_library(tmp_path, write_timeout=0.5)
    job = await new_job(library, 1, "processing")
    with lock_held(library.path):  # another process (say a SQLite browser) holds the write lock
        assert await library.observed(execution("node-gw-1", "processing")) == job
        assert await library.get(execution_id="node-gw-1") == job
        with pytest.raises(LibraryError, match="stayed locked"):  # a change still waits for the lock
            await library.observed(execution("node-gw-1", "completed"))
    changed = await library.observed(execution("node-gw-1", "completed"))
    assert changed.status == "completed" and changed.updated_at > job.updated_at
    assert [status for status, _, _ in await library.history(job.id)][-2:] == ["processing", "completed"]


# --- the kept connection ------------------------------------------------------------------------------------


def wal(path: Path) -> Path:
    return Path(f"{path}-wal")


async def test_the_kept_connection_follows_a_deleted_library(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    await new_job(library, 1)
    assert wal(library.path).exists()  # a connection is kept between operations (closing the last removes it)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{library.path}{suffix}").unlink()
    assert await library.jobs() == []  # a new, empty library
    await new_job(library, 2)
    # What the kept connection writes is in the new file, for anyone who opens it.
    assert sql(library.path, "SELECT execution_id FROM jobs") == [("node-gw-2",)]
    assert sql(library.path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
    assert wal(library.path).exists()
    library.close()
    assert not wal(library.path).exists()  # closed, and folded into the file


async def test_the_kept_connection_follows_a_replaced_library(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    await new_job(library, 1)
    assert wal(library.path).exists()
    other = Library(tmp_path / "other.sqlite3")
    other.migrate()
    await new_job(other, 7)
    other.close()
    os.replace(other.path, library.path)  # say, a backup restored over it
    assert [job.execution_id for job in await library.jobs()] == ["node-gw-7"]
    await new_job(library, 8)
    assert sql(library.path, "SELECT execution_id FROM jobs ORDER BY id") == [("node-gw-7",), ("node-gw-8",)]


# --- what a result carries ----------------------------------------------------------------------------------


async def test_a_result_leaves_out_what_does_not_apply(client: Client) -> None:
    job = data_of(await client.call_tool("generate_video", {"prompt": "Waves on black sand, aerial, overcast"}))
    checked = await client.call_tool("check_status", {"execution_id": job["execution_id"]})
    data = data_of(checked)  # the client validated it against the output schema
    assert data["status"] in ("submitted", "processing") and data["done"] is False
    assert data["execution_id"] == job["execution_id"] and data["prompt"] and data["provider"] == "veo_3_1"
    # Always there, null or not: whether there is an id, a saved file, a failed save.
    assert data["local_path"] is None and data["download_error"] is None
    assert data["saving"] is False and data["duplicate"] is False
    # Not there while they do not apply.
    assert not {"video_url", "video_id", "asset_id", "error", "waited_seconds"} & set(data)
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    schema = tools["check_status"].output_schema
    assert schema is not None
    assert schema["anyOf"][0]["required"] == ["execution_id", "status", "done", "next_step"]
    assert schema["properties"]["video_url"]["type"] == ["string", "null"]
    assert not [name for name, prop in schema["properties"].items() if "anyOf" in prop]


# --- render times of earlier jobs ---------------------------------------------------------------------------


async def rendered(
    library: Library, number: int, provider: str, ratio: str, *, created: float, took: float | None
) -> int:
    """A job this server submitted, completed `took` seconds after `created` (None: it failed)."""
    reservation = await library.reserve(
        VideoRequest.checked(prompt=f"job {number}: a kite over dunes", provider=provider, aspect_ratio=ratio),
        window=0,
        allow_duplicate=True,
    )
    job_id = reservation.job.id
    await library.submitted(job_id, execution(f"node-gw-{number}", "processing"))
    await library.observed(execution(f"node-gw-{number}", "completed" if took is not None else "failed"))
    sql(library.path, "UPDATE jobs SET created_at = ? WHERE id = ?", created, job_id)
    sql(library.path, "UPDATE status_changes SET at = ? WHERE job_id = ?", created, job_id)
    if took is not None:
        sql(
            library.path,
            "UPDATE status_changes SET at = ? WHERE job_id = ? AND status = 'completed'",
            created + took,
            job_id,
        )
    return job_id


async def test_render_durations_of_earlier_jobs_like_this_one(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    assert await library.render_durations("veo_3_1", "16:9") == []
    await rendered(library, 1, "veo_3_1", "16:9", created=1000, took=100)
    await rendered(library, 2, "veo_3_1", "16:9", created=2000, took=50)
    third = await rendered(library, 3, "veo_3_1", "16:9", created=3000, took=40)
    await rendered(library, 4, "veo_3_1", "9:16", created=3500, took=70)
    await rendered(library, 5, "kling_pro", "16:9", created=4000, took=30)
    await rendered(library, 6, "veo_3_1", "16:9", created=5000, took=None)  # failed: no render time
    # Completed again later (say HeyGen re-rendered it): the first completion counts.
    sql(library.path, "INSERT INTO status_changes (job_id, status, at) VALUES (?, 'completed', 3400)", third)
    # Not submitted from here (adopted by its id), and still rendering: not counted.
    adopted = await library.observed(execution("node-gw-elsewhere", "completed"))
    sql(library.path, "INSERT INTO status_changes (job_id, status, at) VALUES (?, 'completed', ?)", adopted.id, 1e10)
    await library.submitted(
        (await library.reserve(request("rendering"), window=0, allow_duplicate=True)).job.id,
        execution("node-gw-9", "processing"),
    )

    assert await library.render_durations("veo_3_1", "16:9") == [40, 50, 100]  # newest first
    assert await library.render_durations("veo_3_1", "16:9", limit=2) == [40, 50]
    assert await library.render_durations("veo_3_1", None) == [70, 40, 50, 100]
    assert await library.render_durations(None, "16:9") == [30, 40, 50, 100]
    assert await library.render_durations(None, None) == [30, 70, 40, 50, 100]
    assert await library.render_durations("sora_2", "16:9") == []
    # Served by an index of completed jobs, added by its own migration.
    indexes = [name for (_, name, *_) in sql(library.path, "PRAGMA index_list(jobs)")]
    assert "jobs_completed_render" in indexes
    assert sql(library.path, "PRAGMA user_version") == [(len(MIGRATIONS),)]
