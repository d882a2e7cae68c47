"""Renders as MCP Tasks in the 2025-11-25 form (basic/utilities/tasks.mdx), beside the 2026-07-28 extension
of server/tasks.py and on the same tasks in the library: `initialize` declares the `tasks` capability,
tools/list marks generate_video and generate_videos `execution.taskSupport: "optional"`, and a `tools/call`
of either with a `task` param answers with a CreateTaskResult. tasks/get and tasks/cancel serve both eras;
tasks/result (blocks until the task ends, then the tool's result) and tasks/list are this era's alone.

The SDK (mcp 2.3.0) has the types but no runtime for this era, and sieves a 2025-11-25 `tools/call` result
to a CallToolResult, so the task answer is made in a middleware, above the sieve."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from typing import Any, Final

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import MethodBinding
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    CancelTaskRequestParams,
    GetTaskPayloadRequestParams,
    GetTaskRequestParams,
    PaginatedRequestParams,
)

from heygen_video_mcp.server.tasks import (
    TASK_TOOLS,
    TasksExtension,
    final,
    jobs_of,
    known,
    last_updated,
    links_of,
    started,
)
from heygen_video_mcp.tools import errors
from heygen_video_mcp.tools.results import iso_time
from heygen_video_mcp.tools.tasks import TTL_SECONDS, TaskState

LEGACY: Final = frozenset({"2025-11-25"})
RELATED_TASK: Final = "io.modelcontextprotocol/related-task"
CAPABILITY: Final[dict[str, Any]] = {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
# Tasks in one tasks/list page.
PAGE: Final = 20


class TasksBothEras(TasksExtension):
    """The Tasks extension, plus the 2025-11-25 form of the same tasks. `middleware` goes on the server."""

    versions = TasksExtension.versions | LEGACY

    def methods(self) -> Sequence[MethodBinding]:
        return (
            *super().methods(),
            MethodBinding("tasks/result", GetTaskPayloadRequestParams, self._result, protocol_versions=LEGACY),
            MethodBinding("tasks/list", PaginatedRequestParams, self._list, protocol_versions=LEGACY),
        )

    async def middleware(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """The capability in `initialize`, taskSupport in tools/list, and a task for a task-augmented call."""
        params = ctx.params if isinstance(ctx.params, dict) else {}
        if ctx.method == "tools/call" and ctx.protocol_version in LEGACY and params.get("task") is not None:
            return await self._create(ctx, call_next, str(params.get("name")))
        result = await call_next(ctx)
        if ctx.method == "initialize" and isinstance(result, dict) and result.get("protocolVersion") in LEGACY:
            result["capabilities"] = {**result.get("capabilities", {}), "tasks": CAPABILITY}
        elif ctx.method == "tools/list" and ctx.protocol_version in LEGACY and isinstance(result, dict):
            for tool in result.get("tools", []):
                if tool.get("name") in TASK_TOOLS:
                    tool["execution"] = {"taskSupport": "optional"}
        return result

    async def _create(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext, name: str) -> HandlerResult:
        if name not in TASK_TOOLS:  # the spec's answer to a task for a tool whose taskSupport is absent
            raise MCPError(
                code=METHOD_NOT_FOUND,
                message=f"The tool {name!r} does not run as a task (no execution.taskSupport); only "
                "generate_video and generate_videos do. Call it without `task`.",
            )
        result = await call_next(ctx)
        assert isinstance(result, dict)  # the runner's wire form of the tool's result
        execution_ids = started(result)
        try:  # a call that started nothing (a bad request, a batch with a failed item) is a task over at once
            state = await self.tasks.create(
                jobs_of(ctx), name, execution_ids, ended=None if execution_ids else _plain(result)
            )
        except errors.HeyGenError as exc:  # the library failed: say what was submitted, so nothing is lost
            submitted = f"it started {', '.join(execution_ids)}: follow with wait_for_video" if execution_ids else ""
            raise MCPError(code=INTERNAL_ERROR, message=f"No task could be recorded ({exc}); {submitted}") from None
        return {"task": _task(state, ctx)}

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: GetTaskRequestParams) -> HandlerResult:
        if ctx.protocol_version not in LEGACY:
            return await super()._get(ctx, params)
        return _task(known(await self.tasks.get(jobs_of(ctx), params.task_id)), ctx)

    async def _cancel(self, ctx: ServerRequestContext[Any, Any], params: CancelTaskRequestParams) -> HandlerResult:
        """This era rejects cancelling an ended task; otherwise as the extension's (the words say what
        happened at HeyGen)."""
        if ctx.protocol_version not in LEGACY:
            return await super()._cancel(ctx, params)
        before = _task(known(await self.tasks.get(jobs_of(ctx), params.task_id)), ctx)
        if before["status"] != "working":
            raise MCPError(
                code=INVALID_PARAMS, message=f"Cannot cancel task: already in terminal status {before['status']!r}"
            )
        return _task(known(await self.tasks.cancel(jobs_of(ctx), params.task_id)), ctx)

    async def _result(self, ctx: ServerRequestContext[Any, Any], params: GetTaskPayloadRequestParams) -> HandlerResult:
        """Blocks until the task ends (each look moves its render on, as tasks/get does), then the tool's
        result: wait_for_video's (wait_for_videos') last; for a cancelled task, an error result saying what
        was cancelled and how to fetch the video still."""
        state = known(await self.tasks.get(jobs_of(ctx), params.task_id))
        while state.status == "working":
            await anyio.sleep(state.poll_seconds)
            state = known(await self.tasks.get(jobs_of(ctx), params.task_id))
        if state.status == "cancelled":
            result: dict[str, Any] = {"content": [{"type": "text", "text": state.message}], "isError": True}
        else:
            result = _plain(final(state, links_of(ctx)))
        return {**result, "_meta": {**result.get("_meta", {}), RELATED_TASK: {"taskId": state.record.task_id}}}

    async def _list(self, ctx: ServerRequestContext[Any, Any], params: PaginatedRequestParams) -> HandlerResult:
        """The caller's own live tasks, newest first, PAGE at a time (no reads of HeyGen)."""
        states = await self.tasks.page(jobs_of(ctx), _after(params.cursor), PAGE + 1)
        page: dict[str, Any] = {"tasks": [_task(state, ctx) for state in states[:PAGE]]}
        if len(states) > PAGE:
            last = states[PAGE - 1].record
            page["nextCursor"] = base64.urlsafe_b64encode(json.dumps([last.created_at, last.task_id]).encode()).decode()
        return page


def _after(cursor: str | None) -> tuple[float, str] | None:
    if not cursor:
        return None
    try:
        created_at, task_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return float(created_at), str(task_id)
    except (ValueError, TypeError, binascii.Error):
        raise MCPError(
            code=INVALID_PARAMS, message="Invalid cursor: pass the nextCursor of the last tasks/list page as it came."
        ) from None


def _task(state: TaskState, ctx: ServerRequestContext[Any, Any]) -> dict[str, Any]:
    """The task in this era's words: a completed task whose tool result is an error is `failed`."""
    status: str = state.status
    if status == "completed" and final(state, links_of(ctx)).get("isError"):
        status = "failed"
    task: dict[str, Any] = {
        "taskId": state.record.task_id,
        "status": status,
        "statusMessage": state.message,
        "createdAt": iso_time(state.record.created_at),
        "lastUpdatedAt": last_updated(state),
        "ttl": int(TTL_SECONDS * 1000),
    }
    if status == "working":
        task["pollInterval"] = max(int(state.poll_seconds * 1000), 100)
    return task


def _plain(result: dict[str, Any]) -> dict[str, Any]:
    """A tool result without the 2026-07-28 envelope (resultType), as this era has it."""
    return {key: value for key, value in result.items() if key != "resultType"}
