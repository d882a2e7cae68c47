"""Headless Chromium driven over the DevTools protocol through a pipe (`--remote-debugging-pipe`): no port to
pick, no websocket library. Messages are JSON, each ended by a NUL byte; Chromium reads fd 3, writes fd 4."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

# Each command or wait is bounded, so a browser that stops answering fails the test instead of hanging it.
REPLY_SECONDS = 30.0


def chromium_or_skip() -> str:
    """The Chromium binary; the test is skipped, saying how to install it, when there is none."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    return binary


class Chromium:
    """One headless browser with its own profile folder. `call` sends a command (to a session when given)
    and returns its result; events arrive in `events` in order."""

    def __init__(self, binary: str, profile: Path) -> None:
        self._binary = binary
        self._profile = profile
        self._next_id = 0
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.events: list[dict[str, Any]] = []

    def __enter__(self) -> Chromium:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The browser's ends, moved to fds 10 and up so that putting them on 3 and 4 cannot clobber one another.
        commands = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
        answers = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
        for fd in (to_browser_read, from_browser_write):
            os.close(fd)
        # Bash puts them on fds 3 and 4 and becomes Chromium (no preexec_fn, which is unsafe with threads).
        remap = f'exec "$0" "$@" 3<&{commands} 4>&{answers} {commands}<&- {answers}>&-'
        self._process = subprocess.Popen(
            [
                "/bin/bash",  # not sh: dash cannot redirect fds above 9
                "-c",
                remap,
                self._binary,
                "--headless",
                "--no-sandbox",  # CI runs as root, where Chromium's own sandbox cannot start
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}",
                "--autoplay-policy=no-user-gesture-required",
                "--mute-audio",
                "--no-first-run",
                "--disable-gpu",
                "--window-size=800,1100",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(commands, answers),
        )
        os.close(commands)
        os.close(answers)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(AssertionError, OSError):  # it may be gone already
            self.call("Browser.close")
        try:
            self._process.wait(timeout=REPLY_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._to_browser)
        self._reader.join(timeout=REPLY_SECONDS)
        os.close(self._from_browser)

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 65536):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    self._replies.put(message)
                else:
                    self.events.append(message)
        self._replies.put(None)  # the browser closed its end

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + REPLY_SECONDS
        while True:
            try:
                reply = self._replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"Chromium did not answer {method} in {REPLY_SECONDS:g} s") from None
            assert reply is not None, f"Chromium closed while answering {method}"
            if reply["id"] == self._next_id:
                assert "error" not in reply, f"{method}: {reply['error']}"
                result: dict[str, Any] = reply["result"]
                return result

    def evaluate(self, expression: str, session: str, context: int | None = None) -> Any:
        """The JSON value of a JavaScript expression (awaited if it is a promise)."""
        params: dict[str, Any] = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        result = self.call("Runtime.evaluate", params, session)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")
