"""The library through a PostgreSQL restart or outage (a real server of the test's own, stopped and started
on the same port): stale pooled connections hold no call up, an outage is reported as worth retrying, and
a paid execution id whose answer came during the outage is recorded with its prompt, in one row, once the
database is back, whichever replica follows it first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import psycopg
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.library import Library
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.status import Execution
from tests.conftest import MakeSettings, data_of, text_of
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

PROMPT = "A tram crossing a bridge in the fog, long lens"


@pytest.fixture
def server() -> Iterator[PostgresServer]:
    made = PostgresServer().start()
    try:
        yield made
    finally:
        made.close()


def rows(server: PostgresServer) -> list[tuple[Any, ...]]:
    return server.execute("SELECT prompt, execution_id FROM jobs ORDER BY id")


async def test_stale_connections_after_a_restart_hold_no_call_up(server: PostgresServer) -> None:
    library = Library.postgres(server.url(), write_timeout=3)
    library.migrate()
    try:
        tenants = [library.for_tenant(f"t{n}") for n in range(6)]
        request = VideoRequest.checked(prompt=PROMPT, provider="veo3_fast", aspect_ratio="1:1")
        jobs = [(await t.reserve(request, window=600, allow_duplicate=False)).job.id for t in tenants]
        # Six writes held at once by a transaction that locks their rows: six pooled connections, idle after.
        blocker = psycopg.connect(server.url())
        blocker.execute("SELECT id FROM jobs FOR UPDATE")
        async with anyio.create_task_group() as group:
            for tenant, job in zip(tenants, jobs, strict=True):
                group.start_soon(tenant.submitted, job, Execution(f"node-gw-{job}", "submitted", "submitted"))
            await anyio.sleep(0.5)
            blocker.close()
        server.restart()  # every pooled connection is now stale
        listed = await tenants[0].jobs()
        assert [job.execution_id for job in listed] == [f"node-gw-{jobs[0]}"]
    finally:
        library.close()


async def test_an_outage_is_reported_as_worth_retrying(server: PostgresServer, make_settings: MakeSettings) -> None:
    library = Library.postgres(server.url(), write_timeout=1)
    async with Client(create_server(make_settings(database_url=server.url()), library=library)) as client:
        made = data_of(await client.call_tool("generate_video", {"prompt": PROMPT}))
        server.stop()
        try:
            answer = await client.call_tool("check_status", {"execution_id": made["execution_id"]})
        finally:
            server.restart()
    assert answer.is_error, text_of(answer)
    said = data_of(answer)
    assert said["retryable"] is True, said
    assert "cannot be reached" in said["message"] and "busy" not in said["message"], said


async def submit_through_an_outage(client: Client, server: PostgresServer, sandbox: Sandbox) -> str:
    """generate_video, with PostgreSQL stopped while HeyGen holds the answer; started again after."""
    sandbox.inject("create", Fault(after=True, delay=1.0))
    answers: list[Any] = []

    async def generate() -> None:
        answers.append(await client.call_tool("generate_video", {"prompt": PROMPT}))

    async with anyio.create_task_group() as group:
        group.start_soon(generate)
        with anyio.fail_after(10):
            while sandbox.count("create") == 0:  # noqa: ASYNC110 (the sandbox's thread)
                await anyio.sleep(0.01)
        server.stop()
    server.restart()
    [answer] = answers
    assert not answer.is_error, text_of(answer)
    execution_id: str = data_of(answer)["execution_id"]
    assert execution_id
    return execution_id


async def test_a_paid_id_answered_during_an_outage_is_recorded_with_its_prompt(
    server: PostgresServer, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    library = Library.postgres(server.url(), write_timeout=1)
    async with Client(create_server(make_settings(database_url=server.url()), library=library)) as client:
        execution_id = await submit_through_an_outage(client, server, sandbox)
        followed = data_of(await client.call_tool("check_status", {"execution_id": execution_id}))
        assert followed["prompt"] == PROMPT, followed
    assert rows(server) == [(PROMPT, execution_id)]


async def test_followed_first_on_another_replica_it_still_ends_in_one_row(
    server: PostgresServer, make_settings: MakeSettings, sandbox: Sandbox
) -> None:
    settings = make_settings(database_url=server.url())
    library = Library.postgres(server.url(), write_timeout=1)
    other = Library.postgres(server.url(), write_timeout=1)  # a second replica on the same database
    async with Client(create_server(settings, library=library)) as client:
        execution_id = await submit_through_an_outage(client, server, sandbox)
        async with Client(create_server(settings, library=other)) as replica:
            await replica.call_tool("check_status", {"execution_id": execution_id})
        with anyio.fail_after(20):  # the first replica records its answer in the background
            while rows(server) != [(PROMPT, execution_id)]:  # noqa: ASYNC110 (another process writes it)
                await anyio.sleep(0.2)
        listed = data_of(await client.call_tool("list_videos", {}))
    assert [(v["prompt"], v["execution_id"]) for v in listed["videos"]] == [(PROMPT, execution_id)]
