"""One deadline per tool call, carried by anyio's cancel scopes.

The MCP layer opens a scope with the call's deadline; everything below reads what is left of it here, so
retries, Retry-After waits, polling and waits for other work end in time without passing a deadline
through every signature. `soft()` ends a wait a little before the hard deadline, so the code that waited
can still answer with what it knows instead of being cut off.
"""

from __future__ import annotations

import math
from typing import Final

import anyio

MARGIN: Final = 1.0


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
