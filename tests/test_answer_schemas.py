"""Every answer of every tool conforms to that tool's published `outputSchema`, errors included.

The TypeScript SDK, which most MCP hosts run, checks every result that carries structured content against the
tool's output schema, error results too, and throws (-32602) on a mismatch, so the model never sees our words.
This walks every kind of failure the server can report, each produced for real (through mcp.Client, against
the sandbox over HTTP, in both protocol eras), and validates each result with a JSON-schema validator against
its own tool's schema and every other tool's. A new kind of failure that no case produces fails the test."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from mcp.types import CallToolResult

from heygen_video_mcp.server.app import create_server
from heygen_video_mcp.server.config import Settings
from heygen_video_mcp.server.sandbox import Fault, Sandbox
from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.answer import answer, error_kind
from heygen_video_mcp.tools.library import MIGRATIONS
from heygen_video_mcp.tools.tenancy import Tenancy

from .conftest import MakeSettings, text_of

pytestmark = pytest.mark.anyio

PROMPT = "A lighthouse on a cliff at dusk, waves crashing below, slow dolly in, moody blue light, cinematic"
JOB = "{job}"  # in a case's arguments: the execution id of a finished video made first


@dataclass(frozen=True)
class Case:
    tool: str
    arguments: dict[str, Any]
    kind: str  # the `error` an ErrorResult carries, or the status of a job that went wrong
    settings: dict[str, Any] = field(default_factory=dict)
    arrange: Callable[[Sandbox], None] | None = None  # after the finished video is made, before the call
    before: tuple[str, dict[str, Any]] | None = None  # a call made first (after arrange)
    tenancy: Tenancy | None = None
    newer_library: bool = False
    lock: bool = False  # another program holds the library file's write lock during the call


def _inject(route: Any, fault: Fault, times: int = 20) -> Callable[[Sandbox], None]:
    return lambda sandbox: sandbox.inject(route, fault, times)


def _credits(sandbox: Sandbox) -> None:
    sandbox.set_credits(0)


def _retire(sandbox: Sandbox) -> None:
    sandbox.retire_v1(410)


def _fail_next(sandbox: Sandbox) -> None:
    sandbox.next_outcome("failed", message="The prompt was flagged by the provider's content filter")


GEN = {"prompt": PROMPT, "provider": "ltx_distilled"}
AGENT = {"prompt": PROMPT, "provider": "video_agent"}
WRONG_KEY = {"api_key": "sk-not-the-sandbox-key-0000"}
NO_RETRY = {"max_retries": 0}

CASES: dict[str, Case] = {
    # Bad input, per argument: nothing is sent.
    "blank prompt": Case("generate_video", {"prompt": "   "}, "invalid_input"),
    "unknown provider": Case("generate_video", {"prompt": PROMPT, "provider": "veo9"}, "invalid_input"),
    "bad aspect ratio": Case("generate_video", {**GEN, "aspect_ratio": "wide"}, "invalid_input"),
    "non-http image": Case("generate_video", {**GEN, "reference_image_url": "ftp://x/a.png"}, "invalid_input"),
    "file tail image": Case("generate_video", {**GEN, "tail_image_url": "file:///etc/passwd"}, "invalid_input"),
    "agent tail image": Case("generate_video", {**AGENT, "tail_image_url": "https://x.test/a.png"}, "invalid_input"),
    "path in id": Case("check_status", {"execution_id": "../etc/passwd"}, "invalid_input"),
    "query in id": Case("wait_for_video", {"execution_id": "node-gw-1?x=1"}, "invalid_input"),
    "wait too long": Case("wait_for_video", {"execution_id": JOB, "max_wait_seconds": 600}, "invalid_input"),
    "escaping filename": Case("download_video", {"execution_id": JOB, "filename": "../../x.mp4"}, "invalid_input"),
    "escaping folder": Case("download_video", {"execution_id": JOB, "directory": "../../elsewhere"}, "invalid_input"),
    "unknown status": Case("list_videos", {"status": "rendering"}, "invalid_input"),
    "limit zero": Case("list_videos", {"limit": 0}, "invalid_input"),
    "batch all bad": Case("generate_videos", {"requests": [{"prompt": ""}, {"prompt": PROMPT, "provider": "x"}]}, "ok"),
    "batch too long wait": Case("wait_for_videos", {"execution_ids": [JOB], "max_wait_seconds": 600}, "invalid_input"),
    "batch bad ids": Case("wait_for_videos", {"execution_ids": ["a/b", "../c"]}, "ok"),
    "batch partly bad": Case(
        "generate_videos", {"requests": [GEN, {"prompt": PROMPT, "aspect_ratio": "x"}]}, "partial"
    ),
    "waits partly bad": Case("wait_for_videos", {"execution_ids": [JOB, "node-gw-neverseen2"]}, "partial"),
    # Configuration and the account.
    "no key": Case("generate_video", GEN, "missing_api_key", settings={"api_key": None}),
    "no key status": Case("check_status", {"execution_id": "node-gw-abc123"}, "missing_api_key", {"api_key": None}),
    "no key batch": Case("generate_videos", {"requests": [GEN]}, "ok", settings={"api_key": None}),
    "no key credits": Case("check_credits", {}, "missing_api_key", settings={"api_key": None}),
    "no key options": Case("list_video_agent_options", {}, "missing_api_key", settings={"api_key": None}),
    "options rejected key": Case("list_video_agent_options", {}, "authentication_failed", settings=WRONG_KEY),
    "missing image": Case("generate_video", {**AGENT, "reference_image_path": "/no/such/a.png"}, "invalid_input"),
    "stop a model render": Case("cancel_video", {"execution_id": JOB}, "invalid_input"),
    "rejected key": Case("generate_video", GEN, "authentication_failed", settings=WRONG_KEY),
    "rejected key wait": Case("wait_for_video", {"execution_id": "node-gw-abc123"}, "authentication_failed", WRONG_KEY),
    "retired v1": Case("generate_video", GEN, "endpoint_retired", arrange=_retire),
    "wrong base url": Case("generate_video", AGENT, "endpoint_not_found", settings={"api_base_url": "{base}/nope"}),
    "no credits": Case("generate_video", AGENT, "insufficient_credits", arrange=_credits),
    "budget used": Case("generate_video", GEN, "budget_exhausted", tenancy=Tenancy(default_daily_renders=0)),
    "library newer": Case("list_videos", {}, "library_error", newer_library=True),
    # HeyGen's faults.
    "bad request": Case(
        "generate_video", GEN, "bad_request", arrange=_inject("create", Fault(400, {"error": {"message": "No."}}), 1)
    ),
    "rate limited": Case("generate_video", GEN, "rate_limited", arrange=_inject("create", Fault.rate_limited(600))),
    "rate limited read": Case(
        "check_status", {"execution_id": JOB}, "rate_limited", arrange=_inject("status", Fault.rate_limited(600))
    ),
    "server fault": Case("check_status", {"execution_id": JOB}, "server_fault", NO_RETRY, _inject("status", Fault())),
    "hang up": Case(
        "check_status", {"execution_id": JOB}, "api_connection_failed", NO_RETRY, _inject("status", Fault(hang_up=True))
    ),
    "read timeout": Case(
        "check_status",
        {"execution_id": JOB},
        "api_timed_out",
        {"max_retries": 0, "read_timeout": 0.3},
        _inject("status", Fault.hang(3)),
    ),
    "malformed": Case(
        "check_status", {"execution_id": JOB}, "unexpected_response", NO_RETRY, _inject("status", Fault.malformed())
    ),
    # The library is locked longer than the call may last.
    "call deadline": Case(
        "generate_video", GEN, "timed_out", {"call_seconds": 5, "library_lock_seconds": 60}, lock=True
    ),
    "lost answer": Case(
        "generate_video",
        GEN,
        "duplicate_uncertain",
        arrange=_inject("create", Fault.lost_answer(), 1),
        before=(
            "generate_video",
            GEN,
        ),
    ),
    "download fails": Case(
        "download_video",
        {"execution_id": JOB},
        "download_failed",
        {"download": False, "max_retries": 0},
        _inject("video", Fault(500)),
    ),
    "link expired": Case(
        "download_video",
        {"execution_id": JOB},
        "link_expired",
        {"download": False, "max_retries": 0},
        _inject("video", Fault(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")),
    ),
    # Jobs that went wrong are the tool's own shape, marked as errors.
    "unknown job": Case("check_status", {"execution_id": "node-gw-neverseen1"}, "not_found"),
    "failed render": Case("wait_for_video", {"execution_id": JOB}, "failed"),
}

# Which case makes its finished video fail instead of succeed.
_FAILS = {"failed render"}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Draft202012Validator]:
    """Every tool's published output schema, as a client reads it from tools/list."""

    async def read() -> dict[str, Any]:
        settings = Settings.model_validate({"output_dir": tmp_path_factory.mktemp("schemas")})
        async with Client(create_server(settings)) as client:
            return {tool.name: tool.output_schema for tool in (await client.list_tools()).tools}

    published = anyio.run(read)
    for schema in published.values():
        Draft202012Validator.check_schema(schema)
    return {name: Draft202012Validator(schema) for name, schema in published.items()}


