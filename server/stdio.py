"""MCP over stdin and stdout, with a reader thread and a writer thread of the transport's own.

The SDK's stdio transport hands every line it reads and every message it writes (twice: write, then flush)
to a worker thread and waits for it to come back: three thread round trips in every tool call, and under a
burst (2,000 waits asked or answered at once) they queue behind each other for seconds. Here the reader
thread always waits in read() and hands the event loop every whole line it has in one go, with the time it
arrived; the loop writes an answer of up to 4 KB itself when nothing is queued before it (no thread to wake
for the usual answer), and hands the rest to the writer thread and goes on. The SDK's `stdio_server` still
parses and dispatches: this module gives it the two files. POSIX only: on Windows `serve_stdio` runs the
SDK's own transport.

As the SDK's does, it points fd 0 at the null device and fd 1 at stderr while serving, so a stray print or
a child process cannot write into the protocol, and puts them back after.
"""

from __future__ import annotations

import os
import queue
import select
import sys
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

import anyio
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared._context_streams import ContextReceiveStream, ContextSendStream
from mcp.shared.message import SessionMessage

from heygen_video_mcp.tools import deadline

CHUNK: Final = 1 << 16
# Lines read but not yet taken by the SDK, in batches: beyond this the reader thread stops reading, the pipe
# fills, and the client waits, as with the SDK's transport.
BATCHES_AHEAD: Final = 16
# Output handed to the writer thread but not yet written: beyond this a flush waits for it to drain.
BYTES_AHEAD: Final = 1 << 18
# An answer up to this size (PIPE_BUF, what POSIX lets a pipe take whole once it polls writable) is written
# by the event loop itself when nothing is queued before it.
DIRECT_BYTES: Final = 4096
# At the end, how long the last answers may take to be written; a client that no longer reads is not waited on.
CLOSING_SECONDS: Final = 5.0


class _Lines:
    """stdin as the SDK reads it (`async for line in stdin`), fed by a thread that reads whole chunks."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        send, self._receive = anyio.create_memory_object_stream[tuple[float, list[bytes]]](BATCHES_AHEAD)
        self._batch: list[bytes] = []
        self._arrived = 0.0
        self._token = anyio.lowlevel.current_token()
        threading.Thread(target=self._read, args=(send,), name="mcp-stdin", daemon=True).start()

    def _read(self, send: MemoryObjectSendStream[tuple[float, list[bytes]]]) -> None:
        started: list[bytes] = []  # the line begun in earlier chunks, in pieces (joined once it ends)
        try:
            while True:
                try:
                    chunk = os.read(self._fd, CHUNK)
                except OSError:
                    chunk = b""  # a closed or broken stdin ends the session as its end does
                if not chunk:
                    if started:
                        self._hand(send, (time.monotonic(), [b"".join(started)]))
                    return
                if b"\n" not in chunk:
                    started.append(chunk)
                    continue
                first, *lines, rest = chunk.split(b"\n")
                batch = [b"".join((*started, first, b"\n")), *(line + b"\n" for line in lines)]
                started = [rest] if rest else []
                self._hand(send, (time.monotonic(), batch))
        except (anyio.RunFinishedError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            return  # the server is done with stdin
        finally:
            with suppress(anyio.RunFinishedError):
                anyio.from_thread.run_sync(send.close, token=self._token)

    def _hand(self, send: MemoryObjectSendStream[tuple[float, list[bytes]]], batch: tuple[float, list[bytes]]) -> None:
        """Give the event loop a batch: a plain callback on it, no task to start, unless BATCHES_AHEAD are
        still untaken; then wait for room, as a full pipe would make the client wait."""
        try:
            anyio.from_thread.run_sync(send.send_nowait, batch, token=self._token)
        except anyio.WouldBlock:
            anyio.from_thread.run(send.send, batch, token=self._token)

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        if not self._batch:
            try:
                self._arrived, self._batch = await self._receive.receive()
            except anyio.EndOfStream:
                raise StopAsyncIteration from None
            self._batch.reverse()
        # The SDK hands each message to its handler in the context it was read in: the handler then knows
        # when its request arrived (tools/deadline.py).
        deadline.ARRIVED.set(self._arrived)
        # As the SDK's text layer reads stdin: UTF-8, a bad byte replaced (the JSON-RPC parser then says so).
        return self._batch.pop().decode("utf-8", errors="replace")

    async def aclose(self) -> None:
        self._receive.close()


class _Output:
    """stdout as the SDK writes it (write, then flush, per message); a thread does the writing in order."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._parts: list[str] = []
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._ahead = 0
        self._drained = threading.Condition()
        self._error: OSError | None = None
        self._thread = threading.Thread(target=self._write, name="mcp-stdout", daemon=True)
        self._thread.start()

    def _write(self) -> None:
        stopping = False
        while not stopping:
            parts = [self._queue.get()]
            with suppress(queue.Empty):  # what else is queued goes out in the same write
                while True:
                    parts.append(self._queue.get_nowait())
            stopping = parts[-1] is None
            data = b"".join(part for part in parts if part is not None)
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError as exc:  # the client has gone: the next flush says so, as the SDK's would
                self._error = exc
            with self._drained:
                self._ahead -= len(data)
                self._drained.notify_all()

    async def write(self, text: str) -> None:
        self._parts.append(text)

    async def flush(self) -> None:
        if self._error is not None:
            raise self._error
        data = "".join(self._parts).encode("utf-8")
        self._parts.clear()
        with self._drained:
            if not self._ahead and len(data) <= DIRECT_BYTES and _writable(self._fd):
                # The usual answer, with nothing before it: written here, without waking the thread. A pipe or
                # socket that polls writable takes this many bytes without blocking.
                try:
                    written = os.write(self._fd, data)
                except OSError as exc:
                    self._error = exc
                    raise
                data = data[written:]
                if not data:
                    return
            self._ahead += len(data)
            ahead = self._ahead
        self._queue.put(data)
        if ahead > BYTES_AHEAD:
            await anyio.to_thread.run_sync(self._wait_below, BYTES_AHEAD)

    def _wait_below(self, limit: int) -> None:
        with self._drained:
            self._drained.wait_for(lambda: self._ahead <= limit or self._error is not None)

    async def aclose(self) -> None:
        """Write out what is queued (the last answers), then stop the thread."""
        self._queue.put(None)
        await anyio.to_thread.run_sync(self._thread.join, CLOSING_SECONDS)


