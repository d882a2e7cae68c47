"""One deadline per tool call, carried by anyio's cancel scopes.

The MCP layer opens a scope with the call's deadline; everything below reads what is left of it here, so
retries, Retry-After waits, polling and waits for other work end in time without passing a deadline
through every signature. `soft()` ends a wait a little before the hard deadline, so the code that waited
can still answer with what it knows instead of being cut off.

A client's clock starts when it sends a call, not when the server gets round to it: under a burst (2,000
waits at once) a call can queue for seconds before its handler runs. A transport that knows when a request
arrived (server/stdio.py) says so in ARRIVED, and a wait counts its time from there (`queued()`).
"""

from __future__ import annotations

import math
import time
from contextvars import ContextVar
from typing import Final

import anyio

MARGIN: Final = 1.0
# When the current call's request arrived (time.monotonic()), where its transport says.
ARRIVED: Final[ContextVar[float | None]] = ContextVar("arrived", default=None)


def queued() -> float:
    """Seconds since the current call's request arrived, where its transport says; else 0."""
    arrived = ARRIVED.get()
    return 0.0 if arrived is None else max(time.monotonic() - arrived, 0.0)


def remaining(until: float = math.inf) -> float:
    """Seconds left before the enclosing deadline, or `until` (an anyio clock time) if that is sooner."""
    deadline = min(anyio.current_effective_deadline(), until)
    return math.inf if math.isinf(deadline) else max(deadline - anyio.current_time(), 0.0)


def fits(seconds: float, margin: float = MARGIN, until: float = math.inf) -> bool:
    """Whether waiting `seconds` still leaves `margin` before the deadline."""
    return seconds + margin <= remaining(until)


def soft(margin: float = MARGIN) -> anyio.CancelScope:
    """A scope that ends `margin` seconds before the enclosing deadline; check `.cancelled_caught` after."""
    left = remaining()
    return anyio.CancelScope() if math.isinf(left) else anyio.move_on_after(max(left - margin, 0.0))
