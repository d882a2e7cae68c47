"""The stdio transport itself (server/stdio.py), byte for byte over real pipes to the installed console script:
what a client writes in one go is answered in full, a line longer than one read arrives whole, a bad line is
refused without ending the session, the end of stdin ends the server, and nothing but the protocol can reach
the wire."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from .test_stdio import console_script

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Windows runs the SDK's own stdio transport")

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


def call(request_id: int | str, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments or {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


class Wire:
    """The client's end of the server's stdin and stdout."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process, self._stdin, self._stdout = process, process.stdin, process.stdout
        self._buffer = b""

    def send(self, data: bytes) -> None:
        self._stdin.write(data)
        self._stdin.flush()

    def close(self) -> None:
        self._stdin.close()

    def receive(self, timeout: float = 30.0) -> dict[str, Any] | None:
        """The next message, or None at the end of stdout."""
        ends = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = ends - time.monotonic()
            assert left > 0, f"no message within {timeout} s; got so far: {self._buffer[:200]!r}"
            if select.select([self._stdout], [], [], left)[0]:
                chunk = os.read(self._stdout.fileno(), 1 << 16)
                if not chunk:
                    assert not self._buffer, f"stdout ended inside a message: {self._buffer[:200]!r}"
                    return None
                self._buffer += chunk
        text, self._buffer = self._buffer.split(b"\n", 1)
        message: dict[str, Any] = json.loads(text)  # every line on the wire is one JSON-RPC message
        return message

    def answers(self, count: int) -> dict[Any, dict[str, Any]]:
        """The next `count` responses (notifications skipped), by request id."""
        found: dict[Any, dict[str, Any]] = {}
        while len(found) < count:
            message = self.receive()
            assert message is not None, f"stdout ended after {len(found)} of {count} answers"
            if "id" in message:
                found[message["id"]] = message
        return found


@contextmanager
def served(tmp_path: Path) -> Iterator[Wire]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEYGEN_")}
    env |= {"HEYGEN_OUTPUT_DIR": str(tmp_path / "videos"), "HEYGEN_LOG_LEVEL": "WARNING"}
    with subprocess.Popen(
        [console_script()], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        wire = Wire(process)
        try:
            wire.send(line(INITIALIZE))
            assert wire.answers(1)["init"]["result"]["serverInfo"]["name"] == "heygen-video-mcp"
            wire.send(line(INITIALIZED))
            yield wire
        finally:
            if process.poll() is None:
                process.kill()


def test_a_burst_written_at_once_is_answered_in_full(tmp_path: Path) -> None:
    with served(tmp_path) as wire:
        wire.send(b"".join(line(call(n, "list_providers")) for n in range(300)))  # ~30 KB in one write
        answers = wire.answers(300)
    assert sorted(answers) == list(range(300))
    assert all("veo_3_1" in json.dumps(answer["result"]) for answer in answers.values())


def test_small_and_large_answers_to_a_client_slow_to_read_arrive_whole(tmp_path: Path) -> None:
    """Small answers are written by the event loop itself when nothing waits before them, larger ones (and
    any behind them) by the writer thread: with the client not reading at first, the pipe fills and both
    ways take turns, and no answer is split, mixed into another or lost."""
    requests = []
    for n in range(120):
        requests.append(line({"jsonrpc": "2.0", "id": f"ping-{n}", "method": "ping"}))  # tens of bytes
        if n % 3 == 0:
            requests.append(line({"jsonrpc": "2.0", "id": f"list-{n}", "method": "tools/list"}))  # tens of KB
    with served(tmp_path) as wire:
        wire.send(b"".join(requests))
        time.sleep(0.5)  # the server's answers fill the pipe meanwhile
        answers = wire.answers(len(requests))
    assert sum(key.startswith("ping-") for key in answers) == 120
    lists = [answer for key, answer in answers.items() if key.startswith("list-")]
    assert len(lists) == 40 and all(len(answer["result"]["tools"]) == 11 for answer in lists)


def test_a_line_longer_than_one_read_arrives_whole(tmp_path: Path) -> None:
    prompt = "A lighthouse keeper climbing a spiral staircase at dusk, " * 4000  # ~230 KB: several reads
    with served(tmp_path) as wire:
        wire.send(line(call("long", "generate_video", {"prompt": prompt})) + line(call("next", "list_providers")))
        answers = wire.answers(2)
    refused = answers["long"]["result"]
    assert refused["isError"] and "prompt" in refused["content"][0]["text"]  # read whole, judged too long
    assert not answers["next"]["result"]["isError"]


def test_a_line_that_is_not_json_rpc_leaves_the_session_serving(tmp_path: Path) -> None:
    with served(tmp_path) as wire:
        wire.send(b"\xff\xfe not json\n" + line(call("after", "list_providers")))
        answers = wire.answers(1)
    assert not answers["after"]["result"]["isError"]


def test_the_end_of_stdin_ends_the_server_cleanly(tmp_path: Path) -> None:
    """As the MCP spec has a client shut a stdio server down: stdin closed, and the server exits by itself."""
    with served(tmp_path) as wire:
        wire.send(b"".join(line(call(n, "list_providers")) for n in range(50)))
        assert sorted(wire.answers(50)) == list(range(50))
        wire.close()
        assert wire.receive() is None  # stdout ends
        assert wire.process.wait(timeout=30) == 0


def test_only_the_protocol_reaches_the_wire(tmp_path: Path) -> None:
    """While serving, the server's own fd 1 is its stderr and fd 0 the null device, so a stray print or a
    child process cannot write into the protocol or read from it."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to see where a process's descriptors point")
    with served(tmp_path) as wire:
        fds = Path(f"/proc/{wire.process.pid}/fd")
        assert os.readlink(fds / "1") == os.readlink(fds / "2")
        assert os.readlink(fds / "0") == os.devnull
