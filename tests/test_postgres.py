"""The library in PostgreSQL (HEYGEN_DATABASE_URL), against a real server (tests/postgres_server.py): the
schema and its version, replicas sharing one database, and what the user is told when the database cannot
be used, never with its password. (The library's behaviour on both backends: test_library, test_tenants and
test_library_state.)"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import psycopg
import pytest
from mcp import Client
from pydantic import SecretStr

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import ConfigError, settings_from_env
from heygen_video_mcp.server.logs import configure_logging
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library import MIGRATIONS, Library
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.status import Execution
from tests.conftest import API_KEY, MakeSettings, data_of, run_together, text_of
from tests.postgres_server import PASSWORD, PostgresServer
from tests.test_library import FOX
from tests.test_stdio import console_script

pytestmark = pytest.mark.anyio

WRONG_PASSWORD = "hunter2-not-the-password"  # noqa: S105


@pytest.fixture
def library(database_url: str) -> Iterator[Library]:
    made = Library.postgres(database_url)
    made.migrate()
    yield made
    made.close()


def query(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url, autocommit=True) as db:
        cursor = db.execute(sql.encode())
        return cursor.fetchall() if cursor.description else []


# --- the schema -----------------------------------------------------------------------------------------------


async def test_schema_version_is_kept_in_a_table_and_not_rerun(library: Library, database_url: str) -> None:
    assert query(database_url, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]
    await submit_job(library)
    again = Library.postgres(database_url)  # a restart, or another replica
    again.migrate()
    again.close()
    assert query(database_url, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]
    assert query(database_url, "SELECT count(*) FROM jobs") == [(1,)]


def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    libraries = [Library.postgres(database_url) for _ in range(4)]
    failures: list[BaseException] = []

    def start(library: Library) -> None:
        try:
            library.migrate()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=start, args=(library,)) for library in libraries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert query(database_url, "SELECT version FROM schema_version") == [(len(MIGRATIONS),)]


async def test_a_newer_database_is_refused_and_left_untouched(library: Library, database_url: str) -> None:
    await submit_job(library)
    query(database_url, f"UPDATE schema_version SET version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LibraryError) as raised:
        Library.postgres(database_url).migrate()
    message = str(raised.value)
    assert f"schema version {len(MIGRATIONS) + 1}" in message and f"up to version {len(MIGRATIONS)}" in message
    assert library.where in message and PASSWORD not in message
    assert query(database_url, "SELECT count(*) FROM jobs") == [(1,)]


async def test_columns_a_later_release_added_are_ignored(library: Library, database_url: str) -> None:
    job = await submit_job(library)
    # What a later minor release may do without a migration: add columns that this one can ignore.
    query(database_url, "ALTER TABLE jobs ADD COLUMN thumbnail_path TEXT")
    query(database_url, "ALTER TABLE jobs ADD COLUMN rating INTEGER NOT NULL DEFAULT 0")
    Library.postgres(database_url).migrate()  # the same version: not refused
    assert (await library.get(job_id=job)) is not None
    assert (await library.observed(Execution("node-gw-pg", "completed", "completed"))).status == "completed"
    assert [j.id for j in await library.jobs()] == [job]


# --- what the user is told --------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.mark.parametrize(
    ("where", "said"),
    [
        ("wrong password", "refused the login"),
        ("no server", "cannot be reached"),
        ("no database", "does not exist"),
    ],
)
def test_a_database_that_cannot_be_used_is_named_without_its_password(
    postgres: PostgresServer, where: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = WRONG_PASSWORD if where == "wrong password" else PASSWORD
    url = {
        "wrong password": postgres.url(password=secret),
        "no server": postgres.url(port=closed_port()),
        "no database": postgres.url("no_such_library"),
    }[where]
    library = Library.postgres(url, lock_timeout=2)
    with caplog.at_level(logging.DEBUG), pytest.raises(LibraryError) as raised:
        library.migrate()
    message = str(raised.value)
    assert said in message, message
    assert "HEYGEN_DATABASE_URL" in message
    assert library.where in message and "127.0.0.1" in message
    assert secret not in message and secret not in repr(library) and secret not in caplog.text


def test_the_server_stops_at_start_naming_the_database(postgres: PostgresServer, tmp_path: Path) -> None:
    secret = WRONG_PASSWORD
    env = {"HEYGEN_DATABASE_URL": postgres.url(password=secret), "HEYGEN_OUTPUT_DIR": str(tmp_path)}
    done = subprocess.run(
        [console_script()], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "refused the login" in done.stderr and "postgresql://heygen@127.0.0.1" in done.stderr
    assert secret not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def test_the_database_url_is_a_secret_setting(postgres: PostgresServer) -> None:
    settings = settings_from_env({"HEYGEN_DATABASE_URL": postgres.url()})
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.model_dump_json()
    library = settings.library()
    assert PASSWORD not in repr(library) and "postgresql://heygen@127.0.0.1" in library.where
    library.close()
    with pytest.raises(ConfigError) as raised:
        settings_from_env({"HEYGEN_DATABASE_URL": f"mysql://heygen:{PASSWORD}@127.0.0.1/heygen"})
    assert "HEYGEN_DATABASE_URL" in str(raised.value) and "postgresql://" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_the_log_is_scrubbed_of_the_database_password(capsys: pytest.CaptureFixture[str]) -> None:
    url = SecretStr(f"postgresql://heygen:{WRONG_PASSWORD}@127.0.0.1:5432/heygen")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging(None, "INFO", database_url=url)
        logging.getLogger("psycopg.pool").warning("could not connect with %s", url.get_secret_value())
    finally:
        root.handlers[:], root.level = handlers, level
    logged = capsys.readouterr().err
    assert "could not connect with postgresql://heygen:<redacted>@127.0.0.1:5432/heygen" in logged
    assert WRONG_PASSWORD not in logged


# --- replicas on one database ------------------------------------------------------------------------------------

# A replica: its own server process on the shared database, making the same requests as the other once the
# barrier opens, one after another; prints each answer.
REPLICA = """
import json, sys
from pathlib import Path
import anyio
from mcp import Client
from tests.conftest import wait_together
from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings

