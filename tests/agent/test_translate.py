"""The websocket → event translation, replayed from traces recorded from a real ComfyUI."""

from __future__ import annotations

import pytest

from orch_agent.outputs import artifact_key, classify, node_outputs
from orch_agent.translate import AttemptRef, AttemptTracker, Finish, Live, Publish, Router, StoreOutputs
from orch_common.comfy.wire import OutputFileItem, OutputText
from orch_common.contracts import subjects
from orch_common.contracts.events import (
    ArtifactKind,
    FailureReason,
    JobAttemptFailed,
    JobCancelled,
    JobNodeExecuted,
    JobProgressed,
)
from orch_common.contracts.live import LivePreview, LiveProgress
from tests.agent.traces import messages, prompt_id_of, workflow

RUNS = [
    "basic",
    "basic_cached",
    "loadimage_scale",
    "mask",
    "progress_ws_images",
    "progress_ws_images_metadata",
    "text_preview_any",
    "runtime_error",
    "interrupted",
    "observed_by_other_client",
    "with_log_subscription",
]
SUCCEEDING = [r for r in RUNS if r not in ("runtime_error", "interrupted")]


def replay(run: str, *, step: float = 0.0, cancelled: bool = False, previews: bool = True) -> list[object]:
    """Feed a whole trace through a router holding one tracker for the trace's prompt; return the intents."""
    router = Router()
    tracker = AttemptTracker(AttemptRef("job-1", 1, prompt_id_of(run), "b1"), previews=previews, cancelled=cancelled)
    router.add(tracker)
    intents: list[object] = []
    now = 1000.0
    for message in messages(run):
        intents.extend(intent for _, intent in router.feed(message, now))
        intents.extend(intent for _, intent in router.tick(now))
        now += step
    return intents


def durable(intents: list[object]) -> list[object]:
    return [i for i in intents if not isinstance(i, Live)]


@pytest.mark.parametrize("run", SUCCEEDING)
def test_a_successful_run_ends_with_one_finish_after_every_output(run: str) -> None:
    intents = durable(replay(run))
    finishes = [i for i in intents if isinstance(i, Finish)]
    assert finishes == [Finish(success_seen=True)]
    assert intents[-1] == Finish(success_seen=True)
    assert not any(isinstance(i, Publish) and isinstance(i.event, JobAttemptFailed) for i in intents)


@pytest.mark.parametrize("run", RUNS)
def test_every_executed_output_is_asked_to_be_stored_and_reported_as_node_executed(run: str) -> None:
    intents = durable(replay(run))
    executed = {m.data.node for m in messages(run) if getattr(m, "type", None) == "executed"}
    stored = {i.node_id for i in intents if isinstance(i, StoreOutputs)}
    reported = {i.event.node_id for i in intents if isinstance(i, Publish) and isinstance(i.event, JobNodeExecuted)}
    assert stored == {m.data.node for m in messages(run) if getattr(m, "type", None) == "executed" and m.data.output}
    assert executed <= reported


def test_a_basic_run_stores_its_saved_image_under_the_job_attempt_node_key() -> None:
    stores = [i for i in replay("basic") if isinstance(i, StoreOutputs)]
    assert len(stores) == 1
    items = node_outputs(stores[0].node_id, stores[0].output)
    assert [(index, item.file.filename) for index, item in items if isinstance(item, OutputFileItem)] == [
        (0, "fx_basic_00001_.png")
    ]
    assert artifact_key("job-1", 1, "4", 0, "fx_basic_00001_.png") == "job-1/1/4/0-fx_basic_00001_.png"


def test_a_cached_run_reports_every_cached_node_as_executed_from_cache() -> None:
    events = [i.event for i in durable(replay("basic_cached")) if isinstance(i, Publish)]
    cached = {e.node_id for e in events if isinstance(e, JobNodeExecuted) and e.cached}
    assert cached == {"1", "2", "3", "4"}


def test_mask_outputs_are_classified_by_the_node_that_made_them() -> None:
    prompt = workflow("mask")
    kinds: dict[str, ArtifactKind] = {}
    for store in (i for i in replay("mask") if isinstance(i, StoreOutputs)):
        for _, item in node_outputs(store.node_id, store.output):
            kinds[store.node_id] = classify(item, prompt)
    assert kinds == {"20": ArtifactKind.IMAGE, "21": ArtifactKind.MASK, "22": ArtifactKind.MASK}


def test_a_text_output_is_stored_as_text() -> None:
    store = next(i for i in replay("text_preview_any") if isinstance(i, StoreOutputs))
    [(index, item)] = node_outputs(store.node_id, store.output)
    assert isinstance(item, OutputText) and item.text == "123" and index == 0
    assert classify(item) is ArtifactKind.TEXT


def test_a_runtime_error_fails_the_attempt_with_comfyuis_message_and_node() -> None:
    intents = durable(replay("runtime_error"))
    assert not any(isinstance(i, Finish) for i in intents)
    last = intents[-1]
    assert isinstance(last, Publish) and isinstance(last.event, JobAttemptFailed)
    event = last.event
    assert event.reason is FailureReason.NODE_ERROR
    assert event.message == "index 3 is out of bounds for dimension 3 with size 3"
    assert (event.node_id, event.node_type) == ("2", "ImageToMask")
    assert event.details["exception_type"] == "IndexError" and event.details["traceback"]


def test_an_interruption_we_did_not_ask_for_fails_the_attempt_as_interrupted() -> None:
    intents = durable(replay("interrupted"))
    last = intents[-1]
    assert isinstance(last, Publish) and isinstance(last.event, JobAttemptFailed)
    assert last.event.reason is FailureReason.INTERRUPTED and last.event.node_id == "4"
    assert not any(isinstance(i, Finish) for i in intents)


