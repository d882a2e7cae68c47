"""The read schedule and the render estimate, as plain logic: a table of situations, then the whole policy
simulated on renders of random length (simulated time: nothing here sleeps)."""

from __future__ import annotations

import random
import statistics

import anyio
import pytest

from heygen_video_mcp.tools.jobs.following.pacer import Pacer
from heygen_video_mcp.tools.jobs.following.schedule import Estimate

CADENCE = 10.0
SHORT = [21.0, 23.5, 26.0, 28.0, 30.5, 33.0, 36.0, 39.0]  # eight earlier renders of 20-40 s


def estimate(samples: list[float]) -> Estimate:
    return Estimate.of(samples, "veo_3_1 16:9", CADENCE)


@pytest.mark.parametrize(
    ("samples", "elapsed", "low", "high", "why"),
    [
        ([], 0, 10, 10, "no history: the contract's cadence"),
        ([30.0, 31.0], 5, 10, 10, "two renders are too few to learn from"),
        (SHORT, 0, 22.125, 22.125, "before most earlier renders could end: one read a moment before they could"),
        ([200.0, 220.0, 260.0], 0, 20, 20, "a long way before the window: sparse, two cadences apart"),
        ([200.0, 220.0, 260.0], 180, 24.5, 24.5, "the last stretch before the window: straight to it"),
        (SHORT, 25, 3.0, 3.5, "early in the window, where few renders end: at most 3.5 s apart"),
        (SHORT, 37.5, 2.0, 2.2, "near the end of the window: densest, never under 2 s"),
        (SHORT, 41, 2.0, 2.0, "a little slower than every earlier render: densest, so it is still seen soon"),
        (SHORT, 58, 2.0, 2.0, "two cadences past the slowest earlier render: still densest"),
        (SHORT, 200, 10, 10, "far slower than every earlier render: back to the contract's cadence"),
    ],
)
def test_next_read(samples: list[float], elapsed: float, low: float, high: float, why: str) -> None:
    gap = estimate(samples).next_read(elapsed, jitter=False)
    assert low <= gap <= high, why


def test_reads_get_denser_as_the_end_gets_likelier() -> None:
    plan = estimate(SHORT)
    gaps = [plan.next_read(t, jitter=False) for t in (24, 29, 34, 38)]
    assert gaps == sorted(gaps, reverse=True)


def test_jitter_spreads_reads_by_a_tenth_at_most_half_a_second() -> None:
    for samples, elapsed in ((SHORT, 25), ([200.0, 220.0, 260.0], 0)):
        plan = estimate(samples)
        exact = plan.next_read(elapsed, jitter=False)
        gaps = {round(plan.next_read(elapsed), 6) for _ in range(50)}
        spread = min(0.1 * exact, 0.5)
        assert len(gaps) > 10 and all(exact - spread <= gap <= exact + spread for gap in gaps)


def test_progress_is_honest_and_never_behind() -> None:
    plan = estimate(SHORT)
    assert plan.left(0) == pytest.approx(30.5)  # the median earlier render
    totals = [plan.total(t) for t in range(0, 60, 5)]
    assert all(total >= t for total, t in zip(totals, range(0, 60, 5), strict=True))
    assert "about 8 s left (from your last 8 veo_3_1 16:9 videos)" in plan.describe("processing", 22)
    assert "longer than your last 8" in plan.describe("processing", 45)
    assert plan.describe("completed", 31) == "completed after 31 s"
    unknown = estimate([])
    assert unknown.total(30) == 300 and "1-5 minutes" in unknown.describe("processing", 30)


