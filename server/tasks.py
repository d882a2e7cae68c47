"""Renders as MCP Tasks: the 2026-07-28 Tasks extension (`io.modelcontextprotocol/tasks`, ext-tasks
specification/draft/tasks.md), so a client follows a render by polling `tasks/get`, with no tool call long
enough for a client to cut it off.

When a `tools/call` of generate_video or generate_videos declares the extension in its per-request
capabilities, the submission runs as always, and its answer becomes a task (resultType "task") recorded in
the library first. Without the declaration nothing changes. `tasks/get` says what is happening and what is
left, and once every video has ended and been saved, inlines the result wait_for_video (wait_for_videos)
would end with. The logic is in tools/tasks.py; this is its MCP side.

With HEYGEN_CONFIRM_ABOVE_USD set, a call estimated above it (tools/price.py) is not run: its task is
`input_required`, tasks/get embeds an elicitation asking the user, and the call is sent to HeyGen only when
tasks/update accepts it (as the same tool call, so as generate_video(s) would send it); declined, the task is
cancelled with nothing sent."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.server import require_client_extension
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    CancelTaskRequestParams,
    GetTaskRequestParams,
    TextContent,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, Field

from heygen_video_mcp.tools import errors, price
from heygen_video_mcp.tools.calls import AppState, Links, caller_state
from heygen_video_mcp.tools.results import BatchItem, batch_answer, iso_time, job_answer, video_result
from heygen_video_mcp.tools.tasks import TTL_SECONDS, Tasks, TaskState

if TYPE_CHECKING:
    from heygen_video_mcp.tools.jobs.front import VideoJobs

TASKS_EXTENSION: Final = "io.modelcontextprotocol/tasks"
# The tools whose calls may become tasks: the ones that start renders.
TASK_TOOLS: Final = frozenset({"generate_video", "generate_videos"})
_MODERN: Final = frozenset(MODERN_PROTOCOL_VERSIONS)
_BATCH_NEXT: Final = "Give the user the saved files of the completed ones; for the ones not ok, do what each says."
# The key of a held task's one input request (a task asks only once, so the key is never reused).
CONFIRM_KEY: Final = "confirm_cost"

logger = logging.getLogger(__name__)

# Runs a tool call for a request's caller, as the server would (set by server/app.py: see tool_runner).
RunTool = Callable[[ServerRequestContext[Any, Any], str, dict[str, Any]], Awaitable[HandlerResult]]


class UpdateTaskParams(GetTaskRequestParams):
    input_responses: dict[str, Any] = Field(default_factory=dict, alias="inputResponses")


class TasksExtension(Extension):
    identifier = TASKS_EXTENSION
    # The protocol versions tasks/get and tasks/cancel are served at (server/legacytasks.py adds 2025-11-25).
    versions: frozenset[str] = _MODERN

    def __init__(self, tasks: Tasks, confirm_above_usd: float | None = None) -> None:
        self.tasks = tasks
        self.confirm_above_usd = confirm_above_usd
        self.run_tool: RunTool | None = None

    def methods(self) -> Sequence[MethodBinding]:
        return (
            MethodBinding("tasks/get", GetTaskRequestParams, self._get, protocol_versions=self.versions),
            MethodBinding("tasks/cancel", CancelTaskRequestParams, self._cancel, protocol_versions=self.versions),
            MethodBinding("tasks/update", UpdateTaskParams, self._update, protocol_versions=_MODERN),
        )

    async def intercept_tool_call(
        self, params: CallToolRequestParams, ctx: ServerRequestContext[Any, Any], call_next: CallNext
    ) -> HandlerResult:
        if params.name in TASK_TOOLS and _declared(ctx) and self._costly(params):
            try:
                state = await self.tasks.hold(jobs_of(ctx), params.name, dict(params.arguments or {}))
            except errors.HeyGenError as exc:  # not held, so not sent either
                raise MCPError(code=INTERNAL_ERROR, message=f"Nothing was sent to HeyGen: {exc}") from None
            return _task(state, ctx, result_type="task")
        result = await call_next(ctx)
        if params.name not in TASK_TOOLS or not _declared(ctx):
            return result
        execution_ids = started(wire(result))
        if not execution_ids:  # an error, a submission still without its id, or a batch with a failed item
            return result
        try:
            state = await self.tasks.create(jobs_of(ctx), params.name, execution_ids)
        except errors.HeyGenError:  # the library failed: the plain answer still has every execution id
            return result
        return _task(state, ctx, result_type="task")

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: GetTaskRequestParams) -> HandlerResult:
        require_client_extension(ctx, TASKS_EXTENSION)
        state = await self.tasks.get(jobs_of(ctx), params.task_id)
        return _task(known(state), ctx, result_type="complete")

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: CancelTaskRequestParams) -> HandlerResult:
        """The spec's acknowledgement, carrying the task as it now is: its statusMessage says what happened
        (cancelled, and that HeyGen may still finish the render; or that it had already ended)."""
        require_client_extension(ctx, TASKS_EXTENSION)
        state = await self.tasks.cancel(jobs_of(ctx), params.task_id)
        return _task(known(state), ctx, result_type="complete")

    async def _update(self, ctx: ServerRequestContext[Any, Any], params: UpdateTaskParams) -> HandlerResult:
        """The user's answer to a held task: accepted, the call is sent (once, whichever replica or answer
        comes first) and the task follows what it started; declined or dismissed, the task is cancelled with
        nothing sent. A response to no outstanding request is ignored, as the spec asks."""
        require_client_extension(ctx, TASKS_EXTENSION)
        jobs = jobs_of(ctx)
        state = known(await self.tasks.get(jobs, params.task_id))
        answer = params.input_responses.get(CONFIRM_KEY)
        if state.status != "input_required" or not isinstance(answer, Mapping):
            return {"resultType": "complete"}
        if answer.get("action") != "accept":
            await self.tasks.cancel(jobs, params.task_id)
            return {"resultType": "complete"}
        assert self.run_tool is not None, "server/app.py sets run_tool"
        arguments = await self.tasks.claim(jobs, params.task_id)
        if arguments is None:  # another answer took it, or it was cancelled meanwhile
            return {"resultType": "complete"}
        result = wire(await self.run_tool(ctx, state.record.tool, arguments))
        execution_ids = started(result)
        await self.tasks.submitted(jobs, params.task_id, execution_ids, None if execution_ids else result)
        return {"resultType": "complete"}

    def _costly(self, params: CallToolRequestParams) -> bool:
        """Whether this call's estimated cost passes HEYGEN_CONFIRM_ABOVE_USD (unset: never)."""
        if self.confirm_above_usd is None:
            return False
        estimate = price.estimate(params.name, dict(params.arguments or {}))
        return estimate is not None and estimate.usd > self.confirm_above_usd


