"""Shared fixtures: a HeyGen sandbox on 127.0.0.1, settings pointing at it, and MCP clients of our server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Sandbox
from tests.postgres_server import PostgresServer

API_KEY = "sk-test-7f3a9c2e1b5d4e6f8a0b"

MakeSettings = Callable[..., Settings]


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """Workers for `-n auto`: twice the cores this process may use, at most 8. The suite spends most of its
    time waiting (on servers in subprocesses, the sandbox's renders, sockets), not computing."""
    return min(2 * len(os.sched_getaffinity(0)), 8)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["veo_3_1", "video_agent"], ids=["executions", "video_agent"])
def provider(request: pytest.FixtureRequest) -> str:
    """Both HeyGen APIs this server makes videos with: a model provider on the executions API, and the Video
    Agent. The end-to-end flows run over each."""
    param: str = request.param
    return param


def sent(provider: str, prompt: str, aspect_ratio: str = "16:9") -> dict[str, Any]:
    """What HeyGen receives for a plain request: the executions API's `input`, or the Video Agent's body."""
    if provider == "video_agent":
        return {"prompt": prompt, "orientation": {"16:9": "landscape", "9:16": "portrait"}[aspect_ratio]}
    return {"prompt": prompt, "provider": provider, "aspect_ratio": aspect_ratio}


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(api_key=API_KEY, render_seconds=0.6, submitted_seconds=0.15, video_seconds=1.0) as sb:
        yield sb


@pytest.fixture
def make_settings(sandbox: Sandbox, tmp_path: Path) -> Iterator[MakeSettings]:
    """Settings for a server that talks to the sandbox; the sandbox starts with no queued faults."""
    sandbox.reset()

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "api_key": API_KEY,
            "api_base_url": sandbox.base_url,
            "poll_interval": 0.1,
            "wait_seconds": 5.0,
            "read_timeout": 5.0,
            "connect_timeout": 2.0,
            "output_dir": tmp_path / "videos",
        }
        values.update(overrides)
        return Settings.model_validate(values)

    yield make
    sandbox.reset()


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole session (started on first use)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database_url(postgres: PostgresServer) -> Iterator[str]:
    """A new, empty database on it for one test, dropped after."""
    name = f"heygen_{uuid.uuid4().hex[:12]}"
    postgres.execute(f"CREATE DATABASE {name}")
    yield postgres.url(name)
    postgres.execute(f"DROP DATABASE {name} WITH (FORCE)")


BACKENDS = ["sqlite", "postgres"]


def on_backend(request: pytest.FixtureRequest, make: MakeSettings) -> MakeSettings:
    """`make` with the library on the backend the test is parametrized with (request.param): a SQLite file,
    or a new PostgreSQL database. A module runs its tests on both with:

        @pytest.fixture(params=BACKENDS)
        def make_settings(request, make_settings): return on_backend(request, make_settings)
    """
    if request.param == "sqlite":
        return make
    url = request.getfixturevalue("database_url")

    def make_on_postgres(**overrides: Any) -> Settings:
        return make(**{"database_url": url, **overrides})

    return make_on_postgres


@pytest.fixture(params=["legacy", "auto"])
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: the 2025-11-25 handshake and the negotiated 2026-07-28 one."""
    param: str = request.param
    return param


@pytest.fixture
async def client(settings: Settings, mode: str) -> AsyncIterator[Client]:
    async with Client(create_server(settings), mode=mode) as c:
        yield c


def text_of(result: CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


def data_of(result: CallToolResult) -> dict[str, Any]:
    data: dict[str, Any] | None = result.structured_content
    assert data is not None, text_of(result)
    return data


REPO = Path(__file__).resolve().parent.parent


def wait_together(name: str, barrier: Path) -> None:
    """In a process started by run_together: say it is ready, then wait for the others."""
    (barrier.parent / f"ready-{name}").touch()
    deadline = time.monotonic() + 30
    while not barrier.exists():
        if time.monotonic() > deadline:
            raise SystemExit("the barrier never opened")
        time.sleep(0.001)


def run_together(code: str, args: dict[str, list[str]], folder: Path) -> list[tuple[int, str, str]]:
    """Run `python -c code NAME FOLDER/go *ARGS` once per name, releasing them at once (each calls
    wait_together(NAME, FOLDER/go) when ready). Returns each one's exit code, stdout and stderr, in order."""
    barrier = folder / "go"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, name, str(barrier), *extra],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, extra in args.items()
    ]
    try:
        deadline = time.monotonic() + 30
        while not all((folder / f"ready-{name}").exists() for name in args):
            assert time.monotonic() < deadline, "the processes did not start"
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            time.sleep(0.01)
        barrier.touch()
        outputs = [p.communicate(timeout=60) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, out, err) for p, (out, err) in zip(processes, outputs, strict=True)]
