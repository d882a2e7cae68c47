"""Every timing and limit a user can set or meet, written once; the README's Configuration table and "Long
renders" quote these figures (and name this file)."""

from __future__ import annotations

from typing import Final

# HeyGen's recommended cadence for status reads, used until the library has learned how long renders take.
POLL_SECONDS: Final = 10.0
# Clients cut a tool call off near 60 s and calls over ~30 s are unreliable. Every call ends by its own
# deadline (CALL_SECONDS by default, at most CALL_CAP_SECONDS).
CALL_SECONDS: Final = 30.0
CALL_CAP_SECONDS: Final = 45.0
# A wait_for_video call waits WAIT_SECONDS by default; its deadline is its wait plus WAIT_MARGIN, for the last
# status read, a moment for the save and the answer, so a wait may be at most WAIT_CAP_SECONDS.
WAIT_SECONDS: Final = 25.0
WAIT_MARGIN: Final = 4.0
# A wait counts from its request's arrival (tools/deadline.py); one queued longer than its wait still looks
# this long, so it answers with a fresh status.
WAIT_AT_LEAST: Final = 1.0
WAIT_CAP_SECONDS: Final = CALL_CAP_SECONDS - WAIT_MARGIN
