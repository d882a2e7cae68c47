"""What every part of the job logic shares: its settings, what a call gets back, and the progress hooks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from heygen_video_mcp.tools.download import DEFAULT_MAX_BYTES
from heygen_video_mcp.tools.status import Job
from heygen_video_mcp.tools.timing import POLL_SECONDS

Progress = Callable[[str, float, float, str], Awaitable[None]]
"""Told the status, the seconds since submission, the expected total and a message for the user."""
SaveProgress = Callable[[str, int, int | None], None]
"""Told, while a video is being saved, its execution id, the bytes so far and the size when known."""


@dataclass(frozen=True)
class JobSettings:
    poll_interval: float = POLL_SECONDS
    duplicate_window: float = 600.0
    download: bool = True
    output_dir: Path = Path("HeyGen")
    # A not_found this soon after our own submission is HeyGen's read lagging its write, not the end.
    not_found_grace: float = 120.0
    agent_thinking_seconds: float = 120.0  # a Video Agent session thinking this long with no video is stuck
    max_video_bytes: int = DEFAULT_MAX_BYTES
    # Video links may point at loopback or private hosts only when HeyGen itself is one (the sandbox).
    private_video_hosts: bool = False
    # Image URLs may be loopback only when HeyGen itself is (the sandbox); never private or link-local.
    loopback_images: bool = False
    # How long a call that sees a finished video waits for its save before answering "saving".
    save_grace: float = 1.5
    reads_per_second: float = 50.0  # status reads for the whole process (for one tenant, in remote mode)
    batch_status_reads: bool = True  # Video Agent videos read through /v3/videos/statuses (False: one GET each)
    daily_renders: int | None = None  # new submissions a UTC day (remote mode's tenants), None: no limit


@dataclass(frozen=True)
class Outcome:
    job: Job
    duplicate: bool = False
    waited: float = 0.0