def test_the_video_agent_is_first_looked_at_near_5_minutes_then_every_30_s_without_history() -> None:
    """HeyGen: Video Agent renders routinely take 20-45 minutes; look first at about 5 minutes."""
    agent = Estimate.for_provider([], "video_agent 16:9", CADENCE, "video_agent")
    assert agent.next_read(0, jitter=False) == pytest.approx(300)
    assert agent.next_read(120, jitter=False) == pytest.approx(180)
    assert agent.next_read(300, jitter=False) == pytest.approx(30)
    assert agent.total(60) >= 20 * 60 and "20-45 minutes" in agent.describe("processing", 60)
    # With its own history it reads as any learned provider does: from its own renders, not the models'.
    learned = Estimate.for_provider([1300.0, 1500.0, 1700.0, 2100.0], "video_agent 16:9", CADENCE, "video_agent")
    assert learned.known and learned.next_read(0, jitter=False) == pytest.approx(20)


def simulate(
    plan: Estimate, renders: list[float], latency: float = 0.05, *, jitter: bool = True
) -> tuple[float, float, float]:
    """Median and max detection delay, and reads per job-minute, of the policy on these render lengths."""
    delays, reads, minutes = [], 0, 0.0
    for length in renders:
        now = plan.next_read(0.0, jitter=jitter)  # the first read is planned when the job is submitted
        reads += 1
        while now < length:
            now += plan.next_read(now, jitter=jitter)
            reads += 1
        delays.append(now - length + latency)
        minutes += now / 60
    return statistics.median(delays), max(delays), reads / minutes


def test_the_policy_sees_renders_end_soon_at_few_reads() -> None:
    rng = random.Random(7)
    history = [rng.uniform(20, 40) for _ in range(12)]
    renders = [rng.uniform(20, 40) for _ in range(500)]
    median, worst, rate = simulate(estimate(history), renders)
    assert median <= 2.0 and worst <= 6.0 and rate <= 10.0, (median, worst, rate)
    # Against the contract's fixed cadence on the same renders:
    fixed_median, fixed_worst, _ = simulate(estimate([]), renders)
    assert fixed_median > 2 * median and fixed_worst > worst


# Earlier renders followed at the contract's cadence are learned halfway between reads 10 s apart: those of
# 20-30 s all as about 25 s (benchmarks/detection.py's earlier renders, seed 1).
CADENCE_DATED = [24.5, 25.0, 25.0, 25.4, 34.2, 34.3, 34.4, 36.6]


def test_a_render_faster_than_the_learned_ones_is_still_seen_within_2_s() -> None:
    _, worst, _ = simulate(estimate(CADENCE_DATED), [22.0], latency=0.0, jitter=False)
    assert worst <= 2.0, worst


def test_a_round_with_three_renders_faster_than_the_learned_ones_keeps_its_median_within_2_s() -> None:
    median, worst, rate = simulate(estimate(CADENCE_DATED), [20.0, 20.6, 21.9, 28.7, 35.2, 36.7], jitter=False)
    assert median <= 2.0 and worst <= 6.0 and rate <= 10.0, (median, worst, rate)


def test_a_start_read_brought_early_by_jitter_is_not_read_again_at_once() -> None:
    plan = estimate(SHORT)
    start = plan.next_read(0, jitter=False)
    assert plan.next_read(start - 0.5, jitter=False) >= 2.0  # a window's gap on, not the half second left


def test_rounds_of_six_mostly_see_their_renders_end_within_2_s_within_the_read_budget() -> None:
    """benchmarks/detection.py's shape: rounds of six renders of 20-40 s, after earlier ones like them."""
    rng = random.Random(3)
    plan = estimate([rng.uniform(20, 40) for _ in range(12)])
    rounds = [simulate(plan, [rng.uniform(20, 40) for _ in range(6)], jitter=False) for _ in range(400)]
    met = sum(median <= 2.0 and worst <= 6.0 for median, worst, _ in rounds) / len(rounds)
    rates = sorted(rate for *_, rate in rounds)
    assert met >= 0.85 and rates[int(0.9 * len(rates))] <= 9.5, (met, rates[int(0.9 * len(rates))])


@pytest.mark.anyio
async def test_the_pacer_spaces_reads_past_its_burst() -> None:
    pacer = Pacer(per_second=200, burst=5)
    start = anyio.current_time()
    for _ in range(15):
        await pacer.take()
    assert anyio.current_time() - start >= 10 / 200  # ten reads past the burst wait their turn at 200/s
