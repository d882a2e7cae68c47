"""list_providers: the catalog, as a tool and as a resource. Needs no API key; marks the providers of an API
HeyGen has said is retired (one library read, tools/jobs/retirements.py)."""

from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict

from heygen_video_mcp.tools import credits
from heygen_video_mcp.tools.answer import admit_errors, answer
from heygen_video_mcp.tools.calls import AppState, links, state
from heygen_video_mcp.tools.errors import HeyGenError
from heygen_video_mcp.tools.providers import CATALOG, ProviderCatalog, catalog, catalog_text

DESCRIPTION = """List HeyGen's 13 video model providers and its Video Agent (value, name, description, which
HeyGen API makes it, whether it is available), marking the default (highest quality) and the fast ones, plus
the common aspect ratios. Use it to pick generate_video's provider when the user cares about speed, a
particular model, or cost, or when HeyGen's retired v1 API leaves only the Video Agent (a produced video with an
avatar presenter, about $0.033 per second): once HeyGen has answered that v1 is retired, its providers are
marked unavailable with the reason. With a key set it also says the account's remaining balance."""


class ProviderCatalogAnswer(ProviderCatalog):
    model_config = ConfigDict(title="ProviderCatalog", json_schema_extra=admit_errors)


async def list_providers(ctx: Context[AppState, Any]) -> Annotated[CallToolResult, ProviderCatalogAnswer]:
    app = state(ctx)

    async def work() -> CallToolResult:
        shown = catalog(await app.jobs.retirements.unavailable())
        if app.jobs.client.has_api_key:
            shown = shown.model_copy(update={"account": await _account(app)})
        text = TextContent(type="text", text=catalog_text(shown))
        return CallToolResult(
            content=[text],
            structured_content=shown.model_dump(mode="json", exclude={"account"} if shown.account is None else None),
        )

    return await answer(work, action="list_providers", seconds=app.call_seconds, remote=links(ctx) is not None)


async def _account(app: AppState) -> str | None:
    """The balance, said in one line, if HeyGen answers quickly: the catalogue never waits or fails for it."""
    with anyio.move_on_after(credits.ASIDE_SECONDS):
        try:
            return (await credits.read(app.jobs.client)).summary
        except HeyGenError:
            return None
    return None


def providers_resource() -> str:
    return CATALOG.model_dump_json(indent=2)


def register(server: MCPServer[AppState]) -> None:
    server.add_tool(
        list_providers,
        title="List video providers",
        description=DESCRIPTION,
        annotations=ToolAnnotations(
            title="List video providers", read_only_hint=True, idempotent_hint=True, open_world_hint=False
        ),
    )
    server.resource(
        "heygen://providers",
        name="providers",
        title="HeyGen video providers",
        description="The 13 model providers and the Video Agent, the default and fast ones, and the common aspect "
        "ratios (JSON).",
        mime_type="application/json",
    )(providers_resource)
