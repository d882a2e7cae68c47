"""When to read a render's status again, and how long it has left, learned from earlier renders.

A fixed cadence finds a finished render half a cadence late on average and spends most of its reads early,
when nothing can have finished. So reads follow how long earlier renders of the same provider and aspect
ratio took: sparse before the fastest of them could end, denser where they did end, since a render still
running is ever likelier to end in the next second. With too little history, the contract's cadence applies.
What this achieves is measured by benchmarks/detection.py (README, Performance).
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, replace
from typing import Final

from heygen_video_mcp.tools.providers import VIDEO_AGENT_LOOK, VIDEO_AGENT_TYPICAL
from heygen_video_mcp.tools.routes import VIDEO_AGENT
from heygen_video_mcp.tools.status import UNFINISHED
from heygen_video_mcp.tools.timing import POLL_SECONDS

# Fewer earlier renders than this say too little about the next one.
MIN_SAMPLES: Final = 3
# The first read in the likely window comes START_LEAD_SHARE of a cadence (1.5 s) before about this share
# of earlier renders had ended. The lead: a render already done at its first read is learned as ending
# there, so the learned durations pile up at the first read and their quantile sits late.
START_SHARE: Final = 0.15
START_LEAD_SHARE: Final = 0.15
# Gaps between reads once a render may end, as shares of the contract's cadence: the shortest (2 s) at and
# after the slowest earlier render, growing by TAIL_SHARE of the time still to it, up to the longest (3.5 s);
# from OVERRUN_CADENCES past it, growing by TAIL_SHARE of the time beyond, up to the cadence. Even gaps
# spent about as many reads and found fast renders later.
MIN_GAP_SHARE: Final = 0.2
MAX_GAP_SHARE: Final = 0.35
TAIL_SHARE: Final = 0.1
OVERRUN_CADENCES: Final = 2
# Before the window: one read at its start, if that is at most this many cadences away; otherwise reads two
# cadences apart, sparse, yet a render much faster than those before it is still seen.
EARLY_CADENCES: Final = 3
# A render running past the slowest one seen is told as needing about this share more.
SLACK: Final = 0.1
JITTER: Final = 0.1
JITTER_CAP_SHARE: Final = 0.05
# Renders usually take 1-5 minutes (the contract); with no history, progress is told against 5 minutes.
TYPICAL_UNKNOWN: Final = 300.0
TYPICAL_WORDS: Final = "1-5 minutes"


@dataclass(frozen=True)
class Estimate:
    """Durations (seconds from submission to completion) of earlier renders like this one."""

    samples: tuple[float, ...]
    label: str  # what they were, for messages: "veo_3_1 16:9"
    cadence: float = POLL_SECONDS  # the contract's polling interval
    # How long renders like it usually take, with no history of our own: seconds, and in words.
    typical: tuple[float, str] = (TYPICAL_UNKNOWN, TYPICAL_WORDS)
    # With no history: the first read this many cadences after submission, then reads this many apart.
    look: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def for_provider(cls, durations: list[float], label: str, cadence: float, provider: str | None) -> Estimate:
        """The estimate for renders of `provider`: the Video Agent's own pace while it has no history."""
        if provider == VIDEO_AGENT:
            return replace(cls.of(durations, label, cadence, VIDEO_AGENT_TYPICAL), look=VIDEO_AGENT_LOOK)
        return cls.of(durations, label, cadence)

    @classmethod
    def of(
        cls, durations: list[float], label: str, cadence: float, typical: tuple[float, str] | None = None
    ) -> Estimate:
        return cls(tuple(sorted(d for d in durations if d > 0)), label, cadence, typical or cls.typical)

    @property
    def known(self) -> bool:
        return len(self.samples) >= MIN_SAMPLES

    def next_read(self, elapsed: float, *, jitter: bool = True) -> float:
        """Seconds from now until the next status read, `elapsed` seconds after submission."""
        gap = self._gap(elapsed)
        # Spread the reads of many jobs so they do not arrive in bursts, by at most half a second: a long
        # gap's tenth would blur when a likely end is looked at.
        spread = min(gap * JITTER, self.cadence * JITTER_CAP_SHARE)
        return gap + random.uniform(-spread, spread) if jitter else gap

    def _gap(self, elapsed: float) -> float:
        low_gap = self.cadence * MIN_GAP_SHARE
        if not self.known:
            first, gap = self.look
            ahead = first * self.cadence - elapsed
            return ahead if ahead > low_gap / 2 else gap * self.cadence
        # A read before all but the fastest few earlier renders could end would most likely find nothing.
        start = _quantile(self.samples, START_SHARE) - self.cadence * START_LEAD_SHARE
        # The start read, a moment early by jitter, already opens the window: a second read at `start`
        # would find the same and cost a read.
        if elapsed < start - low_gap / 2:
            ahead = start - elapsed
            return ahead if ahead <= EARLY_CADENCES * self.cadence else 2 * self.cadence
        to_slowest = self.samples[-1] - elapsed
        if to_slowest >= 0:
            return min(low_gap + TAIL_SHARE * to_slowest, self.cadence * MAX_GAP_SHARE)
        # Past the slowest earlier render the estimate says nothing more: dense for two cadences past it, so a
        # render a little slower is seen soon (and, while the history is short, learned well), then sparser
        # back to the contract's cadence, so one held up far longer (a queue at HeyGen) is not read every 2 s
        # for minutes.
        overrun = max(-to_slowest - OVERRUN_CADENCES * self.cadence, 0.0)
        return min(low_gap + TAIL_SHARE * overrun, self.cadence)

    def left(self, elapsed: float) -> float | None:
        """The median time still to go among earlier renders that took longer than `elapsed`, if any."""
        if not self.known:
            return None
        running = self.samples[bisect.bisect_right(self.samples, elapsed) :]
        return running[len(running) // 2] - elapsed if running else None

    def total(self, elapsed: float) -> float:
        """An honest length for a progress bar: the expected total, never behind what has passed."""
        left = self.left(elapsed)
        if left is not None:
            return elapsed + left
        overdue = elapsed * (1 + SLACK)
        return overdue if self.known else max(self.typical[0], overdue)

    def describe(self, status: str, elapsed: float) -> str:
        """A progress message: what the render is doing and how long it likely has left."""
        if status not in UNFINISHED:
            return f"{status} after {elapsed:.0f} s"
        left = self.left(elapsed)
        if left is not None:
            return f"{status}, about {left:.0f} s left (from your last {len(self.samples)} {self.label} videos)"
        if self.known:
            return f"{status} for {elapsed:.0f} s, longer than your last {len(self.samples)} {self.label} videos"
        return f"{status} for {elapsed:.0f} s; renders usually take {self.typical[1]}"


def _quantile(points: tuple[float, ...], share: float) -> float:
    """The `share`-quantile of sorted points, interpolated between them."""
    if len(points) == 1:
        return points[0]
    position = share * (len(points) - 1)
    index = min(int(position), len(points) - 2)
    return points[index] + (points[index + 1] - points[index]) * (position - index)
