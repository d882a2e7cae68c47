"""HeyGen's video providers and aspect ratios, as the contract lists them.

One catalog serves the tool schema (the `Provider` enum), `list_providers` and the prompts, so they can never
disagree (the sandbox reads the contract on its own). The 13 model providers run on the contract's executions
API; `video_agent` selects HeyGen's v3 Video Agent instead (see tools/routes.py).
"""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

from pydantic import BaseModel, Field

from heygen_video_mcp.tools.routes import VIDEO_AGENT, Backend

Provider = Literal[
    "veo_3_1",
    "veo_3_1_fast",
    "veo3",
    "veo3_fast",
    "veo2",
    "kling_pro",
    "kling_v2",
    "sora_v2",
    "sora_v2_pro",
    "runway_gen4",
    "seedance_lite",
    "seedance_pro",
    "ltx_distilled",
    "video_agent",
]
PROVIDER_VALUES: Final[tuple[str, ...]] = get_args(Provider)
# The providers of the executions API, as the contract lists them (all but the Video Agent).
MODEL_PROVIDERS: Final[tuple[str, ...]] = tuple(p for p in PROVIDER_VALUES if p != VIDEO_AGENT)
DEFAULT_PROVIDER: Final[Provider] = "veo_3_1"
# The contract: "use ltx_distilled or veo3_fast when speed matters"; veo_3_1_fast is "Faster VEO 3.1".
FAST_PROVIDERS: Final[frozenset[str]] = frozenset({"ltx_distilled", "veo3_fast", "veo_3_1_fast"})

# HeyGen's skill: Video Agent renders "routinely take 20-45m"; check first at about 5 minutes. So with no
# history of our own, progress is told against 30 minutes, the first read comes 30 cadences after submission
# (5 minutes at HeyGen's 10 s) and the next ones 3 cadences apart (30 s, its plugin's steady pace).
VIDEO_AGENT_TYPICAL: Final = (1800.0, "20-45 minutes")
VIDEO_AGENT_LOOK: Final = (30.0, 3.0)

DEFAULT_ASPECT_RATIO: Final = "16:9"
COMMON_ASPECT_RATIOS: Final[dict[str, str]] = {
    "16:9": "landscape (YouTube, presentations)",
    "9:16": "vertical (social media stories, reels, shorts)",
    "1:1": "square (feeds)",
}
# The contract names three common values but does not close the set, so any small W:H passes.
ASPECT_RATIO_RE: Final = re.compile(r"^([1-9][0-9]?):([1-9][0-9]?)$")


class ProviderInfo(BaseModel):
    value: Provider = Field(description="The value to pass as `provider` to generate_video.")
    name: str = Field(description="Human-readable provider name.")
    description: str = Field(description="HeyGen's description of the provider.")
    default: bool = Field(description="True for the provider used when none is given.")
    fast: bool = Field(description="True for the providers HeyGen recommends when speed matters.")
    backend: Backend = Field(
        description="The HeyGen API that makes it: executions (v1, one model's clip; HeyGen retired v1 on "
        "2026-11-01, so it may answer as retired) or video_agent (v3 Video Agent, a produced video)."
    )
    available: bool = Field(
        True, description="False once HeyGen has answered that this provider's API is retired (remembered)."
    )
    unavailable_reason: str | None = Field(None, description="Why it is unavailable: what HeyGen answered, and when.")


def _info(value: Provider, name: str, description: str) -> ProviderInfo:
    return ProviderInfo(
        value=value,
        name=name,
        description=description,
        default=value == DEFAULT_PROVIDER,
        fast=value in FAST_PROVIDERS,
        backend="video_agent" if value == VIDEO_AGENT else "executions",
        available=True,
        unavailable_reason=None,
    )


PROVIDERS: Final[tuple[ProviderInfo, ...]] = (
    _info("veo_3_1", "VEO 3.1", "Google VEO 3.1 (default, highest quality)"),
    _info("veo_3_1_fast", "VEO 3.1 Fast", "Faster VEO 3.1 variant"),
    _info("veo3", "VEO 3", "Google VEO 3"),
    _info("veo3_fast", "VEO 3 Fast", "Faster VEO 3 variant"),
    _info("veo2", "VEO 2", "Google VEO 2"),
    _info("kling_pro", "Kling Pro", "Kling Pro model"),
    _info("kling_v2", "Kling V2", "Kling V2 model"),
    _info("sora_v2", "Sora V2", "OpenAI Sora V2"),
    _info("sora_v2_pro", "Sora V2 Pro", "OpenAI Sora V2 Pro"),
    _info("runway_gen4", "Runway Gen-4", "Runway Gen-4"),
    _info("seedance_lite", "Seedance Lite", "Seedance Lite"),
    _info("seedance_pro", "Seedance Pro", "Seedance Pro"),
    _info("ltx_distilled", "LTX Distilled", "LTX Distilled (fastest)"),
    _info(
        "video_agent",
        "HeyGen Video Agent",
        "HeyGen's v3 Video Agent: from the prompt it writes a script and makes a produced video with scenes, "
        "narration and an AI avatar presenter (not a raw model clip). About $0.033 per second of finished "
        "video (a 60 s video is about $2). 16:9 or 9:16 only; reference_image_url is given to it as a file; "
        "config may set avatar_id, voice_id, style_id. Works after HeyGen retired the v1 API.",
    ),
)


def parse_aspect_ratio(value: str) -> tuple[int, int] | None:
    """(width, height) for a valid `W:H`, else None."""
    match = ASPECT_RATIO_RE.match(value.strip())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


class AspectRatioInfo(BaseModel):
    value: str
    use: str


class ProviderCatalog(BaseModel):
    providers: list[ProviderInfo]
    default_provider: str = Field(description="Used when generate_video gets no provider.")
    fast_providers: list[str] = Field(description="HeyGen's choices when speed matters.")
    aspect_ratios: list[AspectRatioInfo]
    default_aspect_ratio: str
    account: str | None = Field(
        default=None,
        description="The HeyGen account's remaining balance or credits (check_credits has the details); left out "
        "without a key, or when HeyGen does not answer within a few seconds.",
    )


CATALOG = ProviderCatalog(
    providers=list(PROVIDERS),
    default_provider=DEFAULT_PROVIDER,
    fast_providers=[p.value for p in PROVIDERS if p.fast],
    aspect_ratios=[AspectRatioInfo(value=k, use=v) for k, v in COMMON_ASPECT_RATIOS.items()],
    default_aspect_ratio=DEFAULT_ASPECT_RATIO,
)


def catalog(unavailable: dict[str, str] | None = None) -> ProviderCatalog:
    """The catalog, with the providers of a retired API (value -> why) marked unavailable."""
    if not unavailable:
        return CATALOG
    providers = [
        p.model_copy(update={"available": False, "unavailable_reason": unavailable[p.value]})
        if p.value in unavailable
        else p
        for p in PROVIDERS
    ]
    return CATALOG.model_copy(update={"providers": providers})


def catalog_text(shown: ProviderCatalog = CATALOG) -> str:
    lines = ["HeyGen video providers (value - name: description):"]
    for p in shown.providers:
        marks = [m for m, on in (("default", p.default), ("fast", p.fast)) if on]
        if not p.available:
            marks.append(f"unavailable: {p.unavailable_reason}")
        lines.append(f"- {p.value} - {p.name}: {p.description}" + (f" [{', '.join(marks)}]" if marks else ""))
    lines.append("Aspect ratios: " + "; ".join(f"{k} {v}" for k, v in COMMON_ASPECT_RATIOS.items()))
    if shown.account:
        lines.append(shown.account)
    return "\n".join(lines)