def _writable(fd: int) -> bool:
    try:
        return bool(select.select((), (fd,), (), 0)[1])
    except (OSError, ValueError):
        return False


def _claim(fd: int) -> tuple[int, int]:
    """A private duplicate of fd (the wire), and one of fd as it was; fd then points away from the wire:
    stdin at the null device, stdout at stderr."""
    wire, saved = os.dup(fd), os.dup(fd)
    away = os.open(os.devnull, os.O_RDONLY) if fd == 0 else os.dup(2)
    try:
        os.dup2(away, fd)
    finally:
        os.close(away)
    return wire, saved


@asynccontextmanager
async def threaded_stdio() -> AsyncIterator[
    tuple[ContextReceiveStream[SessionMessage | Exception], ContextSendStream[SessionMessage]]
]:
    """The SDK's stdio_server, over stdin and stdout read and written by this module's threads."""
    stdin, stdin_saved = _claim(0)
    stdout, stdout_saved = _claim(1)
    lines, output = _Lines(stdin), _Output(stdout)
    try:
        # Duck-typed files: the SDK only iterates the one and calls write and flush on the other.
        async with stdio_server(lines, output) as streams:  # type: ignore[arg-type]
            yield streams
    finally:
        with anyio.CancelScope(shield=True):  # also on Ctrl-C: the last answers out, the descriptors back
            await output.aclose()
            await lines.aclose()
        for fd, saved in ((0, stdin_saved), (1, stdout_saved)):
            os.dup2(saved, fd)
            os.close(saved)
        # The wire's duplicates stay open: the reader thread may still be in read() on stdin's, and a number
        # closed under a thread could be reused by another file and read or written by mistake.


def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve MCP over stdio until stdin ends: through this module's threads, or on Windows, where the event
    loop cannot wait on pipes the same way, through the SDK's own transport."""
    if sys.platform == "win32":
        server.run("stdio")
        return

    async def run() -> None:
        # MCPServer runs stdio only with the SDK's files; its low-level server takes any streams (the SDK's
        # in-memory client reaches it the same way; mcp is pinned, see pyproject.toml).
        low = server._lowlevel_server
        async with threaded_stdio() as (read, write):
            await low.run(read, write, low.create_initialization_options())

    anyio.run(run)
