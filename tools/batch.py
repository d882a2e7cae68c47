"""Several jobs in one tool call (generate_videos, wait_for_videos): each item is done and answered on its
own, at the same time as the others and within the call's one deadline, so one failure never hides the rest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, ConfigDict, Field

from heygen_video_mcp.tools import deadline
from heygen_video_mcp.tools.answer import ErrorResult, admit_errors, failure
from heygen_video_mcp.tools.results import VideoResult, render, structured, went_wrong

# Enough for a storyboard's shots or a few takes; more in one call would not fit one call's time.
MAX_GENERATE: Final = 10
MAX_WAIT: Final = 25


class BatchItem(BaseModel):
    index: int = Field(description="Position of this item in the call's list, from 0.")
    ok: bool = Field(description="False when this item failed: bad input, a HeyGen error, a failed or unknown job.")
    video: VideoResult | None = Field(default=None, description="The job, when there is one.")
    error: ErrorResult | None = Field(default=None, description="Why this item failed, when no job could be reported.")


class BatchResult(BaseModel):
    model_config = ConfigDict(json_schema_extra=admit_errors)

    results: list[BatchItem] = Field(description="One per item, in the order they were given.")
    succeeded: int = Field(description="How many items are ok.")
    failed: int = Field(description="How many items are not ok; each says why and what to do.")
    next_step: str = Field(description="What to do next.")


Work = Callable[[int], Awaitable[VideoResult]]


async def each(count: int, work: Work, *, action: str, execution_ids: list[str | None]) -> list[BatchItem]:
    """Run work(0) .. work(count - 1) at once. An item that fails or is still busy a moment before the call's
    deadline answers for itself (with its execution id, if it has one); the others are not affected."""
    items: list[BatchItem | None] = [None] * count

    async def one(index: int) -> None:
        with deadline.soft() as scope:
            try:
                video = await work(index)
                items[index] = BatchItem(index=index, ok=not went_wrong(video), video=video)
            except Exception as exc:
                items[index] = BatchItem(index=index, ok=False, error=failure(exc, action, execution_ids[index]))
        if scope.cancelled_caught:
            eid = execution_ids[index]
            items[index] = BatchItem(
                index=index,
                ok=False,
                error=ErrorResult(
                    error="timed_out",
                    message=f"Item {index} did not finish within this call's time.",
                    execution_id=eid,
                    retryable=True,
                    next_step=f"Ask about this item again in a new call{f' (execution_id {eid!r})' if eid else ''}.",
                ),
            )

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
    return [item for item in items if item is not None]


def batch_result(items: list[BatchItem], next_step: str) -> CallToolResult:
    """The readable text per item and the structured result; an error result only when every item failed."""
    ok = sum(item.ok for item in items)
    result = BatchResult(results=items, succeeded=ok, failed=len(items) - ok, next_step=next_step)
    lines = [f"{ok} of {len(items)} ok."]
    for item in items:
        if item.video is not None:
            lines.append(f"[{item.index}] " + render(item.video))
        elif item.error is not None:
            lines.append(f"[{item.index}] Failed: {item.error.message}\nNext: {item.error.next_step}")
    lines.append(f"Next: {next_step}")
    data: dict[str, Any] = result.model_dump(mode="json", exclude={"results"})
    data["results"] = [_item_data(item) for item in items]
    return CallToolResult(
        content=[TextContent(type="text", text="\n\n".join(lines))],
        structured_content=data,
        is_error=bool(items) and ok == 0,
    )


def _item_data(item: BatchItem) -> dict[str, Any]:
    data: dict[str, Any] = {"index": item.index, "ok": item.ok}
    if item.video is not None:
        data["video"] = structured(item.video)
    if item.error is not None:
        data["error"] = item.error.model_dump(mode="json")
    return data