def test_an_interruption_after_our_cancel_is_a_cancellation() -> None:
    intents = durable(replay("interrupted", cancelled=True))
    last = intents[-1]
    assert isinstance(last, Publish) and isinstance(last.event, JobCancelled)
    assert not any(isinstance(i, Publish) and isinstance(i.event, JobAttemptFailed) for i in intents)


def _stepped_finals(run: str) -> dict[str, tuple[float, float]]:
    """Each stepped node's last (value, max) in the trace."""
    finals: dict[str, tuple[float, float]] = {}
    for m in messages(run):
        if getattr(m, "type", None) == "progress" and m.data.max > 1:
            finals[m.data.node] = (float(m.data.value), float(m.data.max))
    return finals


@pytest.mark.parametrize("run", RUNS)
def test_durable_progress_is_coalesced_and_keeps_each_stepped_nodes_final_value(run: str) -> None:
    burst = replay(run)  # every message at the same instant
    spread = replay(run, step=1.0)  # one message a second: nothing to coalesce
    burst_progress = [i.event for i in burst if isinstance(i, Publish) and isinstance(i.event, JobProgressed)]
    spread_progress = [i.event for i in spread if isinstance(i, Publish) and isinstance(i.event, JobProgressed)]
    live = [i.message for i in burst if isinstance(i, Live) and isinstance(i.message, LiveProgress)]
    assert len(burst_progress) <= len(spread_progress) <= len(live)
    assert [e.seq for e in burst_progress] == list(range(len(burst_progress)))
    for node, (value, max_) in _stepped_finals(run).items():
        assert any((e.node_id, e.value, e.max) == (node, value, max_) for e in burst_progress)


@pytest.mark.parametrize("run", [r for r in SUCCEEDING if not _stepped_finals(r)])
def test_a_prompt_with_no_stepped_node_that_ends_within_one_interval_leaves_no_durable_progress(run: str) -> None:
    step = 0.01
    assert len(messages(run)) * step < AttemptTracker(AttemptRef("j", 1, "p", "b")).progress_interval
    intents = replay(run, step=step)
    assert [i for i in intents if isinstance(i, Finish)] == [Finish(success_seen=True)]
    assert not [i for i in intents if isinstance(i, Publish) and isinstance(i.event, JobProgressed)]


@pytest.mark.parametrize("run", ["runtime_error", "interrupted"])
def test_a_failed_attempt_keeps_the_progress_it_stopped_at(run: str) -> None:
    intents = replay(run)
    live = [i.message for i in intents if isinstance(i, Live) and isinstance(i.message, LiveProgress)]
    live = [m for m in live if m.node_id is not None]
    progressed = [i.event for i in intents if isinstance(i, Publish) and isinstance(i.event, JobProgressed)]
    assert live and progressed
    assert (progressed[-1].node_id, progressed[-1].value, progressed[-1].max) == (
        live[-1].node_id,
        live[-1].value,
        live[-1].max,
    )


def test_live_progress_goes_to_the_jobs_progress_subject_at_full_rate() -> None:
    intents = [i for i in replay("progress_ws_images") if isinstance(i, Live) and isinstance(i.message, LiveProgress)]
    progress_messages = [m for m in messages("progress_ws_images") if getattr(m, "type", None) == "progress"]
    assert {i.subject for i in intents} == {subjects.live_job("job-1", "progress")}
    assert len(intents) >= len(progress_messages) > 0


@pytest.mark.parametrize("run", ["progress_ws_images", "progress_ws_images_metadata"])
def test_previews_are_throttled_per_job(run: str) -> None:
    frames = [m for m in messages(run) if not hasattr(m, "type")]
    burst = [i.message for i in replay(run) if isinstance(i, Live) and isinstance(i.message, LivePreview)]
    spread = [i.message for i in replay(run, step=1.0) if isinstance(i, Live) and isinstance(i.message, LivePreview)]
    assert len(burst) == 1
    assert len(spread) == len(frames) == 4
    assert all(p.content_type == "image/png" and p.data_b64 for p in spread)
    assert replay(run, previews=False, step=1.0) and not [
        i for i in replay(run, previews=False, step=1.0) if isinstance(i, Live) and isinstance(i.message, LivePreview)
    ]


@pytest.mark.parametrize("run", ["other_client_observer", "bystander_prompt_without_client_id"])
def test_messages_about_other_prompts_produce_nothing(run: str) -> None:
    router = Router()
    router.add(AttemptTracker(AttemptRef("job-1", 1, "00000000-0000-4000-8000-000000000000", "b1")))
    assert [i for m in messages(run) for i in router.feed(m, 0.0)] == []


def test_nothing_follows_the_end_of_an_attempt() -> None:
    tracker = AttemptTracker(AttemptRef("job-1", 1, prompt_id_of("basic"), "b1"))
    for message in messages("basic"):
        tracker.feed(message, 0.0)
    assert tracker.done
    assert all(tracker.feed(m, 1.0) == [] for m in messages("basic"))


@pytest.mark.parametrize("run", RUNS)
def test_durable_progress_is_about_two_a_second_plus_each_stepped_nodes_final_value(run: str) -> None:
    step = 0.01
    intents = replay(run, step=step)
    duration = step * len(messages(run))
    stepped = {m.data.node for m in messages(run) if getattr(m, "type", None) == "progress" and m.data.max > 1}
    progressed = [i.event for i in intents if isinstance(i, Publish) and isinstance(i.event, JobProgressed)]
    assert len(progressed) <= duration / 0.5 + 2 + len(stepped)
    for node in stepped:
        final = [m.data for m in messages(run) if getattr(m, "type", None) == "progress" and m.data.node == node][-1]
        assert any(e.node_id == node and (e.value, e.max) == (final.value, final.max) for e in progressed)
