"""list_providers: the catalog, as a tool and as a resource. Needs no API key."""

from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from heygen_video_mcp.tools.answer import admit_errors
from heygen_video_mcp.tools.providers import (
    COMMON_ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_PROVIDER,
    PROVIDERS,
    ProviderInfo,
)
from heygen_video_mcp.tools.results import AppState

DESCRIPTION = """List HeyGen's 13 video model providers and its Video Agent (value, name, description, which
HeyGen API makes it), marking the default (highest quality) and the fast ones, plus the common aspect
ratios. Use it to pick generate_video's provider when the user cares about speed, a particular model, or
cost, or when HeyGen's retired v1 API leaves only the Video Agent (a produced video with an avatar presenter,
about $0.033 per second)."""


class AspectRatioInfo(BaseModel):
    value: str
    use: str


class ProviderCatalog(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    providers: list[ProviderInfo]
    default_provider: str = Field(description="Used when generate_video gets no provider.")
    fast_providers: list[str] = Field(description="HeyGen's choices when speed matters.")
    aspect_ratios: list[AspectRatioInfo]
    default_aspect_ratio: str


CATALOG = ProviderCatalog(
    providers=list(PROVIDERS),
    default_provider=DEFAULT_PROVIDER,
    fast_providers=[p.value for p in PROVIDERS if p.fast],
    aspect_ratios=[AspectRatioInfo(value=k, use=v) for k, v in COMMON_ASPECT_RATIOS.items()],
    default_aspect_ratio=DEFAULT_ASPECT_RATIO,
)


def catalog_text() -> str:
    lines = ["HeyGen video providers (value - name: description):"]
    for p in PROVIDERS:
        marks = [m for m, on in (("default", p.default), ("fast", p.fast)) if on]
        lines.append(f"- {p.value} - {p.name}: {p.description}" + (f" [{', '.join(marks)}]" if marks else ""))
    lines.append("Aspect ratios: " + "; ".join(f"{k} {v}" for k, v in COMMON_ASPECT_RATIOS.items()))
    return "\n".join(lines)


def list_providers() -> Annotated[CallToolResult, ProviderCatalog]:
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
