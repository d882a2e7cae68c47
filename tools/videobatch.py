"""Batch status reads of a tenant's Video Agent videos: reads due within a short window share one
GET /v3/videos/statuses (up to 100 ids a request), so N renders cost about one request per read cycle instead
of N. A video the batch says is completed gets its own GET /v3/videos/{id}, the only read with its URL."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import anyio

from heygen_video_mcp.tools import errors, routes
from heygen_video_mcp.tools.client import HeyGenClient
from heygen_video_mcp.tools.status import Execution


@dataclass
class _Batch:
    ids: list[str] = field(default_factory=list)
    done: anyio.Event = field(default_factory=anyio.Event)
    found: dict[str, Execution] = field(default_factory=dict)
    error: Exception | None = None


class VideoBatch:
    def __init__(self, client: HeyGenClient, window: float) -> None:
        self._client = client
        self._window = window  # how long the first read of a batch waits for others to join it
        self._open: _Batch | None = None

    async def read(self, execution_id: str, until: float = math.inf) -> Execution:
        video_id = routes.heygen_id(execution_id)
        batch = self._open
        if batch is None or len(batch.ids) >= routes.STATUSES_PER_READ:
            batch = self._open = _Batch()
            batch.ids.append(video_id)
            await self._lead(batch, until)
        else:
            batch.ids.append(video_id)
            await batch.done.wait()
        if batch.error is not None:
            raise batch.error
        execution = batch.found.get(video_id) or Execution(execution_id, "not_found", "not_found", video_id=video_id)
        if execution.status == "completed":  # the URL and duration come only with the video's own read
            return await self._client.get_execution(execution_id, until)
        return execution

    async def _lead(self, batch: _Batch, until: float) -> None:
        """The first read of a batch waits the window, closes the batch and reads it for everyone in it."""
        try:
            await anyio.sleep(self._window)
            if self._open is batch:
                self._open = None
            batch.found = await self._client.video_statuses(batch.ids, until)
        except errors.HeyGenError as exc:
            batch.error = exc
        except BaseException:
            # This read was withdrawn: the others in its batch try again at their next read.
            if self._open is batch:
                self._open = None
            batch.error = errors.APIConnectionFailed("The shared status read was withdrawn; trying again shortly.")
            raise
        finally:
            batch.done.set()
