"""Every failure the server reports, as one small tree.

    HeyGenError                      str(err) is a complete message for the model: what happened (.what), then
                                     what to do (.advice, which a command line says in its own words)
    ├── InvalidInput                 our own check failed; nothing was sent to HeyGen
    ├── MissingApiKey                HEYGEN_API_KEY is not set
    ├── APIStatusError               HeyGen answered with an HTTP error status (.status_code, .request_id)
    │   ├── BadRequest               400 / 422
    │   ├── AuthenticationFailed     401 / 403
    │   ├── InsufficientCredits      402: the HeyGen account lacks credits; nothing was made
    │   ├── EndpointNotFound         404 / 405 / 410 on the route itself: HEYGEN_API_BASE_URL is wrong
    │   │   └── EndpointRetired      the v1 executions route answers as gone or retired: offer video_agent
    │   ├── RateLimited              429, after our bounded retries
    │   └── ServerFault              5xx, after our bounded retries
    ├── APIConnectionFailed          no usable answer (refused, reset, cut off)
    │   └── APITimedOut              no answer in time
    ├── UnexpectedResponse           an answer that is not the JSON the contract describes
    ├── DuplicateUncertain           an identical earlier submission may or may not have created a job
    ├── BudgetExhausted              the tenant's daily render budget is used up; nothing was sent
    ├── DownloadFailed               the finished video could not be saved
    │   └── LinkExpired              the temporary video URL no longer works
    └── LibraryError                 the local library file cannot be used (newer, corrupt, locked, unwritable)
        └── LibraryUnavailable       the library's database cannot be reached for now; the same call may work later

A job that HeyGen ran and failed, or does not know, is not an exception: it is a status (see tools.client).

`maybe_accepted` is True when a submission reached HeyGen but its answer was lost: the job may exist and
must not be blindly re-sent, because every job costs the user credits.
"""

from __future__ import annotations


class HeyGenError(Exception):
    def __init__(
        self, message: str, *, advice: str = "", request_id: str | None = None, maybe_accepted: bool = False
    ) -> None:
        rid = f" (HeyGen request id: {request_id})" if request_id else ""
        self.what = message + rid
        self.advice = advice
        super().__init__(f"{message} {advice}{rid}" if advice else self.what)
        self.request_id = request_id
        self.maybe_accepted = maybe_accepted


class InvalidInput(HeyGenError):
    pass


class MissingApiKey(HeyGenError):
    def __init__(self, message: str | None = None) -> None:
        if message:
            super().__init__(message)
            return
        super().__init__(
            "HEYGEN_API_KEY is not set, so this server cannot reach HeyGen.",
            advice="Create a key at https://app.heygen.com/settings (API tab) and add it to this MCP server's "
            'environment in your client config, e.g. "env": {"HEYGEN_API_KEY": "<your key>"} in '
            "claude_desktop_config.json, then restart the client. list_providers works without a key.",
        )


class APIStatusError(HeyGenError):
    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        advice: str = "",
        request_id: str | None = None,
        maybe_accepted: bool = False,
    ) -> None:
        super().__init__(message, advice=advice, request_id=request_id, maybe_accepted=maybe_accepted)
        self.status_code = status_code


class BadRequest(APIStatusError):
    pass


class AuthenticationFailed(APIStatusError):
    pass


class InsufficientCredits(APIStatusError):
    pass


class EndpointNotFound(APIStatusError):
    pass


class EndpointRetired(EndpointNotFound):
    # True when HeyGen said so (a notice, or 410 Gone): then the library remembers it for the base URL. A plain
    # 404 or 405 may be a wrong HEYGEN_API_BASE_URL or a passing fault, and is asked again each time.
    certain: bool = False
    api: str | None = None  # the API that answered (a routes.Backend)
    said: str = ""  # HeyGen's own words


class RateLimited(APIStatusError):
    pass


class ServerFault(APIStatusError):
    pass


class APIConnectionFailed(HeyGenError):
    pass


class APITimedOut(APIConnectionFailed):
    pass


class UnexpectedResponse(HeyGenError):
    pass


class DuplicateUncertain(HeyGenError):
    pass


class BudgetExhausted(HeyGenError):
    pass


class DownloadFailed(HeyGenError):
    pass


class LinkExpired(DownloadFailed):
    pass


class LibraryError(HeyGenError):
    pass


class LibraryUnavailable(LibraryError):
    pass
