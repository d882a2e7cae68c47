"""Shared fixtures: a HeyGen sandbox on 127.0.0.1, settings pointing at it, and MCP clients of our server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult

from server.app import create_server
from server.config import Settings
from server.sandbox import Sandbox

API_KEY = "sk-test-7f3a9c2e1b5d4e6f8a0b"

MakeSettings = Callable[..., Settings]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