def conforms(result: CallToolResult, validator: Draft202012Validator) -> list[str]:
    return [e.message for e in validator.iter_errors(result.structured_content)]


async def finished_video(client: Client, *, fails: bool) -> str:
    made = await client.call_tool("generate_video", GEN)
    execution_id: str = (made.structured_content or {})["execution_id"]
    with anyio.fail_after(30):
        while True:
            waited = await client.call_tool("wait_for_video", {"execution_id": execution_id})
            if (waited.structured_content or {}).get("done"):
                break
    assert (waited.structured_content or {}).get("status") == ("failed" if fails else "completed"), text_of(waited)
    return execution_id


SEEN: set[str] = set()


@pytest.mark.parametrize("name", list(CASES))
async def test_every_failure_conforms_to_every_tools_output_schema(
    name: str, mode: str, make_settings: MakeSettings, sandbox: Sandbox, schemas: dict[str, Draft202012Validator]
) -> None:
    case = CASES[name]
    overrides = {k: (v.format(base=sandbox.base_url) if isinstance(v, str) else v) for k, v in case.settings.items()}
    settings = make_settings(**overrides)
    arguments = dict(case.arguments)
    if JOB in arguments.values() or JOB in arguments.get("execution_ids", ()):
        async with Client(create_server(make_settings(download=False))) as maker:
            if name in _FAILS:
                _fail_next(sandbox)
            job = await finished_video(maker, fails=name in _FAILS)
        arguments = {
            k: (job if v == JOB else [job if x == JOB else x for x in v] if isinstance(v, list) else v)
            for k, v in arguments.items()
        }
    if case.arrange:
        case.arrange(sandbox)
    async with Client(create_server(settings, tenancy=case.tenancy), mode=mode) as client:
        if case.before:
            await client.call_tool(*case.before)
        with closing(sqlite3.connect(settings.library_file, isolation_level=None)) as db:
            if case.newer_library:  # a newer release migrates the file under the running server
                db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
            if case.lock:
                db.execute("BEGIN EXCLUSIVE")
            result = await client.call_tool(case.tool, arguments)

    text = text_of(result)
    data = result.structured_content
    assert data is not None, text
    if case.kind in ("ok", "partial"):  # a batch: its own shape, each failed item saying why
        failed = [item for item in data["results"] if not item["ok"]]
        assert (
            data["failed"] == len(failed) and failed and all(item.get("error") or item.get("video") for item in failed)
        )
        assert result.is_error == (case.kind == "ok") and (data["succeeded"] == 0) == (case.kind == "ok"), text
        kinds = [item["error"]["error"] for item in failed if "error" in item]
    elif "status" in data:
        assert result.is_error and data["status"] == case.kind, text
        kinds = []
    else:
        assert result.is_error and data["error"] == case.kind, text
        assert data["message"] in text and f"Next: {data['next_step']}" in text
        assert isinstance(data["retryable"], bool)
        kinds = [case.kind]
    SEEN.update(kinds)
    assert conforms(result, schemas[case.tool]) == [], (case.tool, data)
    if "error" in data and "message" in data:  # an ErrorResult: every tool may answer with one
        for tool, validator in schemas.items():
            assert conforms(result, validator) == [], (tool, data)


