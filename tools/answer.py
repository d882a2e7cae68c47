"""Every tool call ends in time and in words: `answer` runs a call within its deadline and turns each
failure into an error result that leads with our own message and says what to do next."""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, Final

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.errors import HeyGenError
from heygen_video_mcp.tools.request import is_execution_id

logger = logging.getLogger(__name__)


class ErrorResult(BaseModel):
    """What a failed call returns as structured content. Every tool's output schema admits it (see
    admit_errors): TypeScript-SDK clients check error results against that schema too."""

    error: str = Field(description="The kind of failure, e.g. invalid_input, rate_limited, timed_out.")
    message: str = Field(description="What happened and what it means, for the user.")
    execution_id: str | None = Field(None, description="The job concerned, if any: it is never lost.")
    retryable: bool = Field(description="Whether the same call may succeed if made again later.")
    next_step: str = Field(description="What to do next.")


def admit_errors(schema: dict[str, Any]) -> None:
    """Make a tool's result schema admit an ErrorResult beside the tool's own shape: `json_schema_extra` of
    every model a tool declares as its result (never of a nested one).

    Error results keep their structured content, so every client (and a host that shows the model only the
    structured content) sees `retryable` and `next_step`. The TypeScript SDK, which most hosts run, checks
    every result that has structured content against the tool's output schema, errors included, and rejects
    a mismatch before the model sees a word. The root stays `"type": "object"` with the tool's own
    `properties` (which clients read for the success shape); only what is required moves into the `anyOf`.
    No property of a tool's own shape contradicts ErrorResult's (a test checks every tool's schema)."""
    required = schema.pop("required", [])
    schema["anyOf"] = [{"required": required}, copy.deepcopy(_error_schema())]


@functools.cache
def _error_schema() -> dict[str, Any]:
    schema = ErrorResult.model_json_schema()
    schema.pop("title", None)
    schema["description"] = "A failed call: what happened, whether to retry, and what to do next."
    return schema


# Per failure: may the same call succeed later, and what the model should do (the message says the rest).
# The first class the failure is an instance of answers, so a subclass stands before its base.
_ADVICE: Final[dict[type[HeyGenError], tuple[bool, str]]] = {
    errors.InvalidInput: (False, "Fix the argument as the message says and call again; nothing was sent to HeyGen."),
    errors.MissingApiKey: (False, "Tell the user how to add HEYGEN_API_KEY, as the message says."),
    errors.AuthenticationFailed: (False, "Tell the user HeyGen rejected the API key and how to replace it."),
    errors.EndpointRetired: (
        False,
        "Tell the user HeyGen has retired this API, and ask whether to make the video with "
        'provider="video_agent" instead (a different kind of video, with its own cost); do not switch without '
        "asking. Calling again will not help.",
    ),
    errors.EndpointNotFound: (False, "Tell the user to check HEYGEN_API_BASE_URL; calling again will not help."),
    errors.InsufficientCredits: (
        False,
        "Tell the user their HeyGen account needs more credits; nothing was charged. Try again once they have "
        "added some.",
    ),
    errors.BadRequest: (False, "Change the request as HeyGen's message says, then call again."),
    errors.DuplicateUncertain: (
        False,
        "Ask the user to look in their HeyGen dashboard first; only if they want a new video, call "
        "generate_video again with allow_duplicate=true.",
    ),
    errors.LibraryUnavailable: (
        True,
        "Make the same call again in a minute; if the database is still unreachable, tell the user, as the "
        "message says. Execution ids already given are not lost.",
    ),
    errors.LibraryError: (False, "Tell the user about the library file, as the message says."),
    errors.BudgetExhausted: (False, "Tell the user when the budget renews, as the message says; do not retry."),
    errors.LinkExpired: (
        False,
        "Tell the user the temporary link has expired and HeyGen gave no fresh one; the video stays in their "
        "HeyGen account (the asset_id in the message). Calling again will not help.",
    ),
    errors.DownloadFailed: (True, "Tell the user; call download_video again later (a retry resumes)."),
    errors.RateLimited: (True, "Wait as long as the message says, then make the same call again."),
}


def error_result(
    kind: str, message: str, *, execution_id: str | None, retryable: bool, next_step: str
) -> CallToolResult:
    return as_result(_error(kind, message, execution_id=execution_id, retryable=retryable, next_step=next_step))


def _error(kind: str, message: str, *, execution_id: str | None, retryable: bool, next_step: str) -> ErrorResult:
    if execution_id and execution_id not in message:
        message = f"{message} (execution_id {execution_id!r})"
    return ErrorResult(error=kind, message=message, execution_id=execution_id, retryable=retryable, next_step=next_step)


def as_result(error: ErrorResult) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=f"{error.message}\nNext: {error.next_step}")],
        structured_content=error.model_dump(mode="json"),
        is_error=True,
    )


