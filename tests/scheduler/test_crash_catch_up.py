"""After a crash, what the dead scheduler was delivered but never acked is folded first, in stream order.

JetStream alone would redeliver it only after `ack_wait`, behind newer events: a job's JobSucceeded would be
folded before its JobOutputStored, and the job would end succeeded without its outputs.
"""

from __future__ import annotations

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.contracts.rpc import JobState
from orch_scheduler import replay
from tests.scheduler.conftest import running_scheduler
from tests.scheduler.factories import output_stored, submitted
from tests.scheduler.wire import eventually, publish


def _output(job_id: str, attempt: int) -> ev.JobOutputStored:
    return output_stored(job_id, attempt, artifact_id=f"{job_id}-out")


async def test_events_a_crashed_scheduler_held_unacked_are_folded_before_newer_ones(nats_url, nc, agent, tmp_path):
    db = tmp_path / "events.duckdb"
    gpu = await agent("gpu-a")
    async with running_scheduler(nats_url, db, ack_wait_s=30.0) as first:
        await publish(nc, submitted("j1"))
        run = await gpu.next_command()
        await gpu.start(run)
        await eventually(lambda: first.state.jobs["j1"].state == JobState.RUNNING, what="j1 running")
    # The next scheduler instance takes the output from the durable consumer and dies before logging or acking it.
    await publish(nc, _output("j1", run.attempt))
    dead = await nc.jetstream().pull_subscribe(
        subjects.all_events(), durable=subjects.SCHEDULER_CONSUMER, stream=subjects.EVENTS_STREAM
    )
    (held,) = await dead.fetch(1, timeout=5)
    assert held.subject == subjects.job_event("j1", "output_stored")
    await publish(nc, ev.JobSucceeded(job_id="j1", attempt=run.attempt, backend_id="gpu-a"))

    async with running_scheduler(nats_url, db, ack_wait_s=30.0) as second:
        await eventually(lambda: second.state.jobs["j1"].state == JobState.SUCCEEDED, what="j1 succeeded")
        outputs = second.state.jobs["j1"].outputs
        assert outputs is not None and [o.artifact_id for o in outputs] == ["j1-out"]
        live = second.state.snapshot()
    assert replay(db).snapshot() == live
