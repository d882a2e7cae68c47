"""A client of the MCP Tasks extension (2026-07-28) for the tests: raw JSON-RPC requests for tasks/get,
tasks/cancel and tasks/update, and an mcp.Client extension that follows a task to its result, as a client
that declares the extension would."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import anyio
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.types import CallToolRequest, CallToolRequestParams, CallToolResult, Request, RequestParams, Result
from pydantic import ConfigDict

TASKS = "io.modelcontextprotocol/tasks"


class Answer(Result):
    """Any result, kept whole."""

    model_config = ConfigDict(extra="allow")


def whole(answer: Answer) -> dict[str, Any]:
    return answer.model_dump(by_alias=True, mode="json", exclude_none=True)


class TaskParams(RequestParams):
    model_config = ConfigDict(extra="allow")


class TaskRequest(Request[TaskParams, str]):
    """tasks/get, tasks/cancel or tasks/update; Mcp-Name carries the task id over HTTP, as the spec asks."""

    name_param: ClassVar[str | None] = "taskId"


async def task_request(session: ClientSession, method: str, task_id: str, **more: Any) -> dict[str, Any]:
    params = TaskParams.model_validate({"taskId": task_id, **more})
    return whole(await session.send_request(TaskRequest(method=method, params=params), Answer))


class CreatedTask(Result):
    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"]


class TasksClient(ClientExtension):
    """Declares the extension on every request; a task answer is followed by polling tasks/get at the
    interval the server asks, and every state seen is kept in `seen`."""

    identifier = TASKS

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self._follow)]

    async def _follow(self, created: CreatedTask, ctx: ClaimContext) -> CallToolResult:
        self.created.append(created.model_dump(by_alias=True))
        task_id = str(created.model_extra["taskId"] if created.model_extra else "")
        while True:
            task = await task_request(ctx.session, "tasks/get", task_id)
            self.seen.append(task)
            if task["status"] != "working":
                assert task["status"] == "completed", task
                return CallToolResult.model_validate(task["result"])
            await anyio.sleep(task["pollIntervalMs"] / 1000)


async def call_raw(client: Client, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A tools/call whose answer is kept as it came (a task, or the tool's result)."""
    request = CallToolRequest(params=CallToolRequestParams(name=name, arguments=arguments))
    return whole(await client.session.send_request(request, Answer))
