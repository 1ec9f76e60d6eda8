"""Placement policies on a pure state: affinity, measured speed, fair share, pins, moving away after a loss."""

from __future__ import annotations

from orch_common.contracts import events as ev
from orch_scheduler.domain.fold import apply_all
from orch_scheduler.domain.policy import place_with
from orch_scheduler.domain.state import SchedulerState
from tests.scheduler.factories import at, registered, scheduled, started, submitted, succeeded
from tests.scheduler_runs.driver import CLASSES
from tests.scheduler_runs.projects import invert, txt2img


def fleet(*backends: str) -> SchedulerState:
    return apply_all(SchedulerState(), [registered(b, CLASSES) for b in backends])


def ran(state: SchedulerState, job: str, backend: str, t0: float, seconds: float, **kw) -> None:
    apply_all(
        state,
        [
            submitted(job, t0, **kw),
            scheduled(job, backend, t=t0),
            started(job, backend, t=t0),
            succeeded(job, backend, t=t0 + seconds),
        ],
    )


def test_a_job_goes_where_its_checkpoint_is_already_loaded():
    state = fleet("a", "b")
    ran(state, "warm", "b", 0, 2, workflow=txt2img(ckpt="x.safetensors"))
    apply_all(state, [submitted("j", 10, workflow=txt2img(ckpt="x.safetensors"))])
    assert [p.backend_id for p in place_with("smart", state, at(11), 2)] == ["b"]


def test_a_faster_backend_is_preferred_once_its_speed_is_measured():
    state = fleet("a", "b")
    ran(state, "s1", "a", 0, 8, workflow=invert())
    ran(state, "s2", "b", 0, 1, workflow=invert())
    apply_all(state, [submitted("j", 20, workflow=invert())])
    assert [p.backend_id for p in place_with("smart", state, at(21), 2)] == ["b"]
    assert [p.backend_id for p in place_with("least_loaded", state, at(21), 2)] == ["a"]


def test_queued_work_counts_so_a_slow_idle_backend_beats_a_fast_busy_one_when_it_finishes_first():
    state = fleet("a", "b")
    ran(state, "s1", "a", 0, 3, workflow=invert())
    ran(state, "s2", "b", 0, 1, workflow=invert())
    apply_all(state, [submitted("busy", 10, workflow=invert()), scheduled("busy", "b", t=10)])
    apply_all(state, [submitted(f"j{i}", 11, workflow=invert()) for i in range(2)])
    assert sorted(p.backend_id for p in place_with("smart", state, at(11), 4)) == ["a", "b"]


def test_a_single_job_run_goes_before_the_rest_of_a_large_batch():
    state = fleet("a")
    batch = [submitted(f"b{i}", 0, run_id="batch", labels={"item": str(i)}) for i in range(50)]
    apply_all(state, [*batch, scheduled("b0", "a", t=1), scheduled("b1", "a", t=1), started("b0", "a", t=2)])
    apply_all(state, [submitted("solo", 3, run_id="interactive", labels={"item": "0"}), succeeded("b0", "a", t=4)])
    assert [p.job_id for p in place_with("smart", state, at(5), 2)] == ["solo"]
    assert [p.job_id for p in place_with("fifo_speed_blind", state, at(5), 2)] == ["b2"]


def test_a_retry_after_a_lost_backend_moves_to_another_live_one_but_a_pin_stays():
    state = fleet("a", "b")
    apply_all(
        state,
        [
            submitted("j", 0),
            scheduled("j", "a"),
            ev.JobAttemptFailed(
                job_id="j", attempt=1, backend_id="a", reason=ev.FailureReason.HUNG, message="hung", occurred_at=at(3)
            ),
            ev.JobRetried(job_id="j", attempt=2, reason=ev.FailureReason.HUNG, occurred_at=at(3)),
        ],
    )
    apply_all(state, [submitted("pinned", 0, pinned_backend="a")])
    chosen = {p.job_id: p.backend_id for p in place_with("smart", state, at(4), 2)}
    assert chosen == {"j": "b", "pinned": "a"}


def test_round_robin_takes_backends_in_turn():
    state = fleet("a", "b", "c")
    apply_all(state, [submitted(f"j{i}", 0) for i in range(3)])
    assert [p.backend_id for p in place_with("round_robin", state, at(1), 5)] == ["a", "b", "c"]


def test_every_policy_is_deterministic():
    for policy in ("smart", "least_loaded", "fifo_speed_blind", "round_robin"):
        results = []
        for _ in range(2):
            state = fleet("a", "b", "c")
            apply_all(state, [submitted(f"j{i}", i, workflow=txt2img(ckpt=f"m{i % 2}.safetensors")) for i in range(9)])
            results.append(place_with(policy, state, at(20), 2))
        assert results[0] == results[1] and len(results[0]) == 6


def test_a_freed_backend_takes_a_queued_job_whose_checkpoint_it_has_loaded_before_an_older_one():
    state = fleet("a")
    ran(state, "warm", "a", 0, 2, workflow=txt2img(ckpt="x.safetensors"))
    apply_all(
        state,
        [
            submitted("old-y", 10, workflow=txt2img(ckpt="y.safetensors")),
            submitted("new-x", 11, workflow=txt2img(ckpt="x.safetensors")),
        ],
    )
    assert [p.job_id for p in place_with("smart", state, at(12), 1)] == ["new-x"]
    assert [p.job_id for p in place_with("least_loaded", state, at(12), 1)] == ["old-y"]
