"""Several jobs in one tool call (generate_videos, wait_for_videos): each item is done and answered on its
own, at the same time as the others and within the call's one deadline, so one failure never hides the rest."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import anyio

from heygen_video_mcp.tools import deadline
from heygen_video_mcp.tools.answer import ErrorResult, failure
from heygen_video_mcp.tools.results import BatchItem, VideoResult

# Enough for a storyboard's shots or a few takes; more in one call would not fit one call's time.
MAX_GENERATE: Final = 10
MAX_WAIT: Final = 25


Work = Callable[[int], Awaitable[VideoResult]]


async def each(count: int, work: Work, *, action: str, execution_ids: list[str | None]) -> list[BatchItem]:
    """Run work(0) .. work(count - 1) at once. An item that fails or is still busy a moment before the call's
    deadline answers for itself (with its execution id, if it has one); the others are not affected."""
    items: list[BatchItem | None] = [None] * count

    async def one(index: int) -> None:
        with deadline.soft() as scope:
            try:
                video = await work(index)
                items[index] = BatchItem.of(index, video)
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
