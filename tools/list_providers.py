"""list_providers: the catalog, as a tool and as a resource. Needs no API key."""

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ConfigDict

from heygen_video_mcp.tools.answer import admit_errors
from heygen_video_mcp.tools.calls import AppState
from heygen_video_mcp.tools.providers import CATALOG, ProviderCatalog, catalog_text

DESCRIPTION = """List HeyGen's 13 video model providers and its Video Agent (value, name, description, which
HeyGen API makes it), marking the default (highest quality) and the fast ones, plus the common aspect
ratios. Use it to pick generate_video's provider when the user cares about speed, a particular model, or
cost, or when HeyGen's retired v1 API leaves only the Video Agent (a produced video with an avatar presenter,
about $0.033 per second)."""


class ProviderCatalogAnswer(ProviderCatalog):
    model_config = ConfigDict(title="ProviderCatalog", json_schema_extra=admit_errors)


def list_providers() -> Annotated[CallToolResult, ProviderCatalogAnswer]:
    return CallToolResult(
        content=[TextContent(type="text", text=catalog_text())], structured_content=CATALOG.model_dump(mode="json")
    )


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