name, barrier, url, base_url, key, out, prompt, count = sys.argv[1:9]
settings = Settings(api_key=key, api_base_url=base_url, database_url=url, output_dir=out, read_timeout=5)

async def main() -> None:
    async with Client(create_server(settings)) as client:
        await client.call_tool("list_videos", {})  # connected and migrated
        wait_together(name, Path(barrier))
        for number in range(int(count)):
            result = await client.call_tool("generate_video", {"prompt": f"{prompt}, take {number}"})
            print(json.dumps({"error": result.is_error, **(result.structured_content or {})}), flush=True)

anyio.run(main)
"""


def test_identical_calls_on_two_replicas_post_once(database_url: str, sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.reset()
    count = 20
    common = [database_url, sandbox.base_url, API_KEY, str(tmp_path / "videos"), FOX, str(count)]
    outputs = run_together(REPLICA, {"a": common, "b": common}, tmp_path)
    answers: list[list[dict[str, object]]] = []
    for returncode, stdout, stderr in outputs:
        assert returncode == 0, stderr
        answers.append([json.loads(line) for line in stdout.splitlines()])
    assert all(len(replica) == count for replica in answers)
    for a, b in zip(*answers, strict=True):
        assert not a["error"] and not b["error"], (a, b)
        assert a["execution_id"] == b["execution_id"], (a, b)  # one job, whichever replica came first
        assert sorted([a["duplicate"], b["duplicate"]]) == [False, True]
    assert sandbox.count("create") == count  # each request was bought once
    sandbox.reset()


async def test_a_dropped_connection_is_replaced(library: Library, database_url: str) -> None:
    job = await submit_job(library)
    # The database restarts, or a proxy drops idle connections: every connection of ours is cut.
    cut = query(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'heygen-video-mcp'",
    )
    assert cut, "the pool had no connection to cut"
    assert await library.get(job_id=job) is not None
    assert [j.id for j in await library.jobs()] == [job]


async def test_a_database_gone_while_the_server_runs_is_named(caplog: pytest.LogCaptureFixture) -> None:
    server = PostgresServer().start()  # one of its own, to stop
    try:
        library = Library.postgres(server.url(), write_timeout=1)
        library.migrate()
        job = await submit_job(library)
        server.stop()
        with caplog.at_level(logging.DEBUG), pytest.raises(LibraryError) as raised:
            await library.get(job_id=job)
        library.close()
    finally:
        server.close()
    message = str(raised.value)
    assert "cannot be reached" in message and library.where in message, message
    assert PASSWORD not in message and PASSWORD not in caplog.text


async def test_a_write_waits_for_a_short_lock_and_other_tenants_do_not(library: Library, database_url: str) -> None:
    alice, bob = library.for_tenant("alice"), library.for_tenant("bob")
    kite = VideoRequest.checked(prompt="A kite over a windy beach", provider="veo3_fast", aspect_ratio="1:1")
    reservation = await alice.reserve(kite, window=600, allow_duplicate=False)
    blocker = psycopg.connect(database_url)  # a transaction holding alice's job for a moment
    blocker.execute("SELECT id FROM jobs FOR UPDATE")
    finished: list[str] = []

    async def record_alices_answer() -> None:
        await alice.submitted(reservation.job.id, Execution("node-gw-late", "submitted", "submitted"))
        finished.append("alice")

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(record_alices_answer)  # waits for the row, holding alice's write lock
            await anyio.sleep(0.2)
            other = await bob.reserve(kite, window=600, allow_duplicate=False)  # bob does not wait for alice
            finished.append("bob")
            assert not other.existing
            blocker.close()
    finally:
        blocker.close()
    assert finished == ["bob", "alice"]
    job = await alice.get(execution_id="node-gw-late")
    assert job is not None and job.id == reservation.job.id


async def test_a_paid_id_the_database_cannot_record_goes_to_the_log(
    make_settings: MakeSettings, database_url: str, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(database_url=database_url)
    library = Library.postgres(database_url, write_timeout=0.5)
    sandbox.inject("create", Fault(delay=1.0, passthrough=True))
    blocker = psycopg.connect(database_url)  # a stuck transaction that holds the job's row
    try:
        async with Client(create_server(settings, library=library)) as client:
            with caplog.at_level(logging.WARNING):
                async with anyio.create_task_group() as group:
                    answers = []

                    async def generate() -> None:
                        answers.append(await client.call_tool("generate_video", {"prompt": FOX}))

                    group.start_soon(generate)
                    with anyio.fail_after(10):
                        while sandbox.count("create") == 0:  # noqa: ASYNC110 (the sandbox's thread)
                            await anyio.sleep(0.01)
                    blocker.execute("SELECT id FROM jobs FOR UPDATE")
        [answer] = answers
        assert not answer.is_error, text_of(answer)
        execution_id = data_of(answer)["execution_id"]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any(execution_id in w and FOX in w for w in warnings), warnings
        assert all(PASSWORD not in w for w in warnings)
    finally:
        blocker.close()


async def submit_job(library: Library) -> int:
    request = VideoRequest.checked(prompt="A paper boat on a puddle, rain", provider="veo3_fast", aspect_ratio="1:1")
    reservation = await library.reserve(request, window=600, allow_duplicate=False)
    await library.submitted(reservation.job.id, Execution("node-gw-pg", "submitted", "submitted"))
    return reservation.job.id
