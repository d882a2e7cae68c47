"""The remote mode run locally, for tests, benchmarks and CI: replicas of the console script serving
streamable HTTP and nginx in front of them, all on 127.0.0.1, all child processes that `stop()` ends;
`remote_client` is an MCP client of them.

Each child writes its log to a file in a folder the caller owns, so a failure can show the log's tail."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Literal

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

START_SECONDS: Final = 30.0
STOP_SECONDS: Final = 10.0
_SERVING: Final = re.compile(r"serving MCP at (http://\S+)")


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a program that cannot report the one it picked (nginx) or must
    come back on the same one after a restart."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Child:
    """One child process; its stdout and stderr go to `log`."""

    def __init__(self, argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None) -> None:
        self.argv, self.log, self.env = list(argv), log, env
        self.process: subprocess.Popen[bytes] | None = None
        self._out: IO[bytes] | None = None

    def start(self) -> None:
        self._out = self.log.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_for(self, pattern: re.Pattern[str], *, after: int = 0, seconds: float = START_SECONDS) -> re.Match[str]:
        """The first match of `pattern` in the log past byte `after`; raises with the log's tail if the
        process ends or the time runs out first."""
        deadline = time.monotonic() + seconds
        while True:
            found = pattern.search(self.log.read_bytes()[after:].decode(errors="replace"))
            if found:
                return found
            if not self.running or time.monotonic() > deadline:
                raise RuntimeError(f"{self.argv[0]} did not start:\n{self.tail()}")
            time.sleep(0.05)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.process is not None and self.running:
            self.process.kill()
        self._reap(STOP_SECONDS)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not ended in time."""
        if self.process is not None and self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap(STOP_SECONDS)

    def _reap(self, seconds: float) -> None:
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=seconds)
        if self._out is not None:
            self._out.close()
            self._out = None


class Replica(Child):
    """`heygen-video-mcp serve --transport streamable-http` on 127.0.0.1; `port` 0 picks one at the first
    start, and a restart comes back on the same port (nginx knows it by its port)."""

    def __init__(self, command: str, env: Mapping[str, str], *, log: Path, port: int = 0) -> None:
        super().__init__([], log=log, env=env)
        self.command, self.port = command, port

    def start(self) -> None:
        self.argv = [self.command, "serve", "--transport", "streamable-http", "--host", "127.0.0.1"]
        self.argv += ["--port", str(self.port)]
        after = self.log.stat().st_size if self.log.exists() else 0
        super().start()
        url = self.wait_for(_SERVING, after=after).group(1)
        self.port = int(url.rsplit(":", 1)[1].split("/")[0])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


NGINX_CONF: Final = """\
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
{user}
worker_rlimit_nofile 8192;
events {{ worker_connections 4096; }}
http {{
    log_format upstreams '$request_method $uri $status $upstream_addr';
    access_log {folder}/access.log upstreams;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream replicas {{
{balance}
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # MCP answers stream as SSE: pass each event on as it comes.
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 120s;
            proxy_connect_timeout 2s;
        }}
    }}
}}
"""


class Nginx(Child):
    """nginx in the foreground, round-robin over `upstreams` (127.0.0.1 ports), or `sticky` (ip_hash: one
    client address, one replica, as 2025-11-25 sessions need), with its config, logs and temporary files in
    `folder`. Its access log names the upstream that answered each request."""

    def __init__(self, upstreams: Sequence[int], folder: Path, *, sticky: bool = False) -> None:
        self.folder, self.upstreams, self.sticky = folder, list(upstreams), sticky
        self.port = 0
        super().__init__([], log=folder / "nginx.out")

    @staticmethod
    def available() -> str | None:
        return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")

    def start(self) -> None:
        binary = self.available()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian: apt-get install -y nginx)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for attempt in range(5):  # the free port may be taken between finding it and nginx binding it
            self.port = free_port()
            servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;" for p in self.upstreams)
            conf = self.folder / "nginx.conf"
            conf.write_text(
                NGINX_CONF.format(
                    folder=self.folder,
                    port=self.port,
                    servers=servers,
                    balance="        ip_hash;" if self.sticky else "",
                    # As root, nginx's workers would drop to `nobody`, who cannot write in the caller's folder.
                    user="user root;" if os.geteuid() == 0 else "",
                )
            )
            self.argv = [binary, "-p", str(self.folder), "-c", str(conf), "-e", str(self.folder / "error.log")]
            super().start()
            if self._listening():
                return
            self.stop()
            if attempt == 4:
                raise RuntimeError(f"nginx did not start:\n{(self.folder / 'error.log').read_text(errors='replace')}")

    def _listening(self) -> bool:
        deadline = time.monotonic() + START_SECONDS
        while self.running and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
            time.sleep(0.05)
        return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def upstreams_used(self) -> list[str]:
        """The upstream address of each logged request, in order ('-' when none answered)."""
        log = self.folder / "access.log"
        lines = log.read_text().splitlines() if log.exists() else []
        return [line.rsplit(" ", 1)[-1] for line in lines]


class RemoteStack:
    """`count` replicas started with `env` (which holds HEYGEN_MCP_TOKEN) behind one nginx, logs in `folder`."""

    def __init__(
        self, command: str, env: Mapping[str, str], folder: Path, *, count: int = 2, sticky: bool = False
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.token = env.get("HEYGEN_MCP_TOKEN", "")
        self.replicas = [Replica(command, env, log=folder / f"replica-{n}.log") for n in range(count)]
        self.nginx = Nginx([], folder / "nginx", sticky=sticky)

    @property
    def url(self) -> str:
        return f"{self.nginx.base_url}/mcp"

    def start(self) -> RemoteStack:
        try:
            for replica in self.replicas:
                replica.start()
            self.nginx.upstreams = [r.port for r in self.replicas]
            self.nginx.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self.nginx.stop()
        for replica in self.replicas:
            replica.stop()

    def __enter__(self) -> RemoteStack:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


@asynccontextmanager
async def remote_client(
    url: str, token: str, *, read_seconds: float = 90, mode: Literal["auto", "legacy"] = "auto"
) -> AsyncIterator[Client]:
    """An MCP client of the remote server sending the bearer token. By default it speaks the 2026-07-28 era,
    where each call is one HTTP request, so a proxy may send each call to another replica; `legacy` opens a
    2025-11-25 session, which lives on one replica."""
    timeout = httpx2.Timeout(30, read=read_seconds)
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        yield client
