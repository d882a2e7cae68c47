"""The HeyGen executions API over HTTP: endpoints, retries and error mapping live here and nowhere else."""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import anyio
import httpx2

from heygen_video_mcp.tools import deadline, errors

logger = logging.getLogger(__name__)

# HeyGen calls v1/v2 legacy; the contract's executions API is v1. Paths stay here, in one place.
EXECUTIONS_PATH: Final = "/v1/workflows/executions"
WORKFLOW_TYPE: Final = "GenerateVideoNode"

Status = Literal["submitted", "processing", "completed", "failed", "not_found"]
TERMINAL: Final[frozenset[str]] = frozenset({"completed", "failed", "not_found"})
# The contract names submitted/completed/failed/not_found and says anything else means "poll again".
# HeyGen's older status API says pending/processing; queue-like words stay "submitted", the rest "processing".
_QUEUED: Final = frozenset({"submitted", "pending", "queued", "waiting"})

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


@dataclass(frozen=True)
class Execution:
    """One execution as HeyGen reports it, normalised."""

    execution_id: str
    status: Status
    heygen_status: str
    video_url: str | None = None
    video_id: str | None = None
    asset_id: str | None = None
    error: str | None = None


def normalise_status(raw: str) -> Status:
    value = raw.strip().lower()
    if value in ("completed", "failed", "not_found"):
        return value  # type: ignore[return-value]
    return "submitted" if value in _QUEUED else "processing"


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
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), RETRY_AFTER_CAP)
    except (KeyError, ValueError):
        return None


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
    ) -> None:
        self._api_key = api_key
        self.missing_key = missing_key  # what to tell a caller when there is no key (None: the stdio advice)
        self._base_url = base_url.rstrip("/")
        self._max_retries = max_retries
        self._backoff = backoff
        self._sleep = sleep
        self._timeout_config = timeout
        self._transport = transport
        self._http: httpx2.AsyncClient | None = None

    @property
    def http(self) -> httpx2.AsyncClient:
        """The HTTP client, built on first use: building it (its TLS context) is the costliest step of a
        start, and a server that only lists providers never needs it."""
        if self._http is None:
            # The key goes on each API request, never as a default header: video URLs are pre-signed links on
            # other hosts, fetched through this same client, and must not receive it.
            self._http = httpx2.AsyncClient(
                timeout=self._timeout_config, transport=self._transport, follow_redirects=False
            )
        return self._http

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"HeyGenClient(base_url={self._base_url!r}, api_key=<{key}>)"

    @property
    def has_api_key(self) -> bool:
        return bool(self._api_key)

    async def aclose(self) -> None:
        if self._http is not None:  # never built: nothing to close
            await self._http.aclose()

    async def create_execution(self, video_input: Mapping[str, Any], wire: Wire | None = None) -> Execution:
        """Submit one job. `wire` tells the caller, at any moment, whether HeyGen may have it."""
        try:
            # allow_nan=False: NaN and Infinity are not JSON, and HeyGen would refuse the body.
            content = json.dumps({"workflow_type": WORKFLOW_TYPE, "input": dict(video_input)}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise errors.InvalidInput(
                f"The request cannot be encoded as JSON ({exc}); nothing was sent. Use plain numbers, strings, "
                "booleans, lists and objects in config."
            ) from None
        body = await self._request("POST", EXECUTIONS_PATH, content=content.encode(), wire=wire or Wire())
        # A 2xx means HeyGen took the job; if we cannot read its id the job may still exist.
        return self._execution(body, maybe_accepted=True)

    async def get_execution(self, execution_id: str) -> Execution:
        body = await self._request("GET", f"{EXECUTIONS_PATH}/{execution_id}", execution_id=execution_id)
        execution = self._execution(body, maybe_accepted=False, fallback_id=execution_id)
        if execution.execution_id != execution_id:
            raise errors.UnexpectedResponse(
                f"HeyGen answered about execution {execution.execution_id!r} when asked for {execution_id!r}."
            )
        return execution

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
                    headers=headers,
                    timeout=self._timeout(),
                    extensions={"trace": wire.trace},
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
            pause = self._delay(attempt) if wait is None else wait
            if not retryable or attempt == self._max_retries or not deadline.fits(pause, until=wire.deadline):
                if failure is None:
                    return self._parse(response, method, execution_id, retry_after=wait)
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
                f"HeyGen {what} after the video request was sent, so it may or may not have created the job. "
                "Do not resubmit blindly: check your HeyGen dashboard (or list_videos) first; the same request "
                "is blocked as a possible duplicate unless allow_duplicate=true.",
                maybe_accepted=True,
            )
        return kind(f"HeyGen {what}. The job is not affected; check its status again shortly.")

    def _parse(
        self, response: httpx2.Response, method: str, execution_id: str | None, *, retry_after: float | None = None
    ) -> Any:
        request_id = response.headers.get("x-request-id")
        try:
            body: Any = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        status = response.status_code
        if 200 <= status < 300:
            if body is None:
                raise self._odd("not JSON", maybe_accepted=method == "POST")
            return body
        said = _message_from(body) or response.reason_phrase or "no message"
        cls: type[errors.APIStatusError]
        maybe_accepted = False
        if status == 404 and self._about_execution(body, execution_id):
            return {"data": {"execution_id": execution_id, "status": "not_found"}}
        if status in (401, 403):
            cls = errors.AuthenticationFailed
            text = (
                f"HeyGen rejected the API key (HTTP {status}: {said}). Check HEYGEN_API_KEY in this server's "
                "environment in your client config: it must be a current key from HeyGen's API settings."
            )
        elif status in (404, 405, 410):
            cls = errors.EndpointNotFound
            text = (
                f"HeyGen has no {method} {EXECUTIONS_PATH} route at {self._base_url} (HTTP {status}). "
                "HEYGEN_API_BASE_URL is probably wrong (it should be https://api.heygen.com), or HeyGen has "
                "retired this legacy v1 endpoint."
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
                text += (
                    " It may or may not have created the job: check list_videos or your HeyGen dashboard in a "
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
        raise cls(text, status_code=status, request_id=request_id, maybe_accepted=maybe_accepted)

    @staticmethod
    def _about_execution(body: Any, execution_id: str | None) -> bool:
        """A 404 about an unknown execution comes as HeyGen JSON; a missing route gives a generic page.
        The contract does not say which 404 body HeyGen sends, so any JSON object with a data or error
        member on the status route counts as being about the execution."""
        return execution_id is not None and isinstance(body, dict) and ("data" in body or "error" in body)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
