"""A cap on status reads per second for the whole process: a token bucket that makes callers wait their
turn rather than fail, so many waits at once never turn into bursts that HeyGen would throttle."""

from __future__ import annotations

import anyio


class Pacer:
    def __init__(self, per_second: float, burst: float | None = None) -> None:
        self.per_second = per_second
        self._capacity = burst if burst is not None else per_second
        self._tokens = self._capacity
        self._stamp = 0.0  # long ago: the bucket starts full

    async def take(self) -> None:
        """Spend one token, first waiting until it is there (tokens may be owed: waiters queue up fairly)."""
        now = anyio.current_time()
        self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self.per_second) - 1
        self._stamp = now
        if self._tokens < 0:
            await anyio.sleep(-self._tokens / self.per_second)
