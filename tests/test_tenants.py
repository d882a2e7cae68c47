"""Tenants (remote mode): views of one library, each seeing only its own jobs.

Through the library API, and through mcp.Client with two servers on one library file, as a remote server
would serve two users: another tenant's execution id answers as unknown in every tool, and is never read
from HeyGen nor adopted; the duplicate guard is per tenant.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import anyio
import pytest
from mcp import Client, MCPError

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox
from heygen_video_mcp.tools.library import MIGRATIONS, BudgetUsed, Library, Reservation, script
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.status import Execution
from tests.conftest import BACKENDS, MakeSettings, data_of, on_backend, text_of
from tests.test_library import FOX, complete, listed, submit

pytestmark = pytest.mark.anyio


def request(prompt: str = "A paper boat drifting down a rain gutter, macro lens, overcast light") -> VideoRequest:
    return VideoRequest(prompt=prompt, provider="veo_3_1", aspect_ratio="16:9")


def execution(execution_id: str, status: str = "submitted") -> Execution:
    return Execution(execution_id, status, status)  # type: ignore[arg-type]


async def new_job(library: Library, execution_id: str, prompt: str = "a paper boat") -> int:
    reservation = await library.reserve(request(prompt), window=600, allow_duplicate=False)
    assert not reservation.existing
    await library.submitted(reservation.job.id, execution(execution_id))
    return reservation.job.id


@pytest.fixture(params=BACKENDS)
def make_settings(request: pytest.FixtureRequest, make_settings: MakeSettings) -> MakeSettings:
    """Every test here, on a SQLite file and on a PostgreSQL database."""
    return on_backend(request, make_settings)


@pytest.fixture
def library(settings: Settings) -> Iterator[Library]:
    base = settings.library()
    base.migrate()
    yield base
    base.close()


# --- the library API ----------------------------------------------------------------------------------------


async def test_a_tenant_reads_and_writes_only_its_own_jobs(library: Library) -> None:
    alice, bob = library.for_tenant("alice"), library.for_tenant("bob")
    job_id = await new_job(alice, "node-gw-alice")
    await alice.observed(execution("node-gw-alice", "completed"))

    assert [j.execution_id for j in await alice.jobs()] == ["node-gw-alice"]
    assert (await alice.get(job_id=job_id)) is not None
    assert await alice.render_durations(None, None) != []
    assert [status for status, _, _ in await alice.history(job_id)] == ["submitting", "submitted", "completed"]

    for view in (bob, library):  # another tenant, and the single user of stdio mode
        assert await view.jobs(include_unsent=True) == []
        assert await view.get(execution_id="node-gw-alice") is None
        assert await view.get(job_id=job_id) is None
        assert await view.history(job_id) == []
        assert await view.render_durations(None, None) == []
        assert not await view.claim_download(job_id, "someone", 60.0)
        assert not await view.renew_download(job_id, "someone", 60.0)
        assert await view.foreign("node-gw-alice")
    assert not await alice.foreign("node-gw-alice")
    assert not await bob.foreign("node-gw-never-seen")
    assert (await alice.get(job_id=job_id)) == (await alice.jobs())[0]  # untouched by the others
    assert (await alice.get(job_id=job_id)).tenant == "alice"  # type: ignore[union-attr]


async def test_the_duplicate_guard_is_per_tenant(library: Library) -> None:
    alice, bob = library.for_tenant("alice"), library.for_tenant("bob")
    first = await alice.reserve(request(), window=600, allow_duplicate=False)
    assert not first.existing
    # The same request from another tenant is that tenant's own first one: it is sent, and paid, by them.
    other = await bob.reserve(request(), window=600, allow_duplicate=False)
    assert not other.existing and other.job.id != first.job.id
    again = await alice.reserve(request(), window=600, allow_duplicate=False)
    assert again.existing and again.job.id == first.job.id


async def test_the_daily_budget_is_taken_in_the_same_step_as_the_reservation(library: Library) -> None:
    alice, bob = library.for_tenant("alice"), library.for_tenant("bob")

    async def reserve(view: Library, prompt: str) -> Reservation | None:
        try:
            return await view.reserve(request(prompt), window=600, allow_duplicate=False, daily_budget=2)
        except BudgetUsed:
            return None

    # Five different requests at once, at a budget of two: exactly two are recorded (and would be sent).
    results: list[Reservation | None] = []

    async def one(n: int) -> None:
        results.append(await reserve(alice, f"A kite over dunes, take {n}"))

    async with anyio.create_task_group() as group:
        for n in range(5):
            group.start_soon(one, n)
    taken = [r for r in results if r is not None]
    assert len(taken) == 2 and not any(r.existing for r in taken)
    # An identical repeat costs nothing, so the budget does not refuse it; a refused submission gives its
    # place back; another tenant's budget is its own.
    again = await reserve(alice, taken[0].job.prompt)
    assert again is not None and again.existing and again.job.id == taken[0].job.id
    await alice.submit_failed(taken[1].job.id, "HeyGen refused it (400)", uncertain=False)
    assert await reserve(alice, "A kite over dunes, a new take") is not None
    assert await reserve(alice, "A kite over dunes, one more") is None
    assert await reserve(bob, "A kite over dunes, take 0") is not None


async def test_execution_ids_are_unique_per_tenant(library: Library) -> None:
    alice, bob = library.for_tenant("alice"), library.for_tenant("bob")
    await new_job(alice, "node-gw-shared")
    # Recorded under two tenants (two users of one HeyGen account may both follow it): two jobs, one each.
    adopted = await bob.observed(execution("node-gw-shared", "processing"))
    assert adopted.tenant == "bob" and adopted.prompt == ""
    assert (await alice.get(execution_id="node-gw-shared")).status == "submitted"  # type: ignore[union-attr]
    assert not await alice.foreign("node-gw-shared") and not await bob.foreign("node-gw-shared")
    again = await bob.observed(execution("node-gw-shared", "completed"))  # once per tenant: the same job
    assert again.id == adopted.id and again.status == "completed"
    assert [j.id for j in await bob.jobs()] == [adopted.id]


async def test_views_share_one_store(library: Library) -> None:
    alice = library.for_tenant("alice")
    assert alice.where == library.where and alice.migrated
    assert "alice" in repr(alice)
    await new_job(alice, "node-gw-1")
    # A second view of the same tenant sees what the first wrote.
    assert [j.execution_id for j in await library.for_tenant("alice").jobs()] == ["node-gw-1"]


async def test_a_library_from_before_tenants_keeps_its_jobs_for_the_stdio_user(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for number, migration in enumerate(MIGRATIONS[:3], start=1):
            db.executescript(script(migration, "sqlite"))
            db.execute(f"PRAGMA user_version = {number}")
        db.execute(
            "INSERT INTO jobs (id, execution_id, prompt, status, created_at, updated_at) "
            "VALUES (7, 'node-gw-old', 'an old one', 'completed', 1, 3)"
        )
        db.executemany(
            "INSERT INTO status_changes (job_id, status, at) VALUES (7, ?, ?)",
            [("submitting", 1.0), ("submitted", 2.0), ("completed", 3.0)],
        )
    finally:
        db.close()
    library = Library(path)
    library.migrate()
    job = await library.get(execution_id="node-gw-old")
    assert job is not None and job.id == 7 and job.tenant == "" and job.prompt == "an old one"
    assert await library.history(7) == [("submitting", 1.0, None), ("submitted", 2.0, None), ("completed", 3.0, None)]
    assert await library.render_durations(None, None) == [2.0]
    assert await library.for_tenant("alice").get(execution_id="node-gw-old") is None
    # New jobs get ids after the old ones, and status changes still point at their jobs.
    new_id = await new_job(library, "node-gw-new")
    assert new_id > 7
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("PRAGMA foreign_key_check").fetchall() == []
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with pytest.raises(sqlite3.IntegrityError):  # an execution id once per tenant, in the file too
            check.execute(
                "INSERT INTO jobs (tenant, execution_id, prompt, status, created_at, updated_at) "
                "VALUES ('', 'node-gw-old', '', 'submitted', 0, 0)"
            )


# --- through the MCP server ---------------------------------------------------------------------------------


async def test_another_tenants_video_is_unknown_in_every_tool(
    settings: Settings, sandbox: Sandbox, mode: str, provider: str
) -> None:
    base = settings.library()
    async with (
        Client(create_server(settings, library=base.for_tenant("alice")), mode=mode) as alice,
        Client(create_server(settings, library=base.for_tenant("bob")), mode=mode) as bob,
    ):
        execution_id = await submit(alice, provider=provider)
        await complete(alice, execution_id)
        reads = len(sandbox.status_reads(execution_id))

        assert await listed(bob) == []
        for tool, arguments in (
            ("check_status", {}),
            ("wait_for_video", {"max_wait_seconds": 2}),
            ("download_video", {}),
        ):
            result = await bob.call_tool(tool, {"execution_id": execution_id, **arguments})
            assert result.is_error, (tool, text_of(result))
            assert "not_found" in text_of(result) or "does not know" in text_of(result), (tool, text_of(result))
        with pytest.raises(MCPError, match=execution_id):
            await bob.read_resource(f"heygen://videos/{execution_id}")
        assert data_of(await bob.call_tool("list_videos", {"query": execution_id}))["count"] == 0

        assert len(sandbox.status_reads(execution_id)) == reads  # HeyGen was never asked on bob's behalf
        assert await listed(bob) == []  # nor was the job adopted
        assert [v["execution_id"] for v in await listed(alice)] == [execution_id]


async def test_identical_requests_of_two_tenants_are_two_jobs(settings: Settings, sandbox: Sandbox, mode: str) -> None:
    base = settings.library()
    async with (
        Client(create_server(settings, library=base.for_tenant("alice")), mode=mode) as alice,
        Client(create_server(settings, library=base.for_tenant("bob")), mode=mode) as bob,
    ):
        async with anyio.create_task_group() as group:  # at once, as two users would
            ids: dict[str, str] = {}

            async def go(name: str, client: Client) -> None:
                ids[name] = await submit(client, FOX)

            group.start_soon(go, "alice", alice)
            group.start_soon(go, "bob", bob)
        assert ids["alice"] != ids["bob"]
        assert sandbox.count("create") == 2
        again = await alice.call_tool("generate_video", {"prompt": FOX})
        assert data_of(again)["duplicate"] and data_of(again)["execution_id"] == ids["alice"]
        assert sandbox.count("create") == 2
        assert [v["execution_id"] for v in await listed(bob)] == [ids["bob"]]
