"""list_video_agent_options: the Video Agent's styles, avatars and voices (three reads, kept 10 minutes)."""

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations

from heygen_video_mcp.tools import agentoptions
from heygen_video_mcp.tools.answer import answer
from heygen_video_mcp.tools.calls import AppState, links, state

DESCRIPTION = """List what HeyGen's Video Agent (provider="video_agent") can be told to use: its visual
styles (style_id), avatar presenters (avatar_id) and narration voices (voice_id), with names, tags, languages
and previews. Pass chosen ids to generate_video as config, e.g. {"style_id": "...", "voice_id": "..."}; any
left out, the agent chooses. Read-only: costs nothing; answers are kept 10 minutes."""


async def list_video_agent_options(
    ctx: Context[AppState, Any],
) -> Annotated[CallToolResult, agentoptions.AgentOptions]:
    app = state(ctx)

    async def work() -> CallToolResult:
        options = await agentoptions.read(app.jobs.client)
        return CallToolResult(
            content=[TextContent(type="text", text=options.summary)],
            structured_content=options.model_dump(mode="json"),
        )

    remote = links(ctx) is not None
    return await answer(work, action="list_video_agent_options", seconds=app.call_seconds, remote=remote)


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        list_video_agent_options,
        title="List Video Agent styles, avatars and voices",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="List Video Agent options", read_only_hint=True, idempotent_hint=True, open_world_hint=True
        ),
    )
