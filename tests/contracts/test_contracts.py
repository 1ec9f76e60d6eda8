"""The contracts: every event round-trips through JSON, ids are deterministic, subjects are well formed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob, RunJob, command_subject, parse_command
from orch_common.contracts.projects import ProjectCreated, ProjectDocument, ProjectSaved
from orch_common.contracts.runs import RunRequested, Sweep, SweepAxis, ValueRange

CAPS = ev.BackendCapabilities(node_classes=["EmptyImage"], object_info_hash="ab" * 32)
SAMPLES: list[ev.EventBase] = [
    ev.JobSubmitted(job_id="j1", workflow={"1": {"class_type": "EmptyImage", "inputs": {"seed": 2**64 - 1}}}),
    ev.JobScheduled(job_id="j1", attempt=1, backend_id="b1", prompt_id="p"),
    ev.JobStarted(job_id="j1", attempt=1, backend_id="b1", prompt_id="p"),
    ev.JobProgressed(job_id="j1", attempt=1, seq=3, node_id="3", value=2, max=20),
    ev.JobNodeExecuted(job_id="j1", attempt=1, node_id="3"),
    ev.JobOutputStored(
        job_id="j1",
        attempt=1,
        node_id="9",
        index=0,
        artifact_id="j1/1/9/0-a.png",
        filename="a.png",
        kind=ev.ArtifactKind.IMAGE,
        content_type="image/png",
        size=3,
        sha256="00" * 32,
    ),
    ev.JobSucceeded(job_id="j1", attempt=1, backend_id="b1"),
    ev.JobAttemptFailed(job_id="j1", attempt=1, reason=ev.FailureReason.BACKEND_LOST, message="gone"),
    ev.JobRetried(job_id="j1", attempt=2, reason=ev.FailureReason.BACKEND_LOST),
    ev.JobFailed(job_id="j1", attempt=2, reason=ev.FailureReason.NODE_ERROR, message="boom", node_id="3"),
    ev.JobCancellationRequested(job_id="j1"),
    ev.JobCancelled(job_id="j1", attempt=1),
    ev.BackendRegistered(backend_id="b1", comfy_url="http://x:1", agent_instance="i1", capabilities=CAPS),
    ev.BackendLost(backend_id="b1", agent_instance="i1", reason="heartbeat"),
    ev.BackendDisabled(backend_id="b1", nonce="n"),
    ev.BackendEnabled(backend_id="b1", nonce="n"),
    ProjectCreated(project_id="p1", document=ProjectDocument(name="demo")),
    ProjectSaved(project_id="p1", version=2, document=ProjectDocument(name="demo")),
    RunRequested(run_id="r1", project_id="p1", project_version=2, document=ProjectDocument(name="demo")),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_json_with_the_same_id(event: ev.EventBase) -> None:
    back = ev.parse_event(event.model_dump_json())
    assert back == event
    assert back.event_id == event.event_id
    assert back.subject.startswith(f"{subjects.NAMESPACE}.evt.")


def test_event_ids_are_unique_across_the_lifecycle() -> None:
    ids = [e.event_id for e in SAMPLES]
    assert len(ids) == len(set(ids))


def test_a_seed_of_two_to_the_sixty_four_minus_one_stays_exact() -> None:
    back = ev.parse_event(SAMPLES[0].model_dump_json())
    assert back.workflow["1"]["inputs"]["seed"] == 2**64 - 1


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        SAMPLES[1].attempt = 2  # type: ignore[misc]


def test_only_transient_failures_are_retryable() -> None:
    assert ev.FailureReason.BACKEND_LOST.retryable and ev.FailureReason.PROMPT_LOST.retryable
    assert not ev.FailureReason.VALIDATION.retryable and not ev.FailureReason.NODE_ERROR.retryable


def test_retry_backoff_doubles_up_to_its_cap() -> None:
    policy = ev.RetryPolicy(max_attempts=5, backoff_s=1.0, max_backoff_s=3.0)
    assert [policy.delay_before(a) for a in (1, 2, 3, 4, 5)] == [0.0, 1.0, 2.0, 3.0, 3.0]


def test_commands_round_trip_and_go_to_their_backend() -> None:
    run = RunJob(backend_id="b1", job_id="j", attempt=2, prompt_id="p", workflow={})
    cancel = CancelJob(backend_id="b1", job_id="j", attempt=2, prompt_id="p")
    assert parse_command(run.model_dump_json()) == run
    assert parse_command(cancel.model_dump_json()) == cancel
    assert command_subject(run) == "orch.v1.cmd.backend.b1.run"
    assert run.command_id != cancel.command_id


@given(st.text(min_size=1, max_size=20))
def test_a_subject_token_never_contains_separators_or_wildcards(token: str) -> None:
    try:
        subject = subjects.job_event(token, "submitted")
    except ValueError:
        return
    assert subject.count(".") == 5 and "*" not in subject and ">" not in subject and " " not in subject


def test_a_grid_sweep_expands_every_combination_times_repeat() -> None:
    sweep = Sweep(
        axes=[
            SweepAxis(node="a", parameter="seed", values=[1, 2]),
            SweepAxis(node="a", parameter="cfg", range=ValueRange(start=5, stop=7, step=1)),
        ],
        repeat=2,
    )
    items = sweep.items()
    assert len(items) == 12
    assert {(i[("a", "seed")], i[("a", "cfg")]) for i in items} == {(s, c) for s in (1, 2) for c in (5, 6, 7)}


def test_a_zip_sweep_of_unequal_axes_is_refused_naming_the_lengths() -> None:
    sweep = Sweep(
        mode="zip",
        axes=[SweepAxis(node="a", parameter="x", values=[1, 2]), SweepAxis(node="a", parameter="y", values=[1])],
    )
    with pytest.raises(ValueError, match=r"equal length, got \[1, 2\]"):
        sweep.items()


def test_an_axis_needs_exactly_one_source_of_values() -> None:
    with pytest.raises(ValidationError, match="exactly one of values or range"):
        SweepAxis(node="a", parameter="x")
