"""Scheduling on the real wire, with the test playing the agents: placement, the in-flight cap, failover to
another backend, retries with backoff, terminal failures with ComfyUI's message, and cancel."""

from __future__ import annotations

import asyncio

from orch_common.contracts import events as ev
from orch_common.contracts.commands import CancelJob, RunJob
from orch_common.contracts.rpc import JobState
from orch_scheduler import replay
from tests.scheduler.conftest import running_scheduler
from tests.scheduler.factories import WORKFLOW, submitted
from tests.scheduler.wire import consumer_drained, eventually, publish


async def test_a_job_runs_on_a_backend_with_its_classes_and_gets_its_workflow_and_preview_request(
    nats_url, nc, agent, tmp_path
):
    db = tmp_path / "events.duckdb"
    async with running_scheduler(nats_url, db) as scheduler:
        plain = await agent("plain")
        video = await agent("video", ("EmptyImage", "SaveImage", "VHS_VideoCombine"))
        await eventually(lambda: len(scheduler.state.backends) == 2, what="two backends")
        await publish(nc, submitted("clip", required_classes=["VHS_VideoCombine"]))
        run = await video.next_command()
        assert isinstance(run, RunJob)
        assert (run.job_id, run.attempt, run.backend_id) == ("clip", 1, "video")
        assert run.workflow == WORKFLOW
        assert run.extra_data == {"preview_method": "auto"}
        await video.succeed(run)
        await eventually(lambda: scheduler.state.jobs["clip"].state == JobState.SUCCEEDED, what="success")
        assert await plain.pending_commands() == 0
        await consumer_drained(nc)
        live = scheduler.state.snapshot()
    assert replay(db).snapshot() == live


async def test_a_backend_never_gets_more_than_the_in_flight_cap_and_the_rest_waits(nats_url, nc, agent, tmp_path):
    # queue_ahead_s=0: these fake jobs "run" in no time, which would let the server queue deeper (test_queue_depth)
    settings = {"max_inflight_per_backend": 2, "queue_ahead_s": 0.0}
    async with running_scheduler(nats_url, tmp_path / "events.duckdb", **settings) as scheduler:
        gpu = await agent("gpu")
        for i in range(5):
            await publish(nc, submitted(f"j{i}"))
        await eventually(lambda: len(scheduler.state.jobs) == 5, what="5 jobs")
        first, second = await gpu.next_command(), await gpu.next_command()
        await consumer_drained(nc)
        assert await gpu.pending_commands() == 0
        assert [first.job_id, second.job_id] == ["j0", "j1"]
        await gpu.succeed(first)
        third = await gpu.next_command()
        assert third.job_id == "j2"
        assert scheduler.state.backends["gpu"].load == 2