def error_kind(error: BaseException | type[BaseException]) -> str:
    """invalid_input for InvalidInput, rate_limited for RateLimited, api_timed_out for APITimedOut, ..."""
    name = (error if isinstance(error, type) else type(error)).__name__
    # A capital starts a word after a lower-case letter, or before one after a run of capitals (API...).
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


# Whether this call's caller is remote (set by `answer`): then a failure's message names no path, database or
# host of the server, which are the operator's business (the log keeps them); on stdio the user is the operator.
_REMOTE: ContextVar[bool] = ContextVar("remote_caller", default=False)
_SERVER_DETAILS: Final = (
    (re.compile(r"\b(?:postgres(?:ql)?|sqlite)(?:\+\w+)?://\S+?(?=[\s,;)]|\.?$|\.\s)"), "the server's video library"),
    (re.compile(r"(?<![\w:/.~-])(?:~|[A-Za-z]:)?[/\\][^\s'\",;:()]*[^\s'\",;:().]"), "<a folder on the server>"),
)
_REMOTE_LIBRARY: Final = (
    "The server's video library cannot be used right now; the details are in the server's log.",
    "Tell the user the server has a problem with its video library that its operator must fix; try again later.",
)


def without_server_details(text: str) -> str:
    """`text` as a remote caller may read it: no path or database of the server (the log keeps them)."""
    told = text
    for pattern, replacement in _SERVER_DETAILS:
        told = pattern.sub(replacement, told)
    if told != text:
        logger.warning("A remote caller was told, without the server's details: %s", text)
    return told


def _for_remote(error: ErrorResult) -> ErrorResult:
    message = without_server_details(error.message)
    return error if message == error.message else error.model_copy(update={"message": message})


def failure(exc: Exception, action: str, execution_id: str | None = None) -> ErrorResult:
    """What one failed piece of work tells the caller: ours (HeyGenError) in our words with advice; anything
    else named by its action and logged with its traceback."""
    error = _failure(exc, action, execution_id)
    if not _REMOTE.get():
        return error
    if isinstance(exc, errors.LibraryError):
        logger.warning("A remote caller's %s failed: %s", action, exc)
        message, next_step = _REMOTE_LIBRARY
        return error.model_copy(update={"message": message, "next_step": next_step, "retryable": True})
    return _for_remote(error)


def _failure(exc: Exception, action: str, execution_id: str | None) -> ErrorResult:
    if not isinstance(exc, HeyGenError):
        logger.error("%s failed unexpectedly", action, exc_info=exc)
        return _error(
            "internal_error",
            f"{action} failed inside heygen-video-mcp ({type(exc).__name__}); the details are in the server's "
            "log (stderr).",
            execution_id=execution_id,
            retryable=True,
            next_step=f"Try the call once more; if it fails again, tell the user to check the server log"
            f"{_id_hint(execution_id)}.",
        )
    retryable, next_step = next(
        (advice for cls, advice in _ADVICE.items() if isinstance(exc, cls)),
        (True, f"Make the same call again in a minute; the job is not affected{_id_hint(execution_id)}."),
    )
    if exc.maybe_accepted:
        retryable, next_step = (
            False,
            (
                "HeyGen may have created the job: call list_videos in a minute to see whether it appears, and ask "
                "the user before submitting the same request again."
            ),
        )
    return _error(error_kind(exc), str(exc), execution_id=execution_id, retryable=retryable, next_step=next_step)


def _id_hint(execution_id: str | None) -> str:
    return f" (execution_id {execution_id!r})" if execution_id else ""


async def answer(
    work: Callable[[], Awaitable[CallToolResult]],
    *,
    action: str,
    seconds: float,
    execution_id: str | None = None,
    remote: bool = False,
) -> CallToolResult:
    """Run one tool call within its deadline. Every failure becomes an error result that leads with our own
    message (an exception would reach the model behind the SDK's "Error executing tool" prefix, or as
    nothing at all), keeping the execution id in view so the job is never lost. `remote`: the caller is
    remote (see tools/results.py `links`), and is told no path or database of the server."""
    execution_id = execution_id.strip() if execution_id and is_execution_id(execution_id.strip()) else None
    remote_token = _REMOTE.set(remote)
    try:
        # A scope with a deadline: anyio.fail_after is a generator around the same, a few microseconds more.
        with anyio.CancelScope(deadline=anyio.current_time() + seconds):
            return await work()
        raise TimeoutError  # reached only when the deadline cancelled the work
    except TimeoutError:
        return error_result(
            "timed_out",
            f"{action} ran out of its {seconds:g} s; the call was stopped before your client would cut it off.",
            execution_id=execution_id,
            retryable=True,
            next_step=f"Make the same call again; nothing was lost{_id_hint(execution_id)}.",
        )
    except Exception as exc:
        return as_result(failure(exc, action, execution_id))
    finally:
        _REMOTE.reset(remote_token)
