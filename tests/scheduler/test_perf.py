"""Measured speed: warm and cold runs, the switch cost, and what is expected of a shape never run."""

from __future__ import annotations

from orch_scheduler.domain.perf import PerfStats


def test_a_switch_cost_is_the_cold_median_less_the_warm_median_and_the_expected_run_is_warm():
    perf = PerfStats()
    for seconds in (2.0, 2.2, 1.8):
        perf.record("sig", "a", seconds, cold=False)
    perf.record("sig", "a", 7.0, cold=True)
    assert perf.switch_seconds("a") == 5.0
    assert perf.expected("sig", "a") == 2.0
    assert perf.longest("sig", "a") == 7.0, "the hang budget keeps the cold run"
    assert perf.switch_seconds("b") is None


def test_without_warm_and_cold_told_apart_every_run_counts_and_no_switch_is_measured():
    perf = PerfStats()
    for seconds in (2.0, 7.0, 3.0):
        perf.record("sig", "a", seconds)
    assert perf.expected("sig", "a") == 3.0
    assert perf.switch_seconds("a") is None


def test_a_shape_never_run_is_expected_to_take_a_typical_run_scaled_to_the_backend():
    perf = PerfStats()
    assert perf.expected("new", "a", prior=10.0) == 10.0, "nothing measured: the prior"
    perf.record("short", "fast", 1.0)
    perf.record("short", "slow", 3.0)
    perf.record("long", "fast", 4.0)
    assert perf.typical() == 3.0  # the median over shapes of their fleet median: short 2.0, long 4.0
    assert perf.expected("new", "slow") == 3.0 * 1.5  # slow takes 3.0 where the fleet takes 2.0


def test_a_shape_run_elsewhere_is_scaled_by_how_much_longer_this_backend_takes_on_shapes_both_ran():
    perf = PerfStats()
    perf.record("short", "fast", 1.0)
    perf.record("short", "slow", 3.0)
    perf.record("short", "mid", 2.0)
    perf.record("long", "fast", 4.0)
    assert perf.ratio("slow", "fast") == 3.0
    assert perf.expected("long", "slow") == 12.0, "3 × fast's 4 s, not scaled against the fleet's median"
    assert perf.expected("long", "mid") == 8.0
