"""Smart placement for makespan, on a pure state: longest first, critical path first, waiting for a faster
backend, the queued prompt counted whole; and on a fake clock, the benchmark's batch and chained projects."""

from __future__ import annotations

from typing import Any

from bench import bench_placement
from orch_common.contracts.projects import ProjectDocument, ProjectNode
from orch_common.contracts.runs import RunRequested
from orch_scheduler.domain.fold import apply_all
from orch_scheduler.domain.policy import place_with
from orch_scheduler.domain.state import SchedulerState
from tests.scheduler.factories import WORKFLOW, at, registered, scheduled, started, submitted, succeeded
from tests.scheduler_runs.driver import CLASSES
from tests.scheduler_runs.projects import edge, gen_node, invert, invert_node


def fleet(*backends: str) -> SchedulerState:
    return apply_all(SchedulerState(), [registered(b, CLASSES) for b in backends])


def ran(state: SchedulerState, job: str, backend: str, t0: float, seconds: float, workflow: dict[str, Any]) -> None:
    apply_all(
        state,
        [
            submitted(job, t0, workflow=workflow),
            scheduled(job, backend, t=t0),
            started(job, backend, t=t0),
            succeeded(job, backend, t=t0 + seconds),
        ],
    )


def test_the_longest_queued_job_goes_first_when_there_is_more_work_than_room():
    state = fleet("a")
    ran(state, "short0", "a", 0, 1, WORKFLOW)
    ran(state, "long0", "a", 10, 8, invert())
    apply_all(state, [submitted("short", 30), submitted("long", 31, workflow=invert())])
    assert [p.job_id for p in place_with("smart", state, at(32), 1)] == ["long"]
    assert [p.job_id for p in place_with("fifo_speed_blind", state, at(32), 1)] == ["short"]


def test_a_job_that_feeds_later_stages_goes_before_one_that_ends_its_run():
    state = fleet("a")
    single = ProjectDocument(name="single", nodes=[gen_node()])
    two_stages = ProjectDocument(name="chain", nodes=[gen_node(), invert_node()], edges=[edge("gen", "inv")])
    apply_all(
        state,
        [
            RunRequested(run_id="r-single", project_id="p1", project_version=1, document=single, occurred_at=at(0)),
            RunRequested(run_id="r-chain", project_id="p2", project_version=1, document=two_stages, occurred_at=at(0)),
            submitted(
                "r-single-0-gen",
                0,
                workflow=gen_node().workflow_api,
                run_id="r-single",
                graph_node_id="gen",
                labels={"item": "0"},
            ),
            submitted(
                "r-chain-0-gen",
                1,
                workflow=gen_node().workflow_api,
                run_id="r-chain",
                graph_node_id="gen",
                labels={"item": "0"},
            ),
        ],
    )
    assert [p.job_id for p in place_with("smart", state, at(2), 1)] == ["r-chain-0-gen"]


def test_a_long_job_waits_for_a_fast_busy_backend_rather_than_run_much_longer_on_a_slow_idle_one():
    state = fleet("fast", "slow")
    ran(state, "f0", "fast", 0, 1, invert())
    ran(state, "s0", "slow", 0, 10, invert())
    apply_all(state, [submitted("busy", 20, workflow=invert()), scheduled("busy", "fast", t=20)])
    apply_all(state, [started("busy", "fast", t=20), submitted("j", 20, workflow=invert())])
    assert place_with("smart", state, at(20), 1) == [], "finishing at 22 on fast beats 30 on slow"
    assert [p.backend_id for p in place_with("least_loaded", state, at(20), 1)] == ["slow"]


def test_with_enough_queued_work_the_slow_backend_still_gets_a_share():
    state = fleet("fast", "slow")
    ran(state, "f0", "fast", 0, 1, invert())
    ran(state, "s0", "slow", 0, 3, invert())
    apply_all(state, [submitted(f"j{i}", 20, workflow=invert()) for i in range(12)])
    chosen = [p.backend_id for p in place_with("smart", state, at(20), 2)]
    assert sorted(chosen) == ["fast", "fast", "slow", "slow"]


