"""The library file in the states a user's machine puts it in: written by a newer release, corrupt, locked by
another process, deleted while the server runs, extended with columns this release does not know; and the
download claim that lets exactly one process save a video.

Real SQLite files in tmp_path; another process is a real subprocess that imports nothing of ours but SQLite
(or only tools.library), so it works whatever else is being edited.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.tools.errors import LibraryError
from heygen_video_mcp.tools.library import MIGRATIONS, Library, script
from heygen_video_mcp.tools.request import VideoRequest
from heygen_video_mcp.tools.status import SUBMIT_UNCERTAIN, SUBMITTING, Execution, Job
from tests.conftest import BACKENDS, MakeSettings, data_of, run_together, text_of
from tests.test_library import submit

pytestmark = pytest.mark.anyio

OURS = len(MIGRATIONS)

# Holds a write lock on a library until told (stdin closes) or for argv[3] seconds, like a SQLite browser
# with unsaved changes. argv[2] is IMMEDIATE (what a writer takes) or EXCLUSIVE (also shuts out readers
# when the file is not in WAL mode).
HOLDER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)
db.execute("BEGIN " + sys.argv[2])
print("held", flush=True)
release = float(sys.argv[3])
if release > 0:
    time.sleep(release)
else:
    sys.stdin.read()
db.execute("COMMIT")
db.close()
"""

# Claims every job of a shared library in its own order, once the barrier file appears; prints the wins.
CLAIMER = """
import random, sys
from pathlib import Path
import anyio
from tests.conftest import wait_together
from heygen_video_mcp.tools.library import Library

owner, barrier, where, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
library = Library.postgres(where) if where.startswith("postgresql:") else Library(Path(where))
order = list(range(1, count + 1))
random.shuffle(order)
wait_together(owner, barrier)

async def main() -> None:
    won = [job_id for job_id in order if await library.claim_download(job_id, owner, 60.0)]
    print(" ".join(map(str, sorted(won))))

anyio.run(main)
"""


def request(prompt: str = "A paper boat on a puddle, macro lens, rain") -> VideoRequest:
    return VideoRequest.checked(prompt=prompt, provider="veo3_fast", aspect_ratio="1:1")


def execution(execution_id: str, status: str = "submitted") -> Execution:
    return Execution(execution_id=execution_id, status=status, heygen_status=status)  # type: ignore[arg-type]


def new_library(tmp_path: Path, **options: float) -> Library:
    library = Library(tmp_path / "library.sqlite3", **options)
    library.migrate()
    return library


async def new_job(library: Library, number: int = 1, status: str = "submitted") -> Job:
    reservation = await library.reserve(request(f"job {number}: a paper boat"), window=600, allow_duplicate=False)
    return await library.submitted(reservation.job.id, execution(f"node-gw-{number}", status))


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a library is: a SQLite file, or a PostgreSQL database (for what holds on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "library.sqlite3")
    url: str = request.getfixturevalue("database_url")
    return url


@pytest.fixture
def library(location: str) -> Iterator[Library]:
    made = Library.postgres(location) if location.startswith("postgresql:") else Library(Path(location))
    made.migrate()
    yield made
    made.close()


