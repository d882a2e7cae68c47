"""The sandbox's state and ASGI app: HeyGen's executions API as the contract describes it, and its v3 Video
Agent as HeyGen's reference pages do (contract.py, which reads it on its own), with credits (402) and a v1 that can be
played as retired.

Every request is recorded, then may meet an injected `Fault`, then reaches the routes.
Tests call `inject` and `next_outcome` from their own thread while uvicorn serves from
another, so all shared state sits behind one lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import http
import json
import random
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as Path
from starlette.types import Message, Receive, Scope, Send

from heygen_video_mcp.server.sandbox import contract
from heygen_video_mcp.server.sandbox.agent import STOPPED, AgentKind, session_view
from heygen_video_mcp.server.sandbox.mp4 import iter_mp4, mp4_bytes

Route = Literal["create", "status", "video", "other"]
FaultRoute = Literal["create", "status", "video"]
Outcome = Literal["completed", "failed", "completed_without_url", "vanish"]
# How long a job renders: a fixed number of seconds, or (lo, hi) to draw each new job's time uniformly.
RenderSeconds = float | tuple[float, float]

CREATE_PATH: Final = contract.EXECUTIONS
CREATE_PATHS: Final = (contract.EXECUTIONS, contract.VIDEO_AGENTS)
STATUS_RE: Final = re.compile(rf"({contract.EXECUTIONS}|{contract.VIDEOS}|{contract.VIDEO_AGENTS})/[^/]+")
VIDEO_RE: Final = re.compile(r"/videos/([^/]+)\.mp4")
RANGE_RE: Final = re.compile(r"bytes=(\d*)-(\d*)")
INPUT_STRINGS: Final = ("prompt", "provider", "aspect_ratio", "reference_image_url", "tail_image_url")
URL_LIFETIME: Final = 3600  # seconds a signed video URL stays valid, like a pre-signed S3 URL
# The contract leaves error bodies open; these follow HeyGen's usual {"error": {code, message}}.
ERROR_CODES: Final[dict[int, str]] = {
    400: "invalid_parameter",
    401: "unauthorized",
    402: "insufficient_credit",
    403: "forbidden",
    404: "not_found",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}
TERMINAL: Final[dict[Outcome, str]] = {
    "completed": "completed",
    "failed": "failed",
    "completed_without_url": "completed",
    "vanish": "not_found",
}
UNAUTHORIZED: Final = "Invalid or missing API key. Set X-Api-Key."
# HeyGen has not published what a retired v1 route answers; this is what such a notice usually says.
RETIRED: Final = "API v1 was retired on November 1, 2026 and is no longer supported. Use the v3 API."
# POST /v3/video-agents' fields (developers.heygen.com/reference/create-video-with-video-agent).
AGENT_STRINGS: Final = ("avatar_id", "voice_id", "style_id", "callback_url", "callback_id", "mode")
AGENT_FIELDS: Final = ("prompt", "orientation", "files", "incognito_mode", "auto_proceed", *AGENT_STRINGS)
FILE_KEYS: Final = {"url": "url", "asset_id": "asset_id", "base64": "data"}
ACCESS_DENIED: Final = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    "<Message>Request has expired or the signature does not match</Message></Error>"
)
HTML_PAGE: Final = (
    "<!DOCTYPE html><html><head><title>Service Unavailable</title></head>"
    "<body><h1>Service Unavailable</h1><p>The server is temporarily busy.</p></body></html>"
)


class Aborted(Exception):
    """Raised after a response has started so uvicorn closes the connection mid-response."""


def error_body(status: int, message: str | None = None) -> dict[str, object]:
    if message is None:
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
    return {"error": {"code": ERROR_CODES.get(status, "error"), "message": message}}


@dataclass(frozen=True)
class Fault:
    """What the next requests of a route get instead of (or, with passthrough, before) the real answer.

    status, body, headers, content_type: the answer given instead of the real one.
    delay: seconds of silence first (stop() cuts it short).
    drop: send a status line and headers, then close the connection with no body.
    truncate_at: send that many body bytes, then close; on a video URL of a known job the body
        is the real MP4 (signature not checked), with its full Content-Length.
    no_length: on a video URL of a known job, serve the real MP4 without Content-Length
        (chunked); with truncate_at, the connection is cut after that many bytes.
    hang_up: close the connection without any answer, not even a status line.
    unknown_job: answer 200 with status "not_found" for the execution id at the end of the path.
    passthrough: after the delay, let the real route answer (the delay comes before it runs).
    after: let the real route run first (a create makes its job), then hold its answer back
        for `delay` seconds; with hang_up the answer never comes. The answer is buffered,
        so this is for create and status, not for large videos.
    """

    status: int = 500
    body: str | bytes | dict[str, object] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    delay: float = 0.0
    drop: bool = False
    truncate_at: int | None = None
    no_length: bool = False
    hang_up: bool = False
    unknown_job: bool = False
    passthrough: bool = False
    after: bool = False

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1) -> Fault:
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        return cls(status=429, headers=headers)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status=status)

    @classmethod
    def malformed(cls) -> Fault:
        return cls(status=200, body='{"data": ', content_type="application/json")

    @classmethod
    def html(cls, status: int = 200) -> Fault:
        return cls(status=status, body=HTML_PAGE, content_type="text/html; charset=utf-8")

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Say nothing for `seconds`, then answer 504 as a gateway would."""
        return cls(status=504, delay=seconds)

    @classmethod
    def late_answer(cls, seconds: float) -> Fault:
        """The real answer (a create's job exists at once), but only after `seconds`."""
        return cls(after=True, delay=seconds)

    @classmethod
    def lost_answer(cls, seconds: float = 0.0) -> Fault:
        """The real route runs (a create's job exists), then, after `seconds`, the connection closes unanswered."""
        return cls(after=True, hang_up=True, delay=seconds)

    @classmethod
    def not_found(cls) -> Fault:
        """A status read answered as if the job were unknown, as a lagging read replica would."""
        return cls(status=200, unknown_job=True)

    @classmethod
    def chunked(cls, cut_at: int | None = None) -> Fault:
        """The real video without Content-Length; with `cut_at`, cut off after that many bytes."""
        return cls(status=200, no_length=True, truncate_at=cut_at)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Fault:
        """Send the client elsewhere, as a CDN in front of the video bucket might."""
        return cls(status=status, body="", headers={"Location": location})

    def payload(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        body = error_body(self.status) if self.body is None else self.body
        return json.dumps(body).encode(), self.content_type or "application/json"


@dataclass(frozen=True)
class RecordedRequest:
    route: Route
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lowercase names; x-api-key is "<match>" or "<mismatch>", never the key
    json: object | None
    time: float


@dataclass
class Job:
    execution_id: str
    input: dict[str, object]
    outcome: Outcome
    message: str
    submitted_at: float
    submitted_seconds: float
    render_seconds: float
    video_seconds: float
    video_id: str
    asset_id: str
    expires: int  # unix time when the signed video URL stops working
    hidden_until: float = 0.0  # monotonic time before which status reads say not_found (read lag)
    session_id: str | None = None  # set for a Video Agent job, whose execution_id is "video_agent:<video_id>"
    agent: AgentKind = "video"  # how its session behaves (server/sandbox/agent.py)
    think_seconds: float = 0.0
    stopped: bool = False

    @property
    def status(self) -> str:
        # The contract names only submitted/completed/failed/not_found; "processing" is the
        # in-between value HeyGen's older status API uses. A v3 video starts "pending".
        if self.stopped:
            return "failed"
        elapsed = time.monotonic() - self.submitted_at
        if elapsed < self.submitted_seconds:
            return "pending" if self.session_id else "submitted"
        if elapsed < self.render_seconds:
            return "processing"
        return TERMINAL[self.outcome]

    @property
    def video_known(self) -> bool:
        """Whether the video exists yet: always for the executions API; for a session, once it shows its id."""
        if self.session_id is None or self.agent == "video":
            return True
        return self.agent == "deferred" and time.monotonic() - self.submitted_at >= self.think_seconds

    @property
    def completes_at(self) -> float:
        """When the job stops reading as submitted/processing, on this process's monotonic clock."""
        return self.submitted_at + self.render_seconds

    @property
    def completes_at_wall(self) -> float:
        """`completes_at` as unix time (time.time()), for a process that does not share this monotonic clock."""
        return self.completes_at + (time.time() - time.monotonic())

    @property
    def ratio(self) -> tuple[int, int]:
        if self.session_id:
            return (9, 16) if self.input.get("orientation") == "portrait" else (16, 9)
        value = self.input.get("aspect_ratio", contract.DEFAULT_ASPECT_RATIO)
        return contract.aspect_ratio(str(value)) or (16, 9)


def render_range(seconds: RenderSeconds) -> tuple[float, float]:
    """A render time as the (lo, hi) range each job's time is drawn from; a fixed time is (t, t)."""
    low, high = (seconds, seconds) if isinstance(seconds, int | float) else seconds
    if not 0 <= low <= high or high == float("inf"):
        raise ValueError(f"render seconds must be a finite time >= 0 or a range lo <= hi, not {seconds!r}")
    return float(low), float(high)


def route_of(method: str, path: str) -> Route:
    if method == "POST" and path in CREATE_PATHS:
        return "create"
    if method == "GET" and STATUS_RE.fullmatch(path):
        return "status"
    if method == "GET" and VIDEO_RE.fullmatch(path):
        return "video"
    return "other"


def requested_range(header: str, total: int) -> tuple[int, int] | None:
    """The half-open byte span a Range header asks of a `total`-byte body; None means all of it.

    RFC 9110 lets a server ignore a malformed or multi-span Range, so those mean all of it too.
    An unsatisfiable span comes back empty (start == stop), for a 416.
    """
    match = RANGE_RE.fullmatch(header.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if not first:  # bytes=-N: the last N bytes
        return max(0, total - int(last)), total
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= total:
        return total, total
    return start, total if not last else min(int(last) + 1, total)


def check_request(payload: object) -> str | None:
    """What is wrong with a create body, or None if it is valid."""
    if not isinstance(payload, dict):
        return "Request body must be a JSON object."
    if payload.get("workflow_type") != "GenerateVideoNode":
        return 'workflow_type must be "GenerateVideoNode".'
    given = payload.get("input")
    if not isinstance(given, dict):
        return "input must be an object."
    for key in given:
        if key not in (*INPUT_STRINGS, "config"):
            return f"input.{key} is not a known field."
    for key in INPUT_STRINGS:
        if key in given and not isinstance(given[key], str):
            return f"input.{key} must be a string."
    if not str(given.get("prompt", "")).strip():
        return "input.prompt is required and must be a non-empty string."
    if given.get("provider", contract.DEFAULT_PROVIDER) not in contract.PROVIDERS:
        return f"input.provider must be one of: {', '.join(contract.PROVIDERS)}."
    if contract.aspect_ratio(str(given.get("aspect_ratio", contract.DEFAULT_ASPECT_RATIO))) is None:
        return "input.aspect_ratio must look like W:H, for example 16:9, 9:16 or 1:1."
    if "config" in given and not isinstance(given["config"], dict):
        return "input.config must be an object."
    return None


def check_agent_request(payload: object) -> str | None:
    """What is wrong with a POST /v3/video-agents body, or None if it is valid."""
    if not isinstance(payload, dict):
        return "Request body must be a JSON object."
    for key, value in payload.items():
        if key not in AGENT_FIELDS:
            return f"{key} is not a known field."
        if key in AGENT_STRINGS and value is not None and not isinstance(value, str):
            return f"{key} must be a string."
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not 1 <= len(prompt) <= 10_000 or not prompt.strip():
        return "prompt is required: a string of 1-10000 characters."
    if payload.get("orientation") not in (None, "landscape", "portrait"):
        return "orientation must be landscape or portrait."
    files = payload.get("files")
    if files is not None and (not isinstance(files, list) or len(files) > 20):
        return "files must be a list of at most 20 files."
    for item in files or []:
        key = FILE_KEYS.get(str(item.get("type"))) if isinstance(item, dict) else None
        if key is None or not isinstance(item.get(key), str):
            return (
                'each file must be {"type": "url", "url": ...}, {"type": "asset_id", ...} or {"type": "base64", ...}.'
            )
        if key == "url" and not item["url"].startswith("https://"):
            return "a file url must be a publicly accessible HTTPS URL."
    return None


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the already-read body to the routes, then defers to uvicorn."""
    pending = [body]

    async def inner() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await receive()

    return inner


async def stream(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def send_body(
    send: Send,
    status: int,
    headers: list[tuple[bytes, bytes]],
    chunks: AsyncIterator[bytes],
    limit: int | None = None,
) -> None:
    """Start a response and send the chunks; with a `limit`, abort the connection after that many bytes."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    sent = 0
    async for chunk in chunks:
        if limit is not None and sent >= limit:
            break
        piece = chunk if limit is None else chunk[: limit - sent]
        await send({"type": "http.response.body", "body": piece, "more_body": True})
        sent += len(piece)
    if limit is not None:
        raise Aborted
    await send({"type": "http.response.body", "body": b""})


async def hang_up(send: Send, receive: Receive) -> None:
    """Close the connection without a status line: to the client, an answer that never came.

    ASGI can only answer, so this reaches uvicorn's socket through the cycle its `send` is bound
    to; under another server it falls back to headers, then the cut.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if not isinstance(transport, asyncio.BaseTransport):
        await send_body(send, 200, [], stream(iter([])), 0)
        return
    transport.close()
    # Returning before uvicorn sees the close would make it answer 500 on the closing socket.
    while (await receive())["type"] != "http.disconnect":
        pass


class SandboxApp:
    """HeyGen's executions API, a signed video URL per finished job, and fault injection."""

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
    ) -> None:
        self.api_key = api_key
        self.render_seconds = render_range(render_seconds)
        self.render_seed = render_seed
        self._render_random = random.Random(render_seed)
        self.submitted_seconds = submitted_seconds
        self.video_seconds = video_seconds
        self.video_size = video_size
        self.read_lag = read_lag
        self.video_rate = video_rate
        self.video_ranges = video_ranges
        self.credits: int | None = None  # videos the account can still pay for; None: no limit
        self.v1_retired: tuple[int, bool] | None = None  # (HTTP status, whether the body says retired)
        self.agent_sessions: tuple[AgentKind, float] = ("video", 0.0)  # new sessions' kind and thinking time
        self._initial = (video_size, read_lag, video_rate, video_ranges, self.render_seconds, render_seed)
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {route: deque() for route in get_args(FaultRoute)}
        self._outcomes: deque[tuple[Outcome, str]] = deque()
        self._videos: dict[str, bytes] = {}
        self._secret = secrets.token_bytes(16)
        self._closing = False
        self._router = Starlette(
            routes=[
                Path(CREATE_PATH, self._create, methods=["POST"]),
                Path(CREATE_PATH + "/{execution_id}", self._status, methods=["GET"]),
                Path(contract.VIDEO_AGENTS, self._create_agent, methods=["POST"]),
                Path(contract.VIDEO_STATUSES, self._video_statuses, methods=["GET"]),
                Path(contract.VIDEOS + "/{video_id}", self._video_status, methods=["GET"]),
                Path(contract.VIDEO_AGENTS + "/{session_id}", self._session, methods=["GET"]),
                Path(contract.USERS_ME, self._me, methods=["GET"]),
                Path(contract.VIDEO_AGENTS + "/{session_id}/stop", self._stop, methods=["POST"]),
                Path("/videos/{video_id}.mp4", self._video, methods=["GET"]),
            ]
        )

    def inject(self, route: FaultRoute, fault: Fault, times: int = 1) -> None:
        if route not in self._faults:
            raise ValueError(f"route must be one of {sorted(self._faults)}, not {route!r}")
        with self._lock:
            self._faults[route].extend([fault] * times)

    def next_outcome(self, outcome: Outcome, *, message: str | None = None) -> None:
        if outcome not in get_args(Outcome):
            raise ValueError(f"outcome must be one of {get_args(Outcome)}, not {outcome!r}")
        with self._lock:
            self._outcomes.append((outcome, message or "Video generation failed"))

    def reset(self) -> None:
        """Forget queued faults and outcomes, the request log and every set_*; jobs stay."""
        with self._lock:
            for queue in self._faults.values():
                queue.clear()
            self._outcomes.clear()
            self.requests.clear()
            self.video_size, self.read_lag, self.video_rate, self.video_ranges, self.render_seconds, seed = (
                self._initial
            )
            self.credits = None
            self.v1_retired = None
            self.agent_sessions = ("video", 0.0)
            self.render_seed = seed
            self._render_random = random.Random(seed)

    def count(self, route: Route) -> int:
        with self._lock:
            return sum(1 for request in self.requests if request.route == route)

    def status_reads(self, execution_id: str) -> list[float]:
        """When (monotonic) each status read of this execution (or "video_agent:<video_id>") arrived, oldest
        first."""
        path = contract.status_path(execution_id)
        with self._lock:
            return [r.time for r in self.requests if r.route == "status" and r.path == path]

    def set_render_seconds(self, seconds: RenderSeconds, *, seed: int | None = None) -> None:
        """Jobs created from now on render for `seconds`, or, given (lo, hi), for a time drawn uniformly
        from that range per job, from a generator seeded with `seed` (the same seed, the same times)."""
        value = render_range(seconds)
        with self._lock:
            self.render_seconds = value
            self.render_seed = seed
            self._render_random = random.Random(seed)

    def set_credits(self, videos: int | None) -> None:
        """The account can pay for this many more videos (of either API); past them a create answers 402.
        None: no limit."""
        with self._lock:
            self.credits = videos

    def set_agent_sessions(self, kind: AgentKind, think_seconds: float = 0.3) -> None:
        """How Video Agent sessions created from now on behave (server/sandbox/agent.py)."""
        with self._lock:
            self.agent_sessions = (kind, think_seconds)

    def job_of(self, execution_id: str) -> Job:
        """The job behind one of the server's ids: "video_agent:session:<id>" names its session."""
        session = contract.session_of(execution_id)
        with self._lock:
            if session is None:
                return self.jobs[execution_id]
            return next(job for job in self.jobs.values() if job.session_id == session)

    def retire_v1(self, status: int = 410, *, notice: bool = True) -> None:
        """Every /v1/ request answers `status`, with a JSON notice that v1 is retired or, without `notice`,
        the plain error a missing route gives. The v3 routes keep working."""
        with self._lock:
            self.v1_retired = (status, notice)

    def set_video_size(self, size: int | None) -> None:
        with self._lock:
            self.video_size = size

    def set_read_lag(self, seconds: float) -> None:
        """Jobs created from now on read as not_found for their first `seconds` (0 turns it off)."""
        with self._lock:
            self.read_lag = seconds

    def set_video_rate(self, bytes_per_second: float | None) -> None:
        """Stream video bodies at about this rate from now on; None is as fast as the socket goes."""
        if bytes_per_second is not None and bytes_per_second <= 0:
            raise ValueError("bytes_per_second must be positive")
        with self._lock:
            self.video_rate = bytes_per_second

    def set_video_ranges(self, enabled: bool) -> None:
        """Whether video URLs honour Range (206) or, like some hosts, always send the whole body (200)."""
        with self._lock:
            self.video_ranges = enabled

    def video_bytes(self, video_id: str) -> bytes:
        """Exactly what the video URL serves now, padding included."""
        job = self._job_for_video(video_id)
        if job is None:
            raise KeyError(video_id)
        return b"".join(iter_mp4(self._mp4(job), total_size=self.video_size))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._router(scope, receive, send)
            return
        body = await read_body(receive)
        route = route_of(scope["method"], scope["path"])
        self._record(scope, route, body)
        retired = self.v1_retired
        if retired is not None and scope["path"].startswith("/v1/"):
            status, notice = retired
            payload = error_body(status, RETIRED) if notice else error_body(status)
            if notice:
                payload["error"]["code"] = "api_version_retired"  # type: ignore[index]
            await JSONResponse(payload, status_code=status)(scope, receive, send)
            return
        fault = self._take_fault(route)
        if fault is not None and fault.after:
            await self._answer_late(fault, scope, replay(body, receive), send)
            return
        if fault is not None:
            await self._pause(fault.delay)
            if not fault.passthrough:
                await self._send_fault(fault, route, scope["path"], send, receive)
                return
        await self._router(scope, replay(body, receive), send)

    def _record(self, scope: Scope, route: Route, body: bytes) -> None:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name == "x-api-key":
                value = "<match>" if self._key_matches(value) else "<mismatch>"
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        parsed: object | None = None
        if scope["method"] == "POST":
            with contextlib.suppress(ValueError):
                parsed = json.loads(body)
        recorded = RecordedRequest(
            route=route,
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            json=parsed,
            time=time.monotonic(),
        )
        with self._lock:
            self.requests.append(recorded)

    def _take_fault(self, route: Route) -> Fault | None:
        with self._lock:
            queue = self._faults.get(route)
            return queue.popleft() if queue else None

    async def _pause(self, seconds: float) -> None:
        # Sleep in short steps so stop() never waits out a long hang: the flag is set from
        # another thread, where an anyio.Event of this loop cannot be touched.
        deadline = time.monotonic() + seconds
        while not self._closing and (left := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
            await anyio.sleep(min(left, 0.05))

    async def _answer_late(self, fault: Fault, scope: Scope, receive: Receive, send: Send) -> None:
        """Let the real route act (a create makes its job), then hold its answer back or lose it."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self._router(scope, receive, hold)
        await self._pause(fault.delay)
        if fault.hang_up:
            await hang_up(send, receive)
            return
        for message in held:
            await send(message)

    async def _send_fault(self, fault: Fault, route: Route, path: str, send: Send, receive: Receive) -> None:
        if fault.hang_up:
            await hang_up(send, receive)
            return
        match = VIDEO_RE.fullmatch(path)
        job = self._job_for_video(match.group(1)) if match and route == "video" else None
        if job is not None and (fault.truncate_at is not None or fault.no_length):
            size = self.video_size
            chunks = self._paced(iter_mp4(self._mp4(job), total_size=size))
            headers = self._video_headers(job, size, length=not fault.no_length)
            await send_body(send, 200, headers, chunks, fault.truncate_at)
            return
        body, content_type = fault.payload()
        if fault.unknown_job and path.startswith(contract.VIDEOS):
            body = json.dumps(error_body(404, "Video not found")).encode()
            fault = Fault(status=404)
        elif fault.unknown_job:
            body = json.dumps({"data": {"execution_id": path.rsplit("/", 1)[-1], "status": "not_found"}}).encode()
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        headers += [(name.lower().encode(), value.encode()) for name, value in fault.headers.items()]
        if fault.drop:
            await send_body(send, 200, headers, stream(iter([body])), 0)
            return
        if fault.truncate_at is not None:
            await send_body(send, fault.status, headers, stream(iter([body])), fault.truncate_at)
            return
        await send({"type": "http.response.start", "status": fault.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _paced(self, chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
        """The chunks at the video rate, in pieces of a twentieth of a second with a pause after each."""
        rate = self.video_rate
        for chunk in chunks:
            step = len(chunk) if rate is None else max(1, int(rate / 20))
            for offset in range(0, len(chunk), step):
                piece = chunk[offset : offset + step]
                yield piece
                if rate is not None:
                    await self._pause(len(piece) / rate)

    def _key_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    def _authorized(self, request: Request) -> bool:
        return self._key_matches(request.headers.get("x-api-key", ""))

    async def _accepted(self, request: Request, check: Callable[[Any], str | None]) -> Any:
        """A submission's body, or the error response HeyGen gives for a bad key, bad JSON or a bad request."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        try:
            payload = json.loads(await request.body())
        except ValueError:
            return JSONResponse(error_body(400, "Request body must be valid JSON."), status_code=400)
        problem = check(payload)
        if problem is not None:
            return JSONResponse(error_body(400, problem), status_code=400)
        return payload

    async def _create(self, request: Request) -> Response:
        payload = await self._accepted(request, check_request)
        if isinstance(payload, Response):
            return payload
        job = self._new_job(f"node-gw-{secrets.token_hex(8)}", payload["input"], None)
        if job is None:
            return JSONResponse(error_body(402, "Insufficient credits to generate this video."), status_code=402)
        return JSONResponse({"data": {"execution_id": job.execution_id, "status": "submitted"}})

    async def _create_agent(self, request: Request) -> Response:
        payload = await self._accepted(request, check_agent_request)
        if isinstance(payload, Response):
            return payload
        video_id = secrets.token_hex(16)
        job = self._new_job(contract.agent_job_id(video_id), payload, f"sess_{secrets.token_hex(8)}", video_id)
        if job is None:
            return JSONResponse(error_body(402, "Insufficient credits to generate this video."), status_code=402)
        # Only session_id, status and created_at are promised (gen/video-agent.go); video_id may be null.
        known = job.agent == "video"
        data = {
            "session_id": job.session_id,
            "video_id": video_id if known else None,
            "status": "generating" if known else "thinking",
            "created_at": int(time.time()),
        }
        return JSONResponse({"data": data})

    async def _me(self, request: Request) -> Response:
        """GET /v3/users/me (heygen-cli gen/user.go): a wallet account; each video it can still pay for is $2."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        with self._lock:
            balance = 250.0 if self.credits is None else self.credits * 2.0
        wallet = {"currency": "usd", "remaining_balance": balance, "auto_reload": {"enabled": False}}
        names = {"username": "sandbox", "email": "sandbox@example.com", "first_name": "Sand", "last_name": "Box"}
        return JSONResponse({"data": {**names, "billing_type": "wallet", "wallet": wallet}})

    def _session_job(self, request: Request) -> Job | None:
        session_id = request.path_params["session_id"]
        with self._lock:
            return next((job for job in self.jobs.values() if job.session_id == session_id), None)

    async def _session(self, request: Request) -> Response:
        """GET /v3/video-agents/{session_id}."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        job = self._session_job(request)
        if job is None or job.session_id is None:
            return JSONResponse(error_body(404, "Session not found"), status_code=404)
        elapsed = time.monotonic() - job.submitted_at
        span = max(job.render_seconds - job.submitted_seconds, 1e-6)
        data = session_view(
            session_id=job.session_id,
            kind=job.agent,
            elapsed=elapsed,
            think_seconds=job.think_seconds,
            video_id=job.video_id,
            video_status=job.status,
            render_fraction=min(max((elapsed - job.submitted_seconds) / span, 0.0), 1.0),
            stopped=job.stopped,
            prompt=str(job.input.get("prompt", "")),
            created_at=int(time.time() - elapsed),
        )
        return JSONResponse({"data": data})

    async def _stop(self, request: Request) -> Response:
        """POST /v3/video-agents/{session_id}/stop: halts the run; its video (if any) ends failed."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        job = self._session_job(request)
        if job is None or job.session_id is None:
            return JSONResponse(error_body(404, "Session not found"), status_code=404)
        with self._lock:
            # A session that never started its video (stuck, waiting) is still running, whatever its clock says.
            if not job.video_known or job.status not in ("completed", "failed"):
                job.stopped, job.message = True, STOPPED
        return JSONResponse({"data": {"session_id": job.session_id}})

    def _new_job(
        self, execution_id: str, given: dict[str, object], session_id: str | None, video_id: str | None = None
    ) -> Job | None:
        """Record a new job, paid from the credits; None when they have run out."""
        with self._lock:
            if self.credits is not None:
                if self.credits <= 0:
                    return None
                self.credits -= 1
            outcome, message = self._outcomes.popleft() if self._outcomes else ("completed", "")
            agent, think = self.agent_sessions if session_id else ("video", 0.0)
            low, high = self.render_seconds
            render_seconds = low if low == high else self._render_random.uniform(low, high)
            job = Job(
                execution_id=execution_id,
                input=given,
                outcome=outcome,
                message=message,
                submitted_at=time.monotonic(),
                submitted_seconds=self.submitted_seconds,
                render_seconds=render_seconds,
                video_seconds=self.video_seconds,
                video_id=video_id or secrets.token_hex(16),
                asset_id=f"asset-{secrets.token_hex(6)}",
                expires=int(time.time() + render_seconds) + URL_LIFETIME,
                hidden_until=time.monotonic() + self.read_lag,
                session_id=session_id,
                agent=agent,
                think_seconds=think,
            )
            self.jobs[job.execution_id] = job
        return job

    async def _status(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        execution_id = request.path_params["execution_id"]
        with self._lock:
            job = self.jobs.get(execution_id)
        if job is not None and time.monotonic() < job.hidden_until:
            job = None  # HeyGen's read side has not caught up with its write yet
        status = "not_found" if job is None else job.status
        data: dict[str, object] = {"execution_id": execution_id, "status": status}
        if job is not None and status == "failed":
            data["error"] = {"message": job.message}
        if job is not None and status == "completed":
            video = {"video_id": job.video_id}
            if job.outcome == "completed":
                video = {"video_url": self._video_url(job), **video}
            data["output"] = {"video": video, "asset_id": job.asset_id}
        return JSONResponse({"data": data})

    async def _video_status(self, request: Request) -> Response:
        """GET /v3/videos/{video_id} (developers.heygen.com/reference/get-video)."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        video_id = request.path_params["video_id"]
        with self._lock:
            job = self.jobs.get(contract.agent_job_id(video_id))
        hidden = job is None or time.monotonic() < job.hidden_until or not job.video_known
        status = None if job is None or hidden else job.status
        if job is None or status in (None, "not_found"):
            return JSONResponse(error_body(404, "Video not found"), status_code=404)
        data: dict[str, object] = {"id": video_id, "status": status, "created_at": int(time.time())}
        if status == "failed":
            data |= {"failure_code": "rendering_failed", "failure_message": job.message}
        if status == "completed":
            data |= {"duration": job.video_seconds, "video_page_url": f"https://app.heygen.com/videos/{video_id}"}
            if job.outcome == "completed":
                data |= {"video_url": self._video_url(job), "thumbnail_url": f"{self.base_url}/thumbs/{video_id}.jpg"}
        return JSONResponse({"data": data})

    async def _video_statuses(self, request: Request) -> Response:
        """GET /v3/videos/statuses?video_ids=a,b (heygen-cli gen/video.go): up to 100 statuses in one answer."""
        if not self._authorized(request):
            return JSONResponse(error_body(401, UNAUTHORIZED), status_code=401)
        ids = [v for v in request.query_params.get("video_ids", "").split(",") if v]
        if not ids or len(ids) > 100:
            return JSONResponse(error_body(400, "video_ids must name 1 to 100 videos"), status_code=400)
        answers: list[dict[str, object]] = []
        for video_id in ids:
            with self._lock:
                job = self.jobs.get(contract.agent_job_id(video_id))
            hidden = job is None or time.monotonic() < job.hidden_until or not job.video_known
            status = "not_found" if job is None or hidden else job.status
            answer: dict[str, object] = {"video_id": video_id, "status": "queued" if status == "pending" else status}
            answer["error"] = (
                {"code": "rendering_failed", "message": job.message} if job is not None and status == "failed" else None
            )
            answers.append(answer)
        return JSONResponse({"data": answers, "has_more": False, "next_token": None})

    async def _video(self, request: Request) -> Response:
        job = self._job_for_video(request.path_params["video_id"])
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if (
            job is None
            or job.outcome != "completed"
            or job.status != "completed"
            or not expires.isdigit()
            or int(expires) < time.time()
            or not hmac.compare_digest(signature, self._sign(job.video_id, int(expires)))
        ):
            return Response(ACCESS_DENIED, status_code=403, media_type="application/xml")
        size, ranges = self.video_size, self.video_ranges
        total = size or len(self._mp4(job))
        span = requested_range(request.headers.get("range", ""), total) if ranges else None
        start, stop = span or (0, total)
        headers = {"content-type": "video/mp4"} | ({"accept-ranges": "bytes"} if ranges else {})
        if start == stop:
            return Response(status_code=416, headers={"content-range": f"bytes */{total}"})
        if span is not None:
            headers["content-range"] = f"bytes {start}-{stop - 1}/{total}"
        headers["content-length"] = str(stop - start)
        chunks = iter_mp4(self._mp4(job), total_size=size, start=start, stop=stop)
        return StreamingResponse(self._paced(chunks), status_code=200 if span is None else 206, headers=headers)

    def _job_for_video(self, video_id: str) -> Job | None:
        with self._lock:
            return next((job for job in self.jobs.values() if job.video_id == video_id), None)

    def _mp4(self, job: Job) -> bytes:
        with self._lock:
            cached = self._videos.get(job.video_id)
        if cached is None:
            # Built outside the lock (a few ms); a race just builds the same bytes twice.
            cached = mp4_bytes(*job.ratio, job.video_seconds, seed=job.video_id)
            with self._lock:
                self._videos[job.video_id] = cached
        return cached

    def _video_headers(self, job: Job, size: int | None, *, length: bool) -> list[tuple[bytes, bytes]]:
        """What the video route would send with a whole body, for faults that shape that body."""
        headers = [(b"content-type", b"video/mp4")]
        if self.video_ranges:
            headers.append((b"accept-ranges", b"bytes"))
        if length:
            headers.append((b"content-length", str(size or len(self._mp4(job))).encode()))
        return headers

    def _sign(self, video_id: str, expires: int) -> str:
        return hmac.new(self._secret, f"{video_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _video_url(self, job: Job) -> str:
        signature = self._sign(job.video_id, job.expires)
        return f"{self.base_url}/videos/{job.video_id}.mp4?expires={job.expires}&signature={signature}"