def test_a_prompt_waiting_behind_another_on_its_server_counts_whole_in_that_servers_queued_work():
    state = fleet("a", "b")
    ran(state, "a0", "a", 0, 4, invert())
    ran(state, "b0", "b", 0, 6, invert())
    for job in ("x", "y"):
        apply_all(state, [submitted(job, 10, workflow=invert()), scheduled(job, "a", t=10), started(job, "a", t=10)])
    apply_all(state, [submitted("j", 15, workflow=invert())])
    # at 15, x has overrun its 4 s and y has not begun: a frees at 19 at best and would finish j at 23, b at 21
    assert [p.backend_id for p in place_with("smart", state, at(15), 3)] == ["b"]


def test_on_a_fake_clock_smart_beats_a_speed_blind_queue_and_no_policy_beats_the_bound():
    servers = bench_placement._servers((0.5, 1, 2, 3), (0.2, 0.3, 0.4, 0.3))
    works = bench_placement.batch_works(40)
    plan = bench_placement.chains(12)
    step = 0.05
    batch_bound, _ = bench_placement.lower_bound([w.steps * step for w in works], [s.speed for s in servers])
    chain_bound, _ = bench_placement.lower_bound(
        [n * step for c in plan for n in c.steps], [s.speed for s in servers], [sum(c.steps) * step for c in plan]
    )
    batch = {p: bench_placement.simulate_batch(p, servers, works, step) for p in ("smart", "fifo_speed_blind")}
    chains = {p: bench_placement.simulate_chains(p, servers, plan, step) for p in ("smart", "fifo_speed_blind")}
    assert all(m >= batch_bound * 0.999 for m in batch.values()) and all(
        m >= chain_bound * 0.999 for m in chains.values()
    )
    assert batch["smart"] < batch["fifo_speed_blind"]
    assert chains["smart"] <= chains["fifo_speed_blind"]


def test_a_stage_never_run_is_sized_by_its_sampler_steps_against_the_measured_stage_before_it():
    state = fleet("a")
    ran(state, "warm", "a", 0, 2, gen_node().workflow_api)  # the generate shape: 4 steps in 2 s

    def then(steps: int) -> ProjectDocument:
        later = {**invert(), "50": {"class_type": "KSampler", "inputs": {"steps": steps}}}  # a shape never run
        node = ProjectNode(id="later", title="Later", workflow_api=later)
        return ProjectDocument(name=f"then {steps}", nodes=[gen_node(), node], edges=[edge("gen", "later")])

    events: list[Any] = []
    for run_id, steps in (("r-short", 2), ("r-long", 40)):
        events.append(
            RunRequested(run_id=run_id, project_id=run_id, project_version=1, document=then(steps), occurred_at=at(5))
        )
        events.append(
            submitted(
                f"{run_id}-0-gen",
                5,
                workflow=gen_node().workflow_api,
                run_id=run_id,
                graph_node_id="gen",
                labels={"item": "0"},
            )
        )
    apply_all(state, events)
    assert [p.job_id for p in place_with("smart", state, at(6), 1)] == ["r-long-0-gen"]


def test_a_short_job_is_not_passed_by_long_jobs_submitted_long_after_it():
    state = fleet("a")
    ran(state, "short0", "a", 0, 1, WORKFLOW)
    ran(state, "long0", "a", 0, 8, invert())
    apply_all(state, [submitted("short", 10), submitted("long-soon", 11, workflow=invert())])
    assert [p.job_id for p in place_with("smart", state, at(12), 1)] == ["long-soon"]
    apply_all(state, [scheduled("long-soon", "a", t=12), succeeded("long-soon", "a", t=20)])
    apply_all(state, [submitted("long-late", 100, workflow=invert())])
    assert [p.job_id for p in place_with("smart", state, at(100), 1)] == ["short"], "90 s of wait outweigh 7 s"