def sql(path: Path, statement: str, *args: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return db.execute(statement, args).fetchall()
    finally:
        db.close()


def single_file(path: Path) -> None:
    """Fold the WAL into the file and leave WAL mode, so the file's bytes are the whole library."""
    sql(path, "PRAGMA journal_mode=DELETE")
    assert not Path(f"{path}-wal").exists()


@contextmanager
def lock_held(path: Path, mode: str = "IMMEDIATE", release_after: float = 0.0) -> Iterator[subprocess.Popen[str]]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode, str(release_after)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line == "held\n", (line, holder.communicate())
        yield holder
    finally:
        holder.communicate(timeout=30)  # closes stdin: the holder commits and exits
        assert holder.returncode == 0


def library_error(exc: BaseException) -> LibraryError | None:
    if isinstance(exc, LibraryError):
        return exc
    for inner in [exc.__cause__, exc.__context__, *getattr(exc, "exceptions", ())]:
        if isinstance(inner, BaseException) and (found := library_error(inner)) is not None:
            return found
    return None


async def start_error(settings: Settings) -> LibraryError:
    """Start the server (its lifespan migrates the library) and return the LibraryError that stopped it."""
    try:
        async with Client(create_server(settings)):
            pass
    except Exception as exc:
        found = library_error(exc)
        if found is None:
            raise
        return found
    pytest.fail("the server started")


def no_sqlite_error(exc: LibraryError) -> None:
    assert "Traceback" not in str(exc)
    assert not isinstance(exc, sqlite3.Error)


# --- a file from a newer release ----------------------------------------------------------------------------


def newer_file(path: Path) -> bytes:
    Library(path).migrate()
    sql(path, f"PRAGMA user_version = {OURS + 1}")
    sql(path, "CREATE TABLE thumbnails (job_id INTEGER, png BLOB)")
    single_file(path)
    return path.read_bytes()


def assert_newer_message(message: str, path: Path) -> None:
    assert str(path) in message
    assert f"version {OURS + 1}" in message
    assert f"version {OURS}" in message or f"up to {OURS}" in message
    assert "untouched" in message
    assert "newer heygen-video-mcp" in message
    assert "HEYGEN_LIBRARY_PATH" in message
    assert "upgrade" in message.lower()


async def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    before = newer_file(path)
    library = Library(path)
    with pytest.raises(LibraryError) as raised:
        library.migrate()
    assert_newer_message(str(raised.value), path)
    no_sqlite_error(raised.value)
    # Every operation refuses it too, and writes nothing.
    with pytest.raises(LibraryError) as again:
        await library.reserve(request(), window=600, allow_duplicate=False)
    assert_newer_message(str(again.value), path)
    with pytest.raises(LibraryError):
        await library.jobs()
    assert path.read_bytes() == before
    assert sql(path, "PRAGMA journal_mode") == [("delete",)]


async def test_newer_schema_stops_the_server(settings: Settings) -> None:
    path = settings.library_file
    path.parent.mkdir(parents=True)
    before = newer_file(path)
    assert_newer_message(str(await start_error(settings)), path)
    assert path.read_bytes() == before


async def test_newer_release_migrating_under_a_running_one_is_noticed(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    await new_job(library)
    sql(library.path, f"PRAGMA user_version = {OURS + 1}")
    with pytest.raises(LibraryError) as raised:
        await new_job(library, 2)
    assert_newer_message(str(raised.value), library.path)
    assert sql(library.path, "SELECT count(*) FROM jobs") == [(1,)]


# --- a corrupt file -----------------------------------------------------------------------------------------


def damage(path: Path, kind: str) -> None:
    if kind == "not a database":
        path.write_bytes(b"This is a text file that someone named like the library.\n" * 200)
        return
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executemany(
            "INSERT INTO jobs (prompt, status, created_at, updated_at) VALUES (?, 'submitted', ?, ?)",
            [(f"prompt {n} " + "words " * 40, n, n) for n in range(500)],
        )
    finally:
        db.close()
    single_file(path)
    data = bytearray(path.read_bytes())
    assert len(data) > 8 * 4096
    data[5 * 4096 : 5 * 4096 + 600] = bytes(range(256)) * 2 + bytes(88)
    path.write_bytes(bytes(data))


def assert_corrupt_message(message: str, path: Path) -> None:
    assert str(path) in message
    assert f"mv '{path}' '{path}.corrupt'" in message
    assert "new, empty library" in message
    assert "next start" in message


@pytest.mark.parametrize("kind", ["not a database", "damaged pages"])
async def test_corrupt_file_is_named_with_how_to_move_it_aside(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "library.sqlite3"
    Library(path).migrate()
    damage(path, kind)
    with pytest.raises(LibraryError) as raised:
        Library(path).migrate()
    assert_corrupt_message(str(raised.value), path)
    no_sqlite_error(raised.value)


async def test_corrupt_file_met_while_running_is_named_too(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    damage(library.path, "not a database")
    with pytest.raises(LibraryError) as raised:
        await library.jobs()
    assert_corrupt_message(str(raised.value), library.path)


async def test_corrupt_file_stops_the_server(settings: Settings) -> None:
    path = settings.library_file
    path.parent.mkdir(parents=True)
    damage(path, "not a database")
    assert_corrupt_message(str(await start_error(settings)), path)


async def test_moving_the_corrupt_file_aside_gives_a_new_library(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    damage(path, "not a database")
    with pytest.raises(LibraryError):
        Library(path).migrate()
    path.rename(f"{path}.corrupt")
    library = Library(path)
    library.migrate()
    assert (await new_job(library)).status == "submitted"


# --- locked by another process ------------------------------------------------------------------------------


def assert_locked_message(message: str, path: Path) -> None:
    assert str(path) in message
    assert "another process" in message
    assert "write lock" in message
    assert "heygen-video-mcp" in message
    assert "SQLite browser" in message


@pytest.mark.parametrize("journal", ["wal", "delete"])
async def test_library_locked_at_start_waits_a_bounded_time_then_says_so(tmp_path: Path, journal: str) -> None:
    path = tmp_path / "library.sqlite3"
    if journal == "wal":
        Library(path).migrate()
        mode = "IMMEDIATE"
    else:  # a file never opened by us (or in rollback mode): a browser's lock shuts out readers too
        sql(path, "CREATE TABLE notes (text TEXT)")
        mode = "EXCLUSIVE"
    with lock_held(path, mode):
        start = time.monotonic()
        with pytest.raises(LibraryError) as raised:
            Library(path, lock_timeout=0.5).migrate()
        elapsed = time.monotonic() - start
    assert 0.45 <= elapsed < 4, elapsed
    assert_locked_message(str(raised.value), path)
    no_sqlite_error(raised.value)


async def test_lock_released_in_time_lets_the_library_start(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    first_release_file(path)  # so that there is a migration to wait for
    with lock_held(path, "IMMEDIATE", release_after=0.4):
        Library(path, lock_timeout=10).migrate()
    assert sql(path, "PRAGMA user_version") == [(OURS,)]


async def test_library_locked_at_start_stops_the_server(make_settings: MakeSettings) -> None:
    settings = make_settings(library_lock_seconds=0.5)
    path = settings.library_file
    Library(path).migrate()
    with lock_held(path):
        error = await start_error(settings)
    assert_locked_message(str(error), path)


# --- writes meeting a lock ----------------------------------------------------------------------------------


async def test_a_write_waits_for_a_short_lock_and_goes_on(tmp_path: Path) -> None:
    library = new_library(tmp_path, write_timeout=10)
    reservation = await library.reserve(request(), window=600, allow_duplicate=False)
    with lock_held(library.path, release_after=0.5):
        job = await library.submitted(reservation.job.id, execution("node-gw-late"))
    assert job.execution_id == "node-gw-late"
    assert (await library.get(execution_id="node-gw-late")) == job


async def test_a_write_locked_past_its_bound_names_the_file(tmp_path: Path) -> None:
    library = new_library(tmp_path, write_timeout=0.6)
    reservation = await library.reserve(request(), window=600, allow_duplicate=False)
    with lock_held(library.path):
        start = time.monotonic()
        with pytest.raises(LibraryError) as raised:
            await library.submitted(reservation.job.id, execution("node-gw-lost"))
        elapsed = time.monotonic() - start
        # Reads do not need the write lock: the library stays readable meanwhile.
        [job] = await library.jobs(include_unsent=True)
    assert 0.5 <= elapsed < 3, elapsed
    message = str(raised.value)
    assert str(library.path) in message
    assert "another process" in message and "write lock" in message
    no_sqlite_error(raised.value)
    assert job.status == SUBMITTING
    assert await library.get(execution_id="node-gw-lost") is None


# --- deleted while the server runs --------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["file", "folder"])
async def test_deleted_library_is_recreated_with_one_warning(
    tmp_path: Path, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    library = Library(tmp_path / "data" / "library.sqlite3")
    library.migrate()
    await new_job(library)
    if what == "file":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{library.path}{suffix}").unlink(missing_ok=True)
    else:
        shutil.rmtree(library.path.parent)
    with caplog.at_level(logging.WARNING, logger="heygen_video_mcp.tools.library"):
        assert await library.jobs() == []
        job = await new_job(library, 2)
        assert await library.get(execution_id="node-gw-2") == job
        assert [j.execution_id for j in await library.jobs()] == ["node-gw-2"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(library.path) in warnings[0].getMessage()
    assert sql(library.path, "PRAGMA user_version") == [(OURS,)]
    assert sql(library.path, "PRAGMA journal_mode") == [("wal",)]


async def test_an_answer_arriving_after_the_library_was_deleted_is_kept(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    paid = (await library.reserve(request("paid"), window=600, allow_duplicate=False)).job
    refused = (await library.reserve(request("refused"), window=600, allow_duplicate=False)).job
    for suffix in ("", "-wal", "-shm"):
        Path(f"{library.path}{suffix}").unlink(missing_ok=True)
    # The paid job's id must not be lost with the file: it is kept, as a job adopted by its execution id.
    job = await library.submitted(paid.id, execution("node-gw-paid"))
    assert (job.execution_id, job.status) == ("node-gw-paid", "submitted")
    assert [j.execution_id for j in await library.jobs()] == ["node-gw-paid"]
    with pytest.raises(LibraryError, match="no longer in the video library"):
        await library.submit_failed(refused.id, "HeyGen said 400", uncertain=False)


async def test_library_that_was_never_there_is_created_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    library = Library(tmp_path / "fresh" / "library.sqlite3")  # nobody called migrate()
    with caplog.at_level(logging.WARNING, logger="heygen_video_mcp.tools.library"):
        assert (await new_job(library)).status == "submitted"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_library_deleted_while_the_server_runs(settings: Settings) -> None:
    async with Client(create_server(settings)) as client:
        first = await client.call_tool("list_videos", {})
        assert not first.is_error, text_of(first)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{settings.library_file}{suffix}").unlink(missing_ok=True)
        for _ in range(2):
            again = await client.call_tool("list_videos", {})
            assert not again.is_error, text_of(again)
            assert data_of(again)["count"] == 0
        made = await client.call_tool("generate_video", {"prompt": "A heron landing on a foggy lake at dawn"})
        assert not made.is_error, text_of(made)
        listed = await client.call_tool("list_videos", {})
        assert [v["execution_id"] for v in data_of(listed)["videos"]] == [data_of(made)["execution_id"]]


# --- where the library cannot be written --------------------------------------------------------------------


async def test_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the library's folder should be")
    path = blocker / "library.sqlite3"
    with pytest.raises(LibraryError) as raised:
        Library(path).migrate()
    assert str(blocker) in str(raised.value)
    assert "HEYGEN_LIBRARY_PATH" in str(raised.value)


async def test_library_path_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    path.mkdir()  # a folder where the file should be
    with pytest.raises(LibraryError) as raised:
        Library(path).migrate()
    assert str(path) in str(raised.value)
    assert "HEYGEN_LIBRARY_PATH" in str(raised.value)
    no_sqlite_error(raised.value)


# --- columns this release does not know ---------------------------------------------------------------------


async def test_rows_with_unknown_columns_are_still_read(tmp_path: Path) -> None:
    library = new_library(tmp_path)
    await new_job(library)
    # What a later minor release may do without a migration: add columns that old releases can ignore.
    sql(library.path, "ALTER TABLE jobs ADD COLUMN thumbnail_path TEXT")
    sql(library.path, "ALTER TABLE jobs ADD COLUMN rating INTEGER NOT NULL DEFAULT 0")
    library.migrate()  # the same version: not refused
    assert sql(library.path, "PRAGMA user_version") == [(OURS,)]
    job = await library.get(execution_id="node-gw-1")
    assert job is not None and job.status == "submitted"
    second = await new_job(library, 2, "processing")
    assert second.status == "processing"
    assert [j.execution_id for j in await library.jobs()] == ["node-gw-2", "node-gw-1"]
    assert (await library.observed(execution("node-gw-1", "completed"))).status == "completed"


def first_release_file(path: Path) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(script(MIGRATIONS[0], "sqlite"))
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO jobs (execution_id, prompt, status, created_at, updated_at) "
            "VALUES ('node-gw-old', 'an old one', 'completed', 1, 1)"
        )
    finally:
        db.close()


async def test_library_of_the_first_release_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "library.sqlite3"
    first_release_file(path)
    library = Library(path)
    library.migrate()
    assert sql(path, "PRAGMA user_version") == [(OURS,)]
    job = await library.get(execution_id="node-gw-old")
    assert job is not None and job.prompt == "an old one"
    assert job.download_attempts == 0 and job.download_retry_at is None
    indexes = [name for (_, name, *_) in sql(path, "PRAGMA index_list(jobs)")]
    columns = {name: [c for (_, _, c) in sql(path, f"PRAGMA index_info({name})")] for name in indexes}
    assert ["tenant", "status", "created_at"] in columns.values(), columns


# --- listing submissions whose answer is pending or lost ----------------------------------------------------


async def test_unsent_submissions_are_listed_only_when_asked(library: Library, tmp_path: Path) -> None:
    sent = await new_job(library, 1)
    failed = (await library.reserve(request("refused"), window=600, allow_duplicate=False)).job
    await library.submit_failed(failed.id, "HeyGen said 400", uncertain=False)
    lost = (await library.reserve(request("lost"), window=600, allow_duplicate=False)).job
    await library.submit_failed(lost.id, "the answer was lost", uncertain=True)
    pending = (await library.reserve(request("pending"), window=600, allow_duplicate=False)).job

    assert [j.id for j in await library.jobs()] == [sent.id]
    assert [j.id for j in await library.jobs(include_unsent=True)] == [pending.id, lost.id, sent.id]
    assert [j.status for j in await library.jobs(include_unsent=True)] == [SUBMITTING, SUBMIT_UNCERTAIN, "submitted"]
    assert [j.id for j in await library.jobs(status=SUBMIT_UNCERTAIN)] == [lost.id]
    assert [j.id for j in await library.jobs(status=SUBMIT_UNCERTAIN, include_unsent=True)] == [lost.id]
    assert [j.id for j in await library.jobs(status=SUBMITTING)] == [pending.id]
    assert await library.jobs(status="submit_failed", include_unsent=True) == []
    assert [j.id for j in await library.jobs(include_unsent=True, limit=1)] == [pending.id]
    assert [j.id for j in await library.jobs(include_unsent=True, query="lost")] == [lost.id]


# --- the download claim -------------------------------------------------------------------------------------


async def test_a_claim_is_exclusive_until_its_lease_ends(library: Library, tmp_path: Path) -> None:
    job = await new_job(library, 1, "completed")
    assert await library.claim_download(job.id, "a", 60)
    assert not await library.claim_download(job.id, "b", 60)
    assert await library.renew_download(job.id, "a", 60)
    assert not await library.renew_download(job.id, "b", 60)

    other = await new_job(library, 2, "completed")
    assert await library.claim_download(other.id, "a", 0.05)
    await anyio.sleep(0.1)
    assert await library.claim_download(other.id, "b", 60)  # a's lease ran out: a crashed, say
    assert not await library.renew_download(other.id, "a", 60)  # and a knows it lost the claim
    assert not await library.claim_download(12345, "a", 60)  # no such job


async def test_a_finished_download_records_the_file_and_frees_the_claim(library: Library, tmp_path: Path) -> None:
    job = await new_job(library, 1, "completed")
    video = tmp_path / "video.mp4"
    video.write_bytes(b"mp4")
    assert await library.claim_download(job.id, "a", 60)
    done = await library.finish_download(job.id, "a", local_path=str(video), error=None, retry_at=None)
    assert done.local_path == str(video) and done.download_error is None
    assert done.download_attempts == 0 and done.download_retry_at is None
    assert await library.get(job_id=job.id) == done
    assert not await library.claim_download(job.id, "b", 60, force=True)  # the file is there
    video.unlink()
    assert await library.claim_download(job.id, "b", 60)  # the user deleted it: it may be saved again


async def test_failed_downloads_back_off_and_count(library: Library, tmp_path: Path) -> None:
    job = await new_job(library, 1, "completed")
    assert await library.claim_download(job.id, "a", 60)
    later = time.time() + 60
    failed = await library.finish_download(job.id, "a", local_path=None, error="link expired", retry_at=later)
    assert failed.download_error == "link expired"
    assert failed.download_attempts == 1
    assert failed.download_retry_at == later
    assert failed.local_path is None
    assert not await library.claim_download(job.id, "b", 60)  # backing off
    assert await library.claim_download(job.id, "b", 60, force=True)  # the user asked: no waiting
    earlier = time.time() - 1
    again = await library.finish_download(job.id, "b", local_path=None, error="timed out", retry_at=earlier)
    assert again.download_attempts == 2 and again.download_error == "timed out"
    assert await library.claim_download(job.id, "c", 60)  # the back-off is over
    video = tmp_path / "video.mp4"
    video.write_bytes(b"mp4")
    saved = await library.finish_download(job.id, "c", local_path=str(video), error=None, retry_at=None)
    assert (saved.download_attempts, saved.download_retry_at, saved.download_error) == (0, None, None)
    assert saved.local_path == str(video)


async def test_a_lost_claim_does_not_overwrite_the_new_owner(library: Library, tmp_path: Path) -> None:
    job = await new_job(library, 1, "completed")
    assert await library.claim_download(job.id, "a", 0.05)
    await anyio.sleep(0.1)
    assert await library.claim_download(job.id, "b", 60)
    late = await library.finish_download(job.id, "a", local_path=None, error="cut off", retry_at=time.time() + 60)
    assert late.download_attempts == 0 and late.download_error is None  # b is still trying
    assert not await library.claim_download(job.id, "c", 60)  # b still holds it
    assert await library.renew_download(job.id, "b", 60)


def test_exactly_one_process_wins_each_claim(library: Library, location: str, tmp_path: Path) -> None:
    count = 30

    async def make_jobs() -> None:
        for number in range(1, count + 1):
            await new_job(library, number, "completed")

    anyio.run(make_jobs)
    owners = ["p1", "p2", "p3", "p4"]
    outputs = run_together(CLAIMER, {owner: [location, str(count)] for owner in owners}, tmp_path)
    won: dict[str, list[int]] = {}
    for owner, (returncode, stdout, stderr) in zip(owners, outputs, strict=True):
        assert returncode == 0, stderr
        won[owner] = [int(n) for n in stdout.split()]
    assert sorted(n for wins in won.values() for n in wins) == list(range(1, count + 1))

    async def holders() -> dict[int, str | None]:
        return {job.id: job.download_owner for job in await library.jobs(limit=count)}

    held = anyio.run(holders)
    assert all(held[n] == owner for owner, wins in won.items() for n in wins)


# --- the schema, in the file ----------------------------------------------------------------------------------


async def test_schema_version_and_wal_after_the_server_ran(client: Client, settings: Settings) -> None:
    await submit(client)
    db = sqlite3.connect(settings.library_file)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 1
    finally:
        db.close()


async def test_restart_does_not_rerun_migrations(settings: Settings, mode: str) -> None:
    for _ in range(2):
        async with Client(create_server(settings), mode=mode) as client:
            await submit(client, allow_duplicate=True)
    db = sqlite3.connect(settings.library_file)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT count(*) FROM jobs").fetchone()[0] == 2
    finally:
        db.close()
