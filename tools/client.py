"""HeyGen's video APIs over HTTP: the executions API and the Video Agent (paths in tools/routes.py); retries
and error mapping live here and nowhere else."""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import anyio
import httpx2

from heygen_video_mcp.tools import deadline, errors, routes
from heygen_video_mcp.tools.request import LocalImage, VideoRequest
from heygen_video_mcp.tools.status import Execution, normalise_status

logger = logging.getLogger(__name__)

WORKFLOW_TYPE: Final = "GenerateVideoNode"
# How a retired API may say so in its error text (HeyGen has not published the answer a retired v1 route
# gives; these are the words such notices use).
_RETIRED_RE: Final = re.compile(
    r"\b(retired|deprecated|sunset|end[- ]of[- ]life|no longer (supported|available)|decommissioned)\b", re.I
)
VIDEO_AGENT_OFFER: Final = (
    'HeyGen\'s v3 Video Agent still makes videos: generate_video with provider="video_agent" makes a produced '
    "video with scenes, narration and an AI avatar presenter (not a raw model clip), for about $0.033 per "
    "second of video. Ask the user before switching."
)

# What to check when HeyGen refuses the key, for the server's own key (HEYGEN_API_KEY).
REJECTED_KEY: Final = (
    "Check HEYGEN_API_KEY in this server's environment in your client config: it must be a current key from "
    "HeyGen's API settings."
)
RETRY_AFTER_CAP: Final = 30.0
_RETRYABLE_STATUS: Final = frozenset({500, 502, 503, 504})
# Failures that happen before a request's first byte can leave: the request was surely not sent.
_NOT_SENT: Final = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout, httpx2.UnsupportedProtocol)


@dataclass
class Wire:
    """Whether the current attempt of a request may have reached HeyGen.

    httpcore reports each step of a request to a trace hook; once it starts sending the request headers,
    HeyGen may have the request. Only then is a lost answer "maybe sent", which blocks a blind retry.
    """

    sent: bool = False
    traced: bool = False
    # The caller's deadline (anyio clock) when the request runs in a task of its own: waits between
    # attempts must fit it even where the request itself may outlive it.
    deadline: float = math.inf

    async def trace(self, event: str, info: dict[str, Any]) -> None:
        self.traced = True
        if event.endswith("send_request_headers.started"):
            self.sent = True

    def maybe_sent(self, exc: Exception) -> bool:
        if isinstance(exc, httpx2.LocalProtocolError):
            return False  # h11 refuses an unsendable request before writing a byte
        # A transport that reports no trace steps (a test's) is judged by the kind of failure alone.
        return self.sent if self.traced else not isinstance(exc, _NOT_SENT)


def _message_from(body: Any) -> str | None:
    """HeyGen's own error text, wherever this endpoint puts it (the contract leaves error bodies open)."""
    if not isinstance(body, dict):
        return None
    candidates: list[Any] = [body.get("error"), body.get("message")]
    data = body.get("data")
    if isinstance(data, dict):
        candidates.insert(0, data.get("error"))
    for item in candidates:
        if isinstance(item, dict):
            item = item.get("message") or item.get("detail") or item.get("code")
        if isinstance(item, str) and item.strip():
            return item.strip()[:500]
    return None


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")  # absent from nearly every answer: no KeyError raised for it
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), RETRY_AFTER_CAP)
    except ValueError:
        return None