def tool_runner(server: MCPServer[Any]) -> RunTool:
    """Runs a tool as the server answers a tools/call, for a request of the same caller (its tenant, its
    headers): a tool's error is an error result, as the SDK makes it."""

    async def run(ctx: ServerRequestContext[Any, Any], name: str, arguments: dict[str, Any]) -> HandlerResult:
        try:
            return await server.call_tool(name, arguments, Context(request_context=ctx, mcp_server=server))
        except ToolError as exc:
            logger.info("Tool %r failed after its cost was accepted: %r", name, str(exc))
            return CallToolResult(content=[TextContent(type="text", text=str(exc))], is_error=True)

    return run


def _declared(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether this request (2026-07-28: its own capabilities, in its `_meta`) declares the extension."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities else None
    return ctx.protocol_version in _MODERN and bool(extensions) and TASKS_EXTENSION in (extensions or {})


def known(state: TaskState | None) -> TaskState:
    if state is None:
        raise MCPError(
            code=INVALID_PARAMS,
            message="Failed to retrieve task: Task not found (unknown, another caller's, or expired after "
            f"{TTL_SECONDS / 3600:.0f} h). The videos it followed are still in list_videos.",
        )
    return state


def wire(result: HandlerResult) -> dict[str, Any]:
    """A tool's result as it goes on the wire."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dict(result) if isinstance(result, Mapping) else {}


def started(result: dict[str, Any]) -> list[str]:
    """The execution ids a successful generate_video / generate_videos answer (on the wire) started, all or
    nothing."""
    if result.get("isError") is not False:
        return []
    data: dict[str, Any] = result.get("structuredContent") or {}
    if "results" not in data:
        return [data["execution_id"]] if data.get("execution_id") else []
    items = data["results"]
    ids = [str((item.get("video") or {}).get("execution_id") or "") for item in items if item.get("ok")]
    return ids if len(ids) == len(items) and all(ids) else []


def jobs_of(ctx: ServerRequestContext[Any, Any]) -> VideoJobs:
    """The caller's job logic, as a tool's is found (tools/calls.py)."""
    return caller_state(ctx).jobs


def links_of(ctx: ServerRequestContext[Any, Any]) -> Links | None:
    """As tools/results.py `links`: a remote caller gets saved videos as signed links."""
    app: AppState = ctx.lifespan_context
    if app.sign_link is None:
        return None
    return Links(app.sign_link, app.public_url or str(getattr(ctx.request, "base_url", "")))


def _task(state: TaskState, ctx: ServerRequestContext[Any, Any], *, result_type: str) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resultType": result_type,
        "taskId": state.record.task_id,
        "status": state.status,
        "statusMessage": state.message,
        "createdAt": iso_time(state.record.created_at),
        "lastUpdatedAt": last_updated(state),
        "ttlMs": int(TTL_SECONDS * 1000),
    }
    if state.status in ("working", "input_required"):
        task["pollIntervalMs"] = max(int(state.poll_seconds * 1000), 100)
    if state.status == "input_required":
        task["inputRequests"] = {CONFIRM_KEY: confirmation(state)}
    if state.status == "completed":
        task["result"] = {**final(state, links_of(ctx)), "resultType": "complete"}
    return task


def confirmation(state: TaskState) -> dict[str, Any]:
    """The embedded elicitation a held task asks with: a yes/no form (accept sends the call, decline ends the
    task with nothing spent)."""
    record = state.record
    estimate = price.estimate(record.tool, record.pending or {})
    videos = "these videos" if record.tool == "generate_videos" else "this video"
    question = (
        f"Make {videos} with HeyGen for {estimate.words if estimate else 'a cost above your limit'}? Nothing has "
        "been sent yet. Accept to send it (it is paid for once sent); decline and nothing is sent or spent."
    )
    schema = {"type": "object", "properties": {}}
    return {"method": "elicitation/create", "params": {"mode": "form", "message": question, "requestedSchema": schema}}


def last_updated(state: TaskState) -> str:
    record = state.record
    return iso_time(max([record.created_at, record.cancelled_at or 0.0, *(job.updated_at for job in state.jobs)]))


def final(state: TaskState, links: Links | None) -> dict[str, Any]:
    """What wait_for_video (for a batch, wait_for_videos) ends with, built by the same functions; for a task
    that ended at its submission, the tool's result then."""
    if state.record.ended is not None:
        return dict(state.record.ended)
    found = list(zip(state.jobs, state.saving, strict=True))
    if state.record.tool == "generate_videos":
        items = [
            BatchItem.of(i, video_result(job, saving=saving, links=links)) for i, (job, saving) in enumerate(found)
        ]
        result = batch_answer(items, _BATCH_NEXT)
    else:
        job, saving = found[0]
        result = job_answer(job, saving=saving, links=links)
    return wire(result)
