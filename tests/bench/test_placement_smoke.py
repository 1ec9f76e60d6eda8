"""Smoke run of the placement benchmark: `run(quick=True)` at a tiny size completes and returns its section.

No figure is asserted (speed belongs to `make bench`), only what must hold at any size: every job of every
policy succeeded, the handoff was measured, and the bound helpers say what they mean.
"""

from __future__ import annotations

import re

import pytest

from bench import bench_placement
from bench.bench_placement import lower_bound
from bench.common import executing_spans

pytestmark = pytest.mark.timeout(300)

TINY = {
    "batch": {
        "jobs": 8,
        "speeds": (1, 2),
        "loads": (0.05, 0.1),
        "step_s": 0.01,
        "policies": ("smart", "fifo_speed_blind"),
    },
    "chains": {
        "projects": 3,
        "speeds": (1, 2),
        "loads": (0.05, 0.1),
        "step_s": 0.01,
        "policies": ("smart",),
        "idle_probes": 2,
    },
    "affinity": {
        "jobs": 4,
        "servers": 2,
        "checkpoints": 2,
        "steps": 2,
        "step_s": 0.01,
        "load_s": 0.1,
        "policies": ("smart", "least_loaded"),
    },
}


def test_the_lower_bound_is_the_largest_of_total_work_over_speed_the_longest_job_and_the_longest_chain() -> None:
    assert lower_bound([1.0, 1.0, 2.0], [1.0, 1.0]) == (2.0, "total work ÷ total speed")
    assert lower_bound([8.0, 1.0], [1.0, 2.0, 3.0]) == (8.0 / 3.0, "longest job")
    assert lower_bound([1.0, 1.0], [1.0, 1.0], chains_s=[6.0]) == (6.0, "longest chain")


def test_the_placement_benchmark_returns_a_section_where_every_job_of_every_policy_succeeded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bench_placement, "QUICK", TINY)
    section = bench_placement.run(quick=True)
    assert section.startswith("## Placement")
    assert "### Heterogeneous batch: 8 jobs on 2 servers" in section
    assert "| `smart` |" in section and "| `fifo_speed_blind` |" in section and "| `least_loaded` |" in section
    assert section.count("{'succeeded': 8}") == 2, "both batch policies ran every job"
    assert "{'succeeded': 4}" in section, "the affinity jobs ran"
    assert "failed" not in section and "cancelled" not in section
    idle_rows = [line for line in section.splitlines() if line.startswith("| idle fleet")]
    assert len(idle_rows) == 4, "the idle handoff and its three parts"
    assert all(row.rstrip(" |").endswith("2") for row in idle_rows), "both idle handoffs were measured"
    assert re.search(r"idle fleet's chains, one at a time on one checkpoint: \d+ ms", section), "the idle fixed cost"
    cpu_rows = [line for line in section.splitlines() if re.match(r"\| `\w+` \| [\d.]+ \|.* of \d+ \|$", line)]
    assert len(cpu_rows) == len(TINY["chains"]["policies"]), "a CPU row per chain policy"
    floor_rows = [line for line in section.splitlines() if line.startswith("| `smart` with no plumbing |")]
    assert len(floor_rows) == 2, "the floor's makespan row and its CPU row"
    assert "{'succeeded': 7}" in floor_rows[0], "the floor ran every stage of the 3 projects"
    with_fixed_cost = r"\| \d+ ms \| [\d.]+× \| \{'succeeded': 7\} \|$"
    assert re.search(with_fixed_cost, floor_rows[0]), "policy alone with the floor's fixed cost"
    assert re.search(r"the floor is [\d.]+× the bound, and the full system takes [\d.]+× the floor's", section)


def test_on_a_fake_clock_every_policy_finishes_the_batch_no_sooner_than_the_lower_bound() -> None:
    servers = [bench_placement.Server("slow", 0.5, 0.2), bench_placement.Server("fast", 3.0, 0.2)]
    works = bench_placement.batch_works(40)
    bound, _ = lower_bound([w.steps * 0.05 for w in works], [s.speed for s in servers])
    for policy in bench_placement.ALL_POLICIES:
        makespan = bench_placement.simulate_batch(policy, servers, works, 0.05)
        assert makespan >= bound * 0.999, policy


def test_a_prompt_queued_behind_another_executes_only_from_the_previous_end_on_its_server() -> None:
    spans = executing_spans([("a", "s1", 0.0, 2.0), ("b", "s1", 0.5, 3.0), ("c", "s2", 1.0, 1.5)])
    assert spans == {"a": ("s1", 2.0), "b": ("s1", 1.0), "c": ("s2", 0.5)}


def test_on_a_fake_clock_a_fixed_cost_per_job_adds_to_the_makespan_of_chained_projects() -> None:
    servers = [bench_placement.Server("slow", 0.5, 0.2), bench_placement.Server("fast", 3.0, 0.2)]
    plan = bench_placement.chains(12)
    free = bench_placement.simulate_chains("smart", servers, plan, 0.05)
    costly = bench_placement.simulate_chains("smart", servers, plan, 0.05, fixed_s=0.1)
    assert costly > free
