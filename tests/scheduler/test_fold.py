"""The fold: deterministic, one terminal state per job, stale attempts ignored, indexes kept consistent."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from orch_common.contracts import events as ev
from orch_common.contracts.projects import ProjectCreated, ProjectDocument, ProjectRenamed, ProjectSaved
from orch_common.contracts.rpc import JobState
from orch_scheduler import service
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply_all
from orch_scheduler.domain.state import BackendStatus, SchedulerState
from tests.scheduler.factories import (
    at,
    attempt_failed,
    output_stored,
    registered,
    scheduled,
    started,
    submitted,
    succeeded,
)


def fold(events) -> SchedulerState:
    return apply_all(SchedulerState(), events)


def test_a_job_runs_through_its_lifecycle_with_times_taken_from_the_events():
    state = fold([registered("gpu"), submitted("j"), scheduled("j", "gpu"), started("j", "gpu")])
    job = state.jobs["j"]
    assert job.state == JobState.RUNNING
    assert state.backends["gpu"].inflight == {"j": 1}
    apply_all(state, [succeeded("j", "gpu", t=9)])
    assert job.state == JobState.SUCCEEDED
    assert job.ended_at == at(9)
    assert job.attempts[0].started_at == at(2)
    assert state.backends["gpu"].inflight == {}
    assert state.backends["gpu"].jobs_completed == 1


def test_events_after_a_terminal_event_are_ignored():
    state = fold([registered("gpu"), submitted("j"), scheduled("j", "gpu"), succeeded("j", "gpu")])
    ignored = state.ignored
    apply_all(
        state,
        [
            ev.JobFailed(job_id="j", attempt=1, reason=ev.FailureReason.NODE_ERROR, message="late"),
            ev.JobCancelled(job_id="j", attempt=1),
            attempt_failed("j"),
        ],
    )
    assert state.jobs["j"].state == JobState.SUCCEEDED
    assert state.jobs["j"].error is None
    assert state.ignored == ignored + 3


def _lost_then_retried_on_b(*, retry_started: bool) -> list:
    events = [
        registered("a"),
        registered("b"),
        submitted("j"),
        scheduled("j", "a"),
        started("j", "a"),
        attempt_failed("j", 1),
        ev.JobRetried(job_id="j", attempt=2, reason=ev.FailureReason.BACKEND_LOST, occurred_at=at(4)),
        scheduled("j", "b", attempt=2, t=5),
    ]
    if retry_started:
        events.append(started("j", "b", attempt=2, t=5.5))
    return events


def _output(attempt: int) -> ev.JobOutputStored:
    return ev.JobOutputStored(
        job_id="j",
        attempt=attempt,
        node_id="9",
        index=0,
        artifact_id=f"art-{attempt}",
        filename="x.png",
        subfolder="",
        folder_type="output",
        kind=ev.ArtifactKind.IMAGE,
        content_type="image/png",
        size=1,
        sha256="0" * 64,
    )


def test_a_late_success_of_a_superseded_attempt_is_ignored_once_the_retry_has_started():
    state = fold([*_lost_then_retried_on_b(retry_started=True), _output(1), succeeded("j", "a", attempt=1, t=6)])
    job = state.jobs["j"]
    assert job.state == JobState.RUNNING
    assert [a.number for a in job.attempts] == [1, 2]
    assert state.backends["b"].inflight == {"j": 2}
    assert state.backends["a"].inflight == {}
    apply_all(state, [succeeded("j", "b", attempt=2, t=7)])
    assert job.state == JobState.SUCCEEDED and job.current.number == 2
    assert not job.outputs  # attempt 2 stored none here; attempt 1's output is not the job's


def test_a_late_success_of_a_superseded_attempt_wins_while_the_retry_has_not_started():
    state = fold([*_lost_then_retried_on_b(retry_started=False), _output(1), succeeded("j", "a", attempt=1, t=6)])
    job = state.jobs["j"]
    assert job.state == JobState.SUCCEEDED
    assert job.current.number == 1 and job.current.outcome == "succeeded"
    assert [(a.number, a.outcome) for a in job.attempts] == [(2, "superseded"), (1, "succeeded")]
    assert [o.artifact_id for o in job.outputs] == ["art-1"]
    assert state.backends["b"].inflight == {}
    ignored = state.ignored
    apply_all(state, [started("j", "b", attempt=2, t=7), succeeded("j", "b", attempt=2, t=8)])
    assert job.state == JobState.SUCCEEDED and job.current.number == 1
    assert state.ignored == ignored + 2


def test_a_late_success_of_a_lost_attempt_wins_before_its_retry_is_placed():
    for cut in (-2, -1):  # awaiting the retry decision; retried, waiting to be placed
        state = fold([*_lost_then_retried_on_b(retry_started=False)[:cut], succeeded("j", "a", attempt=1, t=6)])
        job = state.jobs["j"]
        assert job.state == JobState.SUCCEEDED
        assert [(a.number, a.outcome) for a in job.attempts] == [(1, "succeeded")]
        assert state.pending_failures == {} and state.queued_count() == 0


def test_the_agent_cancelling_a_superseded_attempt_does_not_cancel_the_job():
    state = fold(_lost_then_retried_on_b(retry_started=False)[:-1])  # attempt 2 retried, not yet placed
    apply_all(state, [ev.JobCancelled(job_id="j", attempt=1, occurred_at=at(6))])
    assert state.jobs["j"].state == JobState.QUEUED
    apply_all(state, [scheduled("j", "b", attempt=2, t=7), ev.JobCancelled(job_id="j", attempt=1, occurred_at=at(8))])
    assert state.jobs["j"].state == JobState.SCHEDULED


def test_a_failed_attempt_waits_for_a_decision_outside_the_placement_queue():
    state = fold([registered("a"), submitted("j"), scheduled("j", "a"), attempt_failed("j")])
    assert state.jobs["j"].pending_failure is not None
    assert list(state.pending_failures) == ["j"]
    assert state.queued_count() == 0
    retry_at = at(30)
    apply_all(
        state,
        [ev.JobRetried(job_id="j", attempt=2, reason=ev.FailureReason.BACKEND_LOST, not_before=retry_at)],
    )
    assert state.pending_failures == {}
    assert state.queues == {0: {"j": None}}
    assert state.earliest_not_before() == retry_at


def test_cancellation_takes_a_queued_job_out_of_the_queue_and_cancel_is_idempotent():
    state = fold([submitted("j"), ev.JobCancellationRequested(job_id="j"), ev.JobCancellationRequested(job_id="j")])
    assert state.queued_count() == 0
    assert list(state.pending_cancels) == ["j"]
    apply_all(state, [ev.JobCancelled(job_id="j", attempt=0), ev.JobCancelled(job_id="j", attempt=0)])
    assert state.jobs["j"].state == JobState.CANCELLED
    assert state.pending_cancels == {}


def test_a_backend_loss_of_an_older_agent_instance_is_ignored():
    state = fold([registered("a", agent_instance="i1"), registered("a", agent_instance="i2", t=5)])
    apply_all(state, [ev.BackendLost(backend_id="a", agent_instance="i1", reason="old")])
    assert state.backends["a"].status == BackendStatus.LIVE
    apply_all(state, [ev.BackendLost(backend_id="a", agent_instance="i2", reason="gone")])
    assert state.backends["a"].status == BackendStatus.LOST


def test_projects_keep_their_versions_but_not_their_documents():
    doc = ProjectDocument(name="p")
    state = fold(
        [
            ProjectCreated(project_id="p1", document=doc, occurred_at=at(0)),
            ProjectSaved(project_id="p1", version=2, document=ProjectDocument(name="p2"), occurred_at=at(1)),
            ProjectSaved(project_id="p1", version=2, document=ProjectDocument(name="again"), occurred_at=at(2)),
            ProjectRenamed(project_id="p1", name="renamed", nonce="n", occurred_at=at(3)),
        ]
    )
    project = state.projects["p1"]
    assert [v.version for v in project.versions] == [1, 2]
    assert project.name == "renamed"
    assert not hasattr(project, "document")


# -------------------------------------------------------------------------------- properties over random histories

JOBS = ["j1", "j2", "j3"]
BACKENDS = ["a", "b"]
_reasons = st.sampled_from([ev.FailureReason.BACKEND_LOST, ev.FailureReason.NODE_ERROR, ev.FailureReason.HUNG])
_attempts = st.integers(min_value=1, max_value=3)
_jobs = st.sampled_from(JOBS)
_backends = st.sampled_from(BACKENDS)
_event = st.one_of(
    st.builds(lambda j: submitted(j), _jobs),
    st.builds(lambda j, b, n: scheduled(j, b, n), _jobs, _backends, _attempts),
    st.builds(lambda j, b, n: started(j, b, n), _jobs, _backends, _attempts),
    st.builds(lambda j, b, n: succeeded(j, b, n), _jobs, _backends, _attempts),
    st.builds(lambda j, n, r: attempt_failed(j, n, r), _jobs, _attempts, _reasons),
    st.builds(
        lambda j, n, r: ev.JobRetried(job_id=j, attempt=n + 1, reason=r, occurred_at=at(4)), _jobs, _attempts, _reasons
    ),
    st.builds(
        lambda j, n: ev.JobFailed(
            job_id=j, attempt=n, reason=ev.FailureReason.NODE_ERROR, message="x", occurred_at=at(5)
        ),
        _jobs,
        _attempts,
    ),
    st.builds(lambda j: ev.JobCancellationRequested(job_id=j, occurred_at=at(6)), _jobs),
    st.builds(lambda j, n: ev.JobCancelled(job_id=j, attempt=n, occurred_at=at(7)), _jobs, st.integers(0, 3)),
    st.builds(lambda b: registered(b), _backends),
    st.builds(
        lambda b: ev.BackendLost(backend_id=b, agent_instance=f"{b}-i1", reason="x", occurred_at=at(8)), _backends
    ),
)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_event, max_size=40))
def test_any_history_gives_one_terminal_state_per_job_and_consistent_indexes(history):
    state = SchedulerState()
    terminal: dict[str, JobState] = {}
    for event in history:
        apply_all(state, [event])
        for job_id, job in state.jobs.items():
            if job_id in terminal:
                assert job.state == terminal[job_id], "a terminal state changed"
            elif job.state.terminal:
                terminal[job_id] = job.state
    queued = {j for q in state.queues.values() for j in q}
    for job_id, job in state.jobs.items():
        in_flight = [a for a in job.attempts or () if a.in_flight]
        assert len(in_flight) <= 1
        if job.state.terminal:
            assert not in_flight and job_id not in queued
            assert job_id not in state.pending_failures and job_id not in state.pending_cancels
        if job_id in queued:
            assert job.state == JobState.QUEUED and not in_flight and not job.cancel_requested
        if in_flight:
            holder = state.backends.get(in_flight[0].backend_id)
            assert holder is None or holder.inflight.get(job_id) == in_flight[0].number
    for backend in state.backends.values():
        for job_id, attempt in backend.inflight.items():
            assert state.jobs[job_id].in_flight is not None and state.jobs[job_id].in_flight.number == attempt
    # determinism: the same history folded again gives the same state
    assert apply_all(SchedulerState(), history).snapshot() == state.snapshot()


_inert = st.one_of(
    st.builds(
        lambda j, n, s: ev.JobProgressed(job_id=j, attempt=n, seq=s, node_id="3", value=s, max=20, occurred_at=at(9)),
        _jobs,
        _attempts,
        st.integers(0, 5),
    ),
    st.builds(lambda j, n: ev.JobNodeExecuted(job_id=j, attempt=n, node_id="9", occurred_at=at(9)), _jobs, _attempts),
    st.builds(
        lambda j, n: output_stored(j, n, occurred_at=at(9)),
        _jobs,
        _attempts,
    ),
)


def _decisions(state: SchedulerState) -> list[object]:
    ids = iter(range(1000))
    made = decide(state, at(10), max_inflight=1, new_prompt_id=lambda: f"p{next(ids)}")
    return [e.model_dump() for e in made.events] + [c.model_dump() for c in made.cancels]


@settings(max_examples=500, deadline=None)
@given(st.lists(_event, max_size=30), st.lists(_inert, min_size=1, max_size=5))
def test_progress_node_executed_and_output_stored_never_change_what_decide_asks_for(history, inert):
    # the scheduler skips a decision round after a batch of only these (orch_scheduler.service._INERT)
    assert set(service._INERT) == {ev.JobProgressed, ev.JobNodeExecuted, ev.JobOutputStored}
    before = _decisions(apply_all(SchedulerState(), history))
    after = _decisions(apply_all(SchedulerState(), [*history, *inert]))
    assert after == before