async def test_a_job_that_no_backend_can_run_waits_until_one_registers(nats_url, nc, agent, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb") as scheduler:
        await agent("plain")
        await publish(nc, submitted("exotic-job", required_classes=["Exotic"]))
        await consumer_drained(nc)
        assert scheduler.state.jobs["exotic-job"].state == JobState.QUEUED
        exotic = await agent("exotic", ("Exotic",))
        run = await exotic.next_command()
        assert run.job_id == "exotic-job"


async def test_a_lost_backend_moves_its_attempts_to_another_backend_as_new_attempts(nats_url, nc, agent, tmp_path):
    db = tmp_path / "events.duckdb"
    async with running_scheduler(nats_url, db) as scheduler:
        a = await agent("gpu-a")
        await publish(nc, submitted("j"))
        run = await a.next_command()
        await a.start(run)
        await eventually(lambda: scheduler.state.jobs["j"].state == JobState.RUNNING, what="running on a")
        b = await agent("gpu-b")
        await a.deregister()  # its heartbeat key is deleted: the scheduler publishes BackendLost
        moved = await b.next_command()
        assert (moved.job_id, moved.attempt, moved.backend_id) == ("j", 2, "gpu-b")
        assert moved.prompt_id != run.prompt_id
        await b.succeed(moved)
        await eventually(lambda: scheduler.state.jobs["j"].state == JobState.SUCCEEDED, what="success on b")
        job = scheduler.state.jobs["j"]
        assert [(att.backend_id, att.outcome) for att in job.attempts] == [
            ("gpu-a", "backend_lost"),
            ("gpu-b", "succeeded"),
        ]
        assert scheduler.state.backends["gpu-a"].status == "lost"
        await consumer_drained(nc)
        live = scheduler.state.snapshot()
    assert replay(db).snapshot() == live


async def test_a_backend_whose_heartbeat_stops_is_lost_after_the_ttl(nats_url, nc, agent, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb", heartbeat_ttl_s=1.0) as scheduler:
        a = await agent("gpu-a")
        await eventually(lambda: "gpu-a" in scheduler.state.backends, what="registration")
        await asyncio.sleep(1.5)
        assert scheduler.state.backends["gpu-a"].status == "live"  # heartbeats keep it alive
        await a.stop_heartbeat()
        await eventually(lambda: scheduler.state.backends["gpu-a"].status == "lost", what="loss")


async def test_retryable_failures_are_retried_after_their_backoff_and_node_errors_fail_the_job(
    nats_url, nc, agent, tmp_path
):
    db = tmp_path / "events.duckdb"
    async with running_scheduler(nats_url, db) as scheduler:
        gpu = await agent("gpu")
        await publish(nc, submitted("j", retry=ev.RetryPolicy(max_attempts=3, backoff_s=0.5)))
        first = await gpu.next_command()
        await gpu.start(first)
        await gpu.fail(first, ev.FailureReason.HUNG, "no progress for 60s")
        second = await gpu.next_command()
        assert second.attempt == 2
        job = scheduler.state.jobs["j"]
        retried_gap = (job.attempts[1].scheduled_at - job.attempts[0].ended_at).total_seconds()
        assert retried_gap >= 0.5
        await gpu.start(second)
        await gpu.fail(second, ev.FailureReason.NODE_ERROR, "Allocation on device", node_id="3", node_type="KSampler")
        await eventually(lambda: job.state == JobState.FAILED, what="terminal failure")
        assert job.error is not None
        assert (job.error["message"], job.error["node_id"], job.error["node_type"]) == (
            "Allocation on device",
            "3",
            "KSampler",
        )
        await consumer_drained(nc)
        assert await gpu.pending_commands() == 0  # no third attempt
        live = scheduler.state.snapshot()
    assert replay(db).snapshot() == live


async def test_cancel_is_immediate_for_a_queued_job_and_goes_to_the_agent_for_a_running_one(
    nats_url, nc, agent, tmp_path
):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb") as scheduler:
        gpu = await agent("gpu")
        await publish(nc, submitted("waiting", required_classes=["Nowhere"]))
        await publish(nc, submitted("running"))
        run = await gpu.next_command()
        await gpu.start(run)
        for job_id in ("waiting", "running", "waiting"):
            await publish(nc, ev.JobCancellationRequested(job_id=job_id), msg_id=False)
        await eventually(lambda: scheduler.state.jobs["waiting"].state == JobState.CANCELLED, what="cancelled")
        cancel = await gpu.next_command()
        assert isinstance(cancel, CancelJob)
        assert (cancel.job_id, cancel.attempt, cancel.prompt_id) == ("running", 1, run.prompt_id)
        await publish(nc, ev.JobCancellationRequested(job_id="running"), msg_id=False)
        await publish(nc, ev.JobCancelled(job_id="running", attempt=1))
        await eventually(lambda: scheduler.state.jobs["running"].state == JobState.CANCELLED, what="cancelled")
        await consumer_drained(nc)
        assert await gpu.pending_commands() == 0  # one CancelJob, however often cancel was asked
