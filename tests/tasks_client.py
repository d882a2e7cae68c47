"""Clients of MCP Tasks for the tests. The 2026-07-28 extension: raw JSON-RPC requests for tasks/get,
tasks/cancel and tasks/update, and an mcp.Client extension that follows a task to its result, as a client
that declares the extension would. The 2025-11-25 form: LegacyWire, raw JSON-RPC over a transport's
streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Literal

import anyio
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.shared._stream_protocols import ReadStream, WriteStream
from mcp.shared.message import SessionMessage
from mcp.types import CallToolRequest, CallToolRequestParams, CallToolResult, Request, RequestParams, Result
from mcp_types import jsonrpc_message_adapter
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


Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class LegacyWire:
    """The 2025-11-25 era in raw JSON-RPC, over any pair of send/receive: the SDK's client (mcp 2.3.0) checks
    a 2025-11-25 tools/call answer is a CallToolResult, so it cannot take a CreateTaskResult."""

    def __init__(self, send: Send, receive: Receive) -> None:
        self.send, self.receive = send, receive
        self.next_id = 0

    async def open(self) -> dict[str, Any]:
        """initialize (the 2025-11-25 handshake), then notifications/initialized; the initialize result."""
        hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
        opened = await self.result("initialize", hello)
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return opened

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The response message (with its result or its error); notifications on the way are skipped."""
        self.next_id += 1
        await self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        while (message := await self.receive()).get("id") != self.next_id or "method" in message:
            pass
        return message

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message = await self.request(method, params)
        assert "result" in message, message
        result: dict[str, Any] = message["result"]
        return result

    async def error(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        message = await self.request(method, params)
        assert "error" in message, message
        error: dict[str, Any] = message["error"]
        return error


def over_streams(read: ReadStream[SessionMessage | Exception], write: WriteStream[SessionMessage]) -> LegacyWire:
    """A LegacyWire over a client transport's message streams (in memory, streamable HTTP)."""

    async def send(message: dict[str, Any]) -> None:
        await write.send(SessionMessage(jsonrpc_message_adapter.validate_python(message)))

    async def receive() -> dict[str, Any]:
        item = await read.receive()
        if isinstance(item, Exception):
            raise item
        wire: dict[str, Any] = item.message.model_dump(by_alias=True, mode="json", exclude_none=True)
        return wire

    return LegacyWire(send, receive)
