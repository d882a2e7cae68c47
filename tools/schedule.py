"""When to read a render's status again, and how long it has left, learned from earlier renders.

A fixed 10 s cadence finds a finished render 5 s late on average and spends most of its reads early, when
nothing can have finished. With the library's record of how long earlier renders of the same provider and
aspect ratio took, reads are sparse before the fastest of them could end and dense where they did end: each
read covers about a fixed share of the renders still running, so the gaps shrink as the end gets likelier.
With too little history, the contract's cadence applies.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass
from typing import Final

# Fewer earlier renders than this say too little about the next one.
MIN_SAMPLES: Final = 3
# Each read in the likely window covers about this share of the renders still running.
SHARE: Final = 0.7
# The shortest and longest gaps between reads once a render may end, as shares of the contract's cadence
# (2.5 s and 4.5 s of 10 s): the longest bounds how late a finished render is seen.
MIN_GAP_SHARE: Final = 0.25
MAX_GAP_SHARE: Final = 0.45
# Before the first earlier render could have ended: one read when it could, if that is at most this many
# cadences away; otherwise reads two cadences apart, sparse, yet a much faster render is still seen.
EARLY_CADENCES: Final = 3
# A render running past the slowest one seen is told as needing about this share more.
SLACK: Final = 0.1
JITTER: Final = 0.1
# Renders usually take 1-5 minutes (the contract); with no history, progress is told against 5 minutes.
TYPICAL_UNKNOWN: Final = 300.0


@dataclass(frozen=True)
class Estimate:
    """Durations (seconds from submission to completion) of earlier renders like this one."""

    samples: tuple[float, ...]
    label: str  # what they were, for messages: "veo_3_1 16:9"
    cadence: float = 10.0  # the contract's polling interval

    @classmethod
    def of(cls, durations: list[float], label: str, cadence: float) -> Estimate:
        return cls(tuple(sorted(d for d in durations if d > 0)), label, cadence)

    @property
    def known(self) -> bool:
        return len(self.samples) >= MIN_SAMPLES

    def next_read(self, elapsed: float, *, jitter: bool = True) -> float:
        """Seconds from now until the next status read, `elapsed` seconds after submission."""
        gap = self._gap(elapsed)
        # Spread the reads of many jobs so they do not arrive in bursts.
        return gap * random.uniform(1 - JITTER, 1 + JITTER) if jitter else gap

    def _gap(self, elapsed: float) -> float:
        low_gap = self.cadence * MIN_GAP_SHARE
        if not self.known:
            return self.cadence
        start = self.samples[0]  # a read before the fastest earlier render could end would find nothing
        if elapsed < start:
            ahead = start - elapsed
            return ahead if ahead <= EARLY_CADENCES * self.cadence else 2 * self.cadence
        high_gap = self.cadence * MAX_GAP_SHARE
        running = self.samples[bisect.bisect_right(self.samples, elapsed) :]
        if not running:  # slower than every earlier render: the estimate says nothing more
            return high_gap
        # The SHARE-quantile of the renders still running, between the samples (elapsed is the 0-quantile).
        points = (elapsed, *running)
        position = SHARE * len(running)
        index = min(int(position), len(running) - 1)
        target = points[index] + (points[index + 1] - points[index]) * (position - index)
        return min(max(target - elapsed, low_gap), high_gap)

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
        return overdue if self.known else max(TYPICAL_UNKNOWN, overdue)

    def describe(self, status: str, elapsed: float) -> str:
        """A progress message: what the render is doing and how long it likely has left."""
        left = self.left(elapsed)
        if left is not None:
            return f"{status}, about {left:.0f} s left (from your last {len(self.samples)} {self.label} videos)"
        if self.known:
            return f"{status} for {elapsed:.0f} s, longer than your last {len(self.samples)} {self.label} videos"
        return f"{status} for {elapsed:.0f} s; renders usually take 1-5 minutes"
