"""check_credits: the HeyGen account's billing and what is left (one GET /v3/users/me; nothing is bought)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from heygen_video_mcp.tools import credits
from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, links, state

DESCRIPTION = """Check the HeyGen account's remaining balance or credits and its billing type (wallet,
subscription or usage-based), with the Video Agent's price ($0.0333 per second of video) and how many seconds
of it the balance pays for. Read-only: costs nothing. Use it before a large or costly request, or when HeyGen
says the account lacks credits."""


async def check_credits(ctx: Context[AppState, Any]) -> Annotated[CallToolResult, credits.Credits]:
    app = state(ctx)

    async def work() -> CallToolResult:
        account = await credits.read(app.jobs.client)
        return CallToolResult(
            content=[TextContent(type="text", text=account.summary)],
            structured_content=account.model_dump(mode="json"),
        )

    return await answer(work, action="check_credits", seconds=app.call_seconds, remote=links(ctx) is not None)


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        check_credits,
        title="Check HeyGen credits",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="Check HeyGen credits", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
