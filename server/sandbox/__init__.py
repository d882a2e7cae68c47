"""A local HeyGen served over real HTTP on 127.0.0.1, for tests, benchmarks and demos.

`with Sandbox() as sb:` serves until the block ends; point HEYGEN_API_BASE_URL at `sb.base_url`.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from heygen_video_mcp.server.sandbox.app import Aborted, Fault, Job, RecordedRequest, RenderSeconds, SandboxApp

__all__ = ["CannotListen", "Fault", "Job", "RecordedRequest", "RenderSeconds", "Sandbox", "ServedApp"]

START_TIMEOUT = 10.0


class CannotListen(OSError):
    """The sandbox's port is taken (`in_use`), or its address is not this machine's: said in one sentence."""

    def __init__(self, message: str, *, in_use: bool) -> None:
        super().__init__(message)
        self.in_use = in_use


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here rather than by uvicorn so that a port in use is an error to catch."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    try:
        if os.name == "posix":  # as uvicorn does: a port left in TIME_WAIT by a sandbox just stopped is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted connections inherit it. Without it, served from this socket, every answer took ~40 ms more
        # (Nagle's algorithm meeting the client's delayed ACK; measured: 44 ms against 2 ms per status read).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen()
    except OSError as exc:
        sock.close()
        message = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        raise CannotListen(message, in_use=exc.errno == errno.EADDRINUSE) from None
    return sock


class ServedApp:
    """An ASGI app served by uvicorn in a daemon thread on `host` (port 0: any free port), for the sandbox
    and for tests; `base_url` once started."""

    def __init__(self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app, self.host, self.port = app, host, port
        self.base_url = ""
        self._server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> ServedApp:
        """Serve in the background; returns once the socket accepts connections."""
        # log_config=None and log_level=None leave the host process's logging alone.
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            interface="asgi3",
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            log_level=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        sock = listen(self.host, self.port)
        thread = threading.Thread(target=server.run, args=([sock],), name="served-app", daemon=True)
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join()
                sock.close()
                raise RuntimeError(f"could not start on {self.host}:{self.port}")
            time.sleep(0.01)
        self._server, self.thread = server, thread
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{self.host}:{port}"
        return self

    def stop(self) -> None:
        """Shut uvicorn down and join its thread; a no-op when not running."""
        if self._server is None or self.thread is None:
            return
        self._server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT)
        if self.thread.is_alive():
            self._server.force_exit = True
            self.thread.join()
        self._server = self.thread = None

    def __enter__(self) -> ServedApp:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class QuietAborts(logging.Filter):
    """Drops uvicorn's traceback for connections the sandbox cuts on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Aborted))


QUIET_ABORTS = QuietAborts()


class Sandbox(SandboxApp):
    """The sandbox app run by uvicorn in a daemon thread.

    `render_seconds` is one time for every job, or (lo, hi): each new job's time is drawn uniformly from
    that range (seeded by `render_seed`); `sb.jobs[id].completes_at` says when that job completes.
    """

    def __init__(
        self,
        *,
        api_key: str = "sandbox-key",
        render_seconds: RenderSeconds = 3.0,
        submitted_seconds: float = 0.5,
        video_seconds: float = 2.0,
        video_size: int | None = None,
        read_lag: float = 0.0,
        video_rate: float | None = None,
        video_ranges: bool = True,
        render_seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(
            api_key=api_key,
            render_seconds=render_seconds,
            submitted_seconds=submitted_seconds,
            video_seconds=video_seconds,
            video_size=video_size,
            read_lag=read_lag,
            video_rate=video_rate,
            video_ranges=video_ranges,
            render_seed=render_seed,
        )
        self.host = host
        self.port = port
        self._served: ServedApp | None = None

    def start(self) -> Sandbox:
        """Serve in the background; returns once the socket accepts connections."""
        if self._served is not None:
            raise RuntimeError("sandbox already started")
        logger = logging.getLogger("uvicorn.error")
        if QUIET_ABORTS not in logger.filters:
            logger.addFilter(QUIET_ABORTS)
        self._closing = False
        self._served = ServedApp(self, host=self.host, port=self.port).start()
        self.base_url = self._served.base_url
        return self

    @property
    def thread(self) -> threading.Thread | None:
        """The thread serving the sandbox, while it runs."""
        return self._served.thread if self._served else None

    def stop(self) -> None:
        """Shut uvicorn down and join its thread; a no-op when not running."""
        if self._served is None:
            return
        self._closing = True
        self._served.stop()
        self._served = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
