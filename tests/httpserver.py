"""The installed console script serving streamable HTTP on a free port of 127.0.0.1, for the remote-mode tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from heygen_video_mcp.server.sandbox import Sandbox

from .conftest import API_KEY
from .test_stdio import console_script

START_SECONDS = 30.0
TOKEN = "team-token-5b8e2f0c9d4a7361"  # noqa: S105 (a test token)


@dataclass
class HttpServer:
    url: str  # the MCP endpoint, http://127.0.0.1:PORT/mcp
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return self.url.removesuffix("/mcp")

    def stderr(self) -> str:
        return self.log.read_text()

    def stop(self, timeout: float = 90.0) -> int:
        """SIGTERM, then the exit code (a server that does not stop within `timeout` is killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def server_env(sandbox: Sandbox, tmp_path: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    return base | {
        "HEYGEN_API_KEY": API_KEY,
        "HEYGEN_API_BASE_URL": sandbox.base_url,
        "HEYGEN_POLL_INTERVAL": "0.1",
        "HEYGEN_WAIT_SECONDS": "10",
        "HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"),
        "HEYGEN_MCP_TOKEN": TOKEN,
        **env,
    }


@contextmanager
def http_server(sandbox: Sandbox, tmp_path: Path, *args: str, **env: str) -> Iterator[HttpServer]:
    """`heygen-video-mcp serve --transport streamable-http --port 0 ARGS` with the sandbox's settings and
    TOKEN (env overrides; an empty value unsets a variable); yields once it listens, stops it after."""
    log = tmp_path / f"http-server-{time.monotonic_ns()}.log"
    environ = {k: v for k, v in server_env(sandbox, tmp_path, **env).items() if v}
    command = [console_script(), "serve", "--transport", "streamable-http", "--port", "0", *args]
    with log.open("wb") as errlog:
        process = subprocess.Popen(command, env=environ, stdin=subprocess.DEVNULL, stdout=errlog, stderr=errlog)
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (found := re.search(r"serving MCP at (http://\S+)", log.read_text())):
            assert process.poll() is None, f"the server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"the server did not start: {log.read_text()}"
            time.sleep(0.05)
        yield HttpServer(found.group(1), process, log)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


@asynccontextmanager
async def connect(url: str, mode: str, token: str | None = TOKEN, **headers: str) -> AsyncIterator[Client]:
    """mcp.Client over streamable HTTP, presenting `token` (and `headers`) on every request."""
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60.0)) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client