# Failures no client can cause on purpose, raised where they arise. A database outage is made for real in
# tests/test_postgres_restart.py (it restarts a PostgreSQL of its own); here its answer's shape is checked.
RAISED: dict[str, Exception] = {
    "internal_error": RuntimeError("a bug"),
    "library_unavailable": errors.LibraryUnavailable("The video library's database cannot be reached."),
}


@pytest.mark.parametrize("kind", list(RAISED))
async def test_failures_raised_inside_conform_too(kind: str, schemas: dict[str, Draft202012Validator]) -> None:
    async def broken() -> CallToolResult:
        raise RAISED[kind]

    result = await answer(broken, action="check_status", seconds=5, execution_id="node-gw-abc123")
    assert result.is_error and (result.structured_content or {})["error"] == kind
    SEEN.add(kind)
    for tool, validator in schemas.items():
        assert conforms(result, validator) == [], tool


def _kinds(cls: type[errors.HeyGenError]) -> set[str]:
    return {error_kind(cls), *(kind for sub in cls.__subclasses__() for kind in _kinds(sub))}


def test_every_kind_of_failure_is_walked() -> None:
    """Runs last in this module: every error kind the server can report was produced above (abstract bases
    aside), so a new kind of failure cannot slip past the walk."""
    if len(SEEN) < 5:
        pytest.skip("the walk above did not run in this session (run the whole module)")
    never_answered = {
        "hey_gen_error",  # the base of the tree
        "api_status_error",  # the base of HeyGen's HTTP errors
        "budget_used",  # the library's signal to the job layer, which answers budget_exhausted
        "vanished",  # the store's signal that a job was deleted under it; the library answers library_error
    }
    expected = _kinds(errors.HeyGenError) - never_answered | {"timed_out", "internal_error"}
    assert expected - SEEN == set()
