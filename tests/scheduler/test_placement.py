"""Placement and decisions, pure: capabilities, pins, least loaded first, the in-flight cap, retries, cancel."""

from __future__ import annotations

import itertools

from orch_common.contracts import events as ev
from orch_common.contracts.commands import CancelJob
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply_all
from orch_scheduler.domain.placement import Placement, place
from orch_scheduler.domain.state import SchedulerState
from tests.scheduler.factories import at, attempt_failed, registered, scheduled, started, submitted


def fold(*events) -> SchedulerState:
    return apply_all(SchedulerState(), events)


def test_a_job_goes_only_to_a_backend_with_all_its_classes_and_models():
    state = fold(
        registered("plain", ("EmptyImage", "SaveImage")),
        registered("video", ("EmptyImage", "SaveImage", "VHS_VideoCombine"), models={"checkpoints": ["sd15.ckpt"]}),
        submitted("needs-video", required_classes=["VHS_VideoCombine"]),
        submitted("needs-model", required_models={"checkpoints": ["sd15.ckpt"]}),
        submitted("needs-missing-model", required_models={"checkpoints": ["xl.ckpt"]}),
    )
    assert place(state, at(10), max_inflight=5) == [
        Placement("needs-video", 1, "video"),
        Placement("needs-model", 1, "video"),
    ]


def test_a_job_no_live_backend_can_run_stays_queued_until_one_registers():
    state = fold(registered("plain"), submitted("j", required_classes=["Exotic"]))
    assert place(state, at(1), 2) == []
    apply_all(state, [registered("exotic", ("Exotic",), t=5)])
    assert place(state, at(6), 2) == [Placement("j", 1, "exotic")]


def test_a_pinned_job_goes_only_to_its_pin():
    state = fold(
        registered("a"), registered("b"), submitted("j", pinned_backend="b"), submitted("k", pinned_backend="z")
    )
    assert place(state, at(1), 2) == [Placement("j", 1, "b")]


def test_the_least_loaded_backend_wins_and_ties_go_to_the_smallest_id():
    state = fold(registered("b"), registered("a"), registered("c"), submitted("x"), scheduled("x", "a"))
    for job_id in ("j1", "j2", "j3", "j4"):
        apply_all(state, [submitted(job_id)])
    assert place(state, at(2), 2) == [
        Placement("j1", 1, "b"),
        Placement("j2", 1, "c"),
        Placement("j3", 1, "a"),
        Placement("j4", 1, "b"),
    ]


def test_no_backend_ever_holds_more_than_the_in_flight_cap():
    state = fold(registered("a"), registered("b"), *(submitted(f"j{i}") for i in range(10)))
    choices = place(state, at(1), max_inflight=3)
    assert len(choices) == 6
    assert {b: sum(1 for c in choices if c.backend_id == b) for b in "ab"} == {"a": 3, "b": 3}


def test_higher_priority_goes_first_then_arrival_order():
    state = fold(registered("a"), submitted("low1"), submitted("high", priority=5), submitted("low2"))
    assert [p.job_id for p in place(state, at(1), 2)] == ["high", "low1"]


def test_lost_and_disabled_backends_get_nothing():
    state = fold(
        registered("a"),
        registered("b"),
        ev.BackendLost(backend_id="a", agent_instance="a-i1", reason="gone"),
        ev.BackendDisabled(backend_id="b", nonce="n"),
        submitted("j"),
    )
    assert place(state, at(1), 2) == []
    apply_all(state, [ev.BackendEnabled(backend_id="b", nonce="n2")])
    assert place(state, at(1), 2) == [Placement("j", 1, "b")]


def _decide(state, now=at(100), cancels_sent=()):
    ids = (f"prompt-{i}" for i in itertools.count())
    return decide(state, now, max_inflight=2, new_prompt_id=lambda: next(ids), cancels_sent=cancels_sent)


def test_a_lost_backend_fails_its_attempts_cancels_them_on_its_agent_then_retries_them_elsewhere():
    state = fold(registered("a"), registered("b"), submitted("j"), scheduled("j", "a"), started("j", "a"))
    apply_all(state, [ev.BackendLost(backend_id="a", agent_instance="a-i1", reason="gone")])
    first = _decide(state)
    assert [type(e).__name__ for e in first.events] == ["JobAttemptFailed"]
    assert first.events[0].reason == ev.FailureReason.BACKEND_LOST
    # its agent is told to drop the superseded prompt, in case the backend was only cut off and finishes it
    assert first.cancels == [CancelJob(backend_id="a", job_id="j", attempt=1, prompt_id="p-j-1")]
    apply_all(state, first.events)
    second = _decide(state)
    assert [(type(e).__name__, e.attempt) for e in second.events] == [("JobRetried", 2)]
    apply_all(state, second.events)
    third = _decide(state)
    assert [(type(e).__name__, e.attempt, e.backend_id) for e in third.events] == [("JobScheduled", 2, "b")]


def test_retries_wait_for_their_backoff_and_stop_when_attempts_run_out():
    policy = ev.RetryPolicy(max_attempts=2, backoff_s=10)
    state = fold(registered("a"), submitted("j", retry=policy), scheduled("j", "a"), attempt_failed("j", 1))
    retried = _decide(state, now=at(50)).events
    assert retried[0].not_before == at(60)
    apply_all(state, retried)
    assert _decide(state, now=at(59)).events == []
    placed = _decide(state, now=at(60)).events
    assert [(type(e).__name__, e.attempt) for e in placed] == [("JobScheduled", 2)]
    apply_all(state, placed)
    apply_all(state, [attempt_failed("j", 2, t=70)])
    final = _decide(state).events
    assert [type(e).__name__ for e in final] == ["JobFailed"]
    assert final[0].attempt == 2


def test_validation_and_node_errors_are_not_retried_and_keep_comfyuis_message_and_node():
    state = fold(
        registered("a"),
        submitted("j"),
        scheduled("j", "a"),
        attempt_failed(
            "j", 1, ev.FailureReason.NODE_ERROR, message="CUDA out of memory", node_id="3", node_type="KSampler"
        ),
    )
    (failed,) = _decide(state).events
    assert isinstance(failed, ev.JobFailed)
    assert (failed.message, failed.node_id, failed.node_type) == ("CUDA out of memory", "3", "KSampler")


def test_cancel_of_a_queued_job_is_immediate_and_of_a_running_one_goes_to_its_agent_once():
    state = fold(
        registered("a"),
        submitted("queued", required_classes=["Nope"]),
        submitted("running"),
        scheduled("running", "a"),
        ev.JobCancellationRequested(job_id="queued"),
        ev.JobCancellationRequested(job_id="running"),
    )
    out = _decide(state)
    assert [(type(e).__name__, e.job_id) for e in out.events] == [("JobCancelled", "queued")]
    assert out.cancels == [CancelJob(backend_id="a", job_id="running", attempt=1, prompt_id="p-running-1")]
    apply_all(state, out.events)
    assert not _decide(state, cancels_sent={out.cancels[0].command_id})