class SharedHttp:
    """One HTTP client for every HeyGenClient of a run (each tenant's, each caller key's), built on first use:
    building one (its TLS context) is the costliest step of a start and holds most of a megabyte, so a client
    per key would grow the server with every key a caller sends. The key goes on each request (see _request)."""

    def __init__(self, timeout: httpx2.Timeout, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._timeout = timeout
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    @property
    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            # The key goes on each API request, never as a default header: video URLs are pre-signed links on
            # other hosts, fetched through this same client, and must not receive it.
            self._client = httpx2.AsyncClient(timeout=self._timeout, transport=self._transport, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:  # never built: nothing to close
            await self._client.aclose()


class HeyGenClient:
    """Submit and read executions. The transport is injectable so tests can swap it."""

    def __init__(
        self,
        *,
        api_key: str | None,
        base_url: str,
        timeout: httpx2.Timeout,
        max_retries: int = 3,
        backoff: float = 0.5,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        missing_key: str | None = None,
        rejected_key: str | None = None,
        shared: SharedHttp | None = None,
    ) -> None:
        self._api_key = api_key
        self.missing_key = missing_key  # what to tell a caller when there is no key (None: the stdio advice)
        self._rejected_key = rejected_key or REJECTED_KEY  # what to check when HeyGen refuses the key
        self._base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._timeout_config = timeout
        self._owns_http = shared is None  # a shared client is closed by whoever made it
        self._shared = shared or SharedHttp(timeout, transport)

    @property
    def http(self) -> httpx2.AsyncClient:
        return self._shared.client

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"HeyGenClient(base_url={self._base_url!r}, api_key=<{key}>)"

    @property
    def base_url(self) -> str:
        """HeyGen's address (HEYGEN_API_BASE_URL), without a trailing slash: what a retirement is remembered by."""
        return self._base_url

    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._shared.aclose()

    async def submit(self, request: VideoRequest, wire: Wire | None = None) -> Execution:
        """Submit one job to the API its provider belongs to."""
        if request.provider == routes.VIDEO_AGENT:
            return await self.create_video_agent(request.video_agent_body(), wire)
        return await self.create_execution(request.api_input(), wire)

    async def create_execution(self, video_input: Mapping[str, Any], wire: Wire | None = None) -> Execution:
        """Submit one job. `wire` tells the caller, at any moment, whether HeyGen may have it."""
        content = _encoded({"workflow_type": WORKFLOW_TYPE, "input": dict(video_input)})
        body = await self._request("POST", routes.EXECUTIONS, content=content, wire=wire or Wire())
        # A 2xx means HeyGen took the job; if we cannot read its id the job may still exist.
        return self._execution(body, maybe_accepted=True)

    async def create_video_agent(self, request_body: Mapping[str, Any], wire: Wire | None = None) -> Execution:
        """Ask the Video Agent for one video; its ids are the prefixed video id and the session id."""
        content = _encoded(dict(request_body))
        body = await self._request("POST", routes.VIDEO_AGENTS, content=content, wire=wire or Wire())
        data = body.get("data") if isinstance(body, dict) else None
        video_id = _str_or_none(data.get("video_id")) if isinstance(data, dict) else None
        session_id = _str_or_none(data.get("session_id")) if isinstance(data, dict) else None
        if not isinstance(data, dict) or not (video_id or session_id):
            raise self._odd("no data.session_id", maybe_accepted=True)
        # The answer's status is the session's ("generating"); the video itself waits its turn. Without a
        # video_id (the spec allows it), the session is the job's id (tools/routes.py).
        return Execution(
            execution_id=routes.job_id("video_agent", video_id)
            if video_id
            else routes.session_job_id(session_id or ""),
            status="submitted",
            heygen_status=_str_or_none(data.get("status")) or "pending",
            video_id=video_id,
            session_id=session_id,
        )

    # --- hook: Video Agent sessions, account and assets (tools/videoagent.py reads the answers) ---
    async def v3_get(self, path: str, execution_id: str | None = None, until: float = math.inf) -> Any:
        """One v3 read (a session, the account, the styles); a 404 about `execution_id` reads as not_found."""
        return await self._request("GET", path, execution_id=execution_id, wire=Wire(deadline=until))

    async def v3_post(self, path: str, payload: Mapping[str, Any]) -> Any:
        """One v3 POST that buys nothing (a session's stop)."""
        return await self._request("POST", path, content=_encoded(dict(payload)))

    async def upload_asset(self, image: LocalImage) -> tuple[str, str]:
        """Upload a local image (POST /v3/assets, multipart "file"); its asset id and public URL. It buys
        nothing, so an answer lost on the way is only a failed upload."""
        files = {"file": (image.name, image.data, image.content_type)}
        try:
            body = await self._request("POST", routes.ASSETS, files=files)
        except errors.HeyGenError as exc:
            if not exc.maybe_accepted:
                raise
            raise errors.APIConnectionFailed(
                f"HeyGen did not confirm the upload of {image.name}; nothing was bought.", advice="Try again shortly."
            ) from None
        data = body.get("data") if isinstance(body, dict) else None
        asset_id = _str_or_none(data.get("asset_id")) if isinstance(data, dict) else None
        url = _str_or_none(data.get("url")) if isinstance(data, dict) else None
        if asset_id is None or url is None:
            raise self._odd("no data.asset_id or data.url", maybe_accepted=False)
        return asset_id, url

    async def video_statuses(self, video_ids: list[str], until: float = math.inf) -> dict[str, Execution]:
        """Many Video Agent videos' statuses in one read (GET /v3/videos/statuses, at most 100 ids), by video id.
        No URL comes with them: a completed video's own read gives it."""
        query = "?video_ids=" + ",".join(video_ids)
        body = await self._request("GET", routes.VIDEO_STATUSES + query, wire=Wire(deadline=until))
        items = body.get("data") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise self._odd("no 'data' list", maybe_accepted=False)
        found: dict[str, Execution] = {}
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("video_id"), str):
                continue
            video_id, raw = item["video_id"], str(item.get("status") or "")
            status = "not_found" if raw == "not_found" else normalise_status(raw)
            error = _message_from({"error": item.get("error")}) or "HeyGen gave no reason"
            found[video_id] = Execution(
                routes.job_id("video_agent", video_id),
                status,
                raw,
                video_id=video_id,
                error=error if status == "failed" else None,
            )
        return found

    async def get_execution(self, execution_id: str, until: float = math.inf) -> Execution:
        """Read a job of either API, by the id this server gives it. `until`: the deadline (anyio clock) of
        the call that wants the answer, when the read runs in a task of its own."""
        path = routes.status_path(execution_id)
        body = await self._request("GET", path, execution_id=execution_id, wire=Wire(deadline=until))
        if routes.backend_of(execution_id) == "video_agent":
            execution = self._video(body, execution_id)
        else:
            execution = self._execution(body, maybe_accepted=False, fallback_id=execution_id)
        if execution.execution_id != execution_id:
            raise errors.UnexpectedResponse(
                f"HeyGen answered about execution {execution.execution_id!r} when asked for {execution_id!r}."
            )
        return execution

    def _video(self, body: Any, execution_id: str) -> Execution:
        """A v3 video (GET /v3/videos/{video_id}) as an execution."""
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise self._odd("no 'data' object", maybe_accepted=False)
        raw_status = data.get("status")
        video_id = data.get("id") or routes.heygen_id(execution_id)
        if not isinstance(raw_status, str) or not isinstance(video_id, str):
            raise self._odd("no id or status", maybe_accepted=False)
        status = normalise_status(raw_status)
        failure = _str_or_none(data.get("failure_message")) or _str_or_none(data.get("failure_code"))
        return Execution(
            execution_id=routes.job_id("video_agent", video_id),
            status=status,
            heygen_status=raw_status,
            video_url=_str_or_none(data.get("video_url")),
            video_id=video_id,
            error=(failure or _message_from(body) or "HeyGen gave no reason") if status == "failed" else None,
        )

    def _execution(self, body: Any, *, maybe_accepted: bool, fallback_id: str | None = None) -> Execution:
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise self._odd("no 'data' object", maybe_accepted)
        execution_id = data.get("execution_id") or fallback_id
        raw_status = data.get("status")
        if not isinstance(execution_id, str) or not isinstance(raw_status, str):
            raise self._odd("no execution_id or status", maybe_accepted)
        status = normalise_status(raw_status)
        output: dict[str, Any] = data["output"] if isinstance(data.get("output"), dict) else {}
        video: dict[str, Any] = output["video"] if isinstance(output.get("video"), dict) else {}
        return Execution(
            execution_id=execution_id,
            status=status,
            heygen_status=raw_status,
            video_url=_str_or_none(video.get("video_url")),
            video_id=_str_or_none(video.get("video_id")),
            asset_id=_str_or_none(output.get("asset_id")),
            error=_message_from(body) if status == "failed" else None,
        )

    @staticmethod
    def _odd(what: str, maybe_accepted: bool) -> errors.UnexpectedResponse:
        hint = (
            " The job may have been created: check your HeyGen dashboard before submitting again."
            if maybe_accepted
            else " Try again shortly."
        )
        return errors.UnexpectedResponse(
            f"HeyGen's answer did not have the expected shape ({what}).{hint}", maybe_accepted=maybe_accepted
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        execution_id: str | None = None,
        wire: Wire | None = None,
    ) -> Any:
        """One API call with the retry policy: reads retry on 429, 5xx and network faults; a submission
        retries only where HeyGen surely did not take it (429, or nothing was sent). No wait outlasts the
        caller's deadline: a retry that would not fit is not made, and the last failure is reported."""
        if not self._api_key:
            raise errors.MissingApiKey(self.missing_key)
        idempotent = method == "GET"
        wire = wire or Wire()
        attempt = 0
        while True:
            wait: float | None = None
            failure: errors.HeyGenError | None = None
            wire.sent = wire.traced = False
            headers = {"X-Api-Key": self._api_key}
            if content is not None:
                headers["Content-Type"] = "application/json"
            try:
                response = await self.http.request(
                    method,
                    self._base_url + path,
                    content=content,
                    files=files,
                    headers=headers,
                    timeout=self._timeout(),
                    # Only a submission needs to know whether it left (a read is retried either way); the
                    # hook costs every step of a request an await.
                    extensions={} if idempotent else {"trace": wire.trace},
                )
            except httpx2.TransportError as exc:
                if not wire.maybe_sent(exc):
                    retryable = not isinstance(exc, httpx2.UnsupportedProtocol | httpx2.LocalProtocolError)
                    failure = self._not_sent(exc)
                elif isinstance(exc, httpx2.TimeoutException):
                    retryable, failure = idempotent, self._lost(method, "did not answer in time", errors.APITimedOut)
                else:
                    retryable = idempotent
                    failure = self._lost(method, f"dropped the connection ({type(exc).__name__})")
            else:
                status = response.status_code
                retryable = status == 429 or (idempotent and status in _RETRYABLE_STATUS)
                wait = _retry_after(response)
            # The jitter is drawn only for a retry, not for every answer (nearly all of them final).
            pause = (self._delay(attempt) if wait is None else wait) if retryable else 0.0
            if not retryable or attempt == self._max_retries or not deadline.fits(pause, until=wire.deadline):
                if failure is None:
                    return self._parse(response, method, path, execution_id, retry_after=wait)
                raise failure
            if failure is None:
                wire.sent = False  # a 429 (or a read's 5xx) was answered: this attempt bought nothing
                logger.info("HeyGen %s %s answered %s; retrying", method, path, response.status_code)
            await self._sleep(pause)
            attempt += 1

    def _timeout(self) -> httpx2.Timeout:
        """The client's timeouts, shortened to end before the caller's deadline so a hanging read is
        reported as HeyGen not answering rather than cut off mid-call."""
        left = deadline.remaining() - deadline.MARGIN
        base = self._timeout_config
        if left >= max(base.read or 0, base.connect or 0):
            return base
        left = max(left, 0.1)
        return httpx2.Timeout(
            connect=min(base.connect or left, left),
            read=min(base.read or left, left),
            write=min(base.write or left, left),
            pool=min(base.pool or left, left),
        )

    def _not_sent(self, exc: httpx2.TransportError) -> errors.HeyGenError:
        if isinstance(exc, httpx2.UnsupportedProtocol | httpx2.LocalProtocolError):
            return errors.APIConnectionFailed(
                f"The request to HeyGen could not be sent ({type(exc).__name__}); nothing reached HeyGen. "
                "Check HEYGEN_API_BASE_URL (an http:// or https:// URL) and HEYGEN_API_KEY."
            )
        return errors.APIConnectionFailed(
            f"Could not connect to HeyGen at {self._base_url} ({type(exc).__name__}); nothing was sent. Check "
            "the network and HEYGEN_API_BASE_URL, then try again."
        )

    def _delay(self, attempt: int) -> float:
        """Full-jitter exponential backoff."""
        return random.uniform(0, self._backoff * 2**attempt)

    def _lost(
        self, method: str, what: str, kind: type[errors.APIConnectionFailed] = errors.APIConnectionFailed
    ) -> errors.APIConnectionFailed:
        if method == "POST":
            return kind(
                f"HeyGen {what} after the video request was sent, so it may or may not have created the job.",
                advice="Do not resubmit blindly: check your HeyGen dashboard (or list_videos) first; the same "
                "request is blocked as a possible duplicate unless allow_duplicate=true.",
                maybe_accepted=True,
            )
        return kind(f"HeyGen {what}. The job is not affected; check its status again shortly.")

    def _parse(
        self,
        response: httpx2.Response,
        method: str,
        path: str,
        execution_id: str | None,
        *,
        retry_after: float | None = None,
    ) -> Any:
        request_id = response.headers.get("x-request-id")
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        status = response.status_code
        on_v1 = path.startswith(routes.EXECUTIONS)
        # A notice in place of an answer (no data) that the API is retired refused the job: nothing was bought.
        retired = on_v1 and not (isinstance(body, dict) and "data" in body) and _says_retired(body, response)
        if 200 <= status < 300 and not retired:
            if body is None:
                raise self._odd("not JSON", maybe_accepted=method == "POST")
            return body
        said = _message_from(body) or response.reason_phrase or "no message"
        cls: type[errors.APIStatusError]
        maybe_accepted = False
        advice = ""  # what the model should do, said after what happened
        if status == 404 and not retired and self._about_execution(body, execution_id):
            return {"data": {"execution_id": execution_id, "status": "not_found"}}
        if retired or (on_v1 and status in (404, 405, 410)):
            cls = errors.EndpointRetired
            text, advice = self._retired(method, path, status, said, execution_id, retired)
        elif status in (401, 403):
            cls = errors.AuthenticationFailed
            text = f"HeyGen rejected the API key (HTTP {status}: {said})."
            advice = self._rejected_key
        elif status == 402:
            cls = errors.InsufficientCredits
            text = (
                f"HeyGen says the account does not have enough credits (HTTP 402: {said}). Nothing was made or charged."
            )
            advice = "Ask the user to add credits or upgrade their plan at https://app.heygen.com, then try again."
        elif status in (404, 405, 410):
            cls = errors.EndpointNotFound
            text = (
                f"HeyGen has no {method} {_route(path)} route at {self._base_url} (HTTP {status}). "
                "HEYGEN_API_BASE_URL is probably wrong: it should be https://api.heygen.com."
            )
        elif status == 429:
            cls = errors.RateLimited
            when = f"{retry_after:.0f} seconds" if retry_after else "a minute"
            text = f"HeyGen is rate-limiting requests (HTTP 429: {said}). Wait {when}, then try again."
            if method == "POST":
                text += " The video was not submitted, so nothing was spent."
        elif status >= 500:
            cls = errors.ServerFault
            text = f"HeyGen had a server error (HTTP {status}: {said})."
            # 503 is a refusal at the door; any other 5xx may come after HeyGen created the (paid) job.
            maybe_accepted = method == "POST" and status != 503
            if maybe_accepted:
                advice = (
                    "It may or may not have created the job: check list_videos or your HeyGen dashboard in a "
                    "minute; the same request is blocked as a possible duplicate unless allow_duplicate=true."
                )
            else:
                text += " Try again in a minute."
        elif status in (400, 422):
            cls = errors.BadRequest
            text = f"HeyGen rejected the request (HTTP {status}): {said}. Fix the input and try again."
        else:
            cls = errors.APIStatusError
            text = f"HeyGen answered HTTP {status}: {said}."
        error = cls(text, status_code=status, advice=advice, request_id=request_id, maybe_accepted=maybe_accepted)
        if isinstance(error, errors.EndpointRetired):
            error.certain, error.api, error.said = retired or status == 410, "executions", f"HTTP {status}: {said}"
        raise error

    def _retired(
        self, method: str, path: str, status: int, said: str, execution_id: str | None, notice: bool
    ) -> tuple[str, str]:
        """The executions API answered as gone: say so, name the setting to check; the advice offers the other
        API."""
        route = f"HeyGen's v1 executions API ({method} {_route(path)})"
        if notice:
            text = (
                f"{route} answered at {self._base_url} that it is retired (HTTP {status}: {said}). HeyGen retired "
                "its v1 and v2 APIs on November 1, 2026, so the model providers (VEO, Kling, Sora, ...) cannot be "
                "used through it any more; changing HEYGEN_API_BASE_URL will not bring them back. "
            )
        else:
            text = (
                f"{route} is not at {self._base_url} (HTTP {status}: {said}). Either HEYGEN_API_BASE_URL is wrong "
                "(it should be https://api.heygen.com, or unset), or HeyGen has retired it: HeyGen retired its v1 "
                "and v2 APIs on November 1, 2026, which ended the model providers (VEO, Kling, Sora, ...) there. "
            )
        if method == "POST":
            return text + "Nothing was bought.", VIDEO_AGENT_OFFER
        return (
            text + f"Execution {execution_id} cannot be followed here; look for it in the HeyGen dashboard.",
            "For new videos: " + VIDEO_AGENT_OFFER,
        )

    @staticmethod
    def _about_execution(body: Any, execution_id: str | None) -> bool:
        """A 404 about an unknown execution comes as HeyGen JSON; a missing route gives a generic page.
        The contract does not say which 404 body HeyGen sends, so any JSON object with a data or error
        member on the status route counts as being about the execution."""
        return execution_id is not None and isinstance(body, dict) and ("data" in body or "error" in body)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _encoded(payload: dict[str, Any]) -> bytes:
    try:
        # allow_nan=False: NaN and Infinity are not JSON, and HeyGen would refuse the body.
        return json.dumps(payload, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise errors.InvalidInput(
            f"The request cannot be encoded as JSON ({exc}); nothing was sent. Use plain numbers, strings, "
            "booleans, lists and objects in config."
        ) from None


def _route(path: str) -> str:
    """The route a path is on, without the id at its end: what a retired or missing route is named by."""
    for route in (routes.EXECUTIONS, routes.VIDEO_AGENTS, routes.VIDEOS):
        if path.startswith(route + "/"):
            return route + "/{id}"
    return path


def _says_retired(body: Any, response: httpx2.Response) -> bool:
    """Whether an error answer says its API is retired, in its JSON message or code, or its plain text."""
    if isinstance(body, dict):
        error = body.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        words = " ".join(str(x) for x in (_message_from(body), code) if x)
    else:
        words = response.text[:2000] if body is None else ""
    return bool(_RETIRED_RE.search(words.replace("_", " ")))
