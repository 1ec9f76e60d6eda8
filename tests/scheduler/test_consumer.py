"""The consumer on the real wire: every event ends in DuckDB exactly once, poison never blocks, crashes re-decide
nothing, and replaying the log from zero gives exactly the live state."""

from __future__ import annotations

import asyncio

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.contracts.rpc import JobState
from orch_scheduler import EventLog, Scheduler, replay
from orch_scheduler.service import Scheduler as _Scheduler
from tests.scheduler.conftest import running_scheduler, scheduler_settings
from tests.scheduler.factories import submitted
from tests.scheduler.wire import consumer_drained, eventually, publish, stream_events


def _rows(db, sql: str, *params):
    log = EventLog(db)
    try:
        return log._con.execute(sql, list(params)).fetchall()
    finally:
        log.close()


async def test_events_published_to_the_stream_end_in_duckdb_exactly_once(nats_url, nc, tmp_path):
    db = tmp_path / "events.duckdb"
    async with running_scheduler(nats_url, db) as scheduler:
        for i in range(30):
            event = submitted(f"job-{i}", required_classes=["Nowhere"])
            await publish(nc, event)
            await publish(nc, event)  # deduplicated by JetStream (same Nats-Msg-Id)
            await publish(nc, event, msg_id=False)  # stored twice in the stream: the log must dedupe
        await eventually(lambda: len(scheduler.state.jobs) == 30, what="30 jobs folded")
        await consumer_drained(nc)
        live = scheduler.state.snapshot()
    assert _rows(db, "SELECT count(*), count(DISTINCT event_id) FROM events") == [(30, 30)]
    assert replay(db).snapshot() == live


async def test_a_poison_message_is_terminated_and_does_not_block_the_events_behind_it(nats_url, nc, tmp_path):
    async with running_scheduler(nats_url, tmp_path / "events.duckdb") as scheduler:
        js = nc.jetstream()
        await js.publish(subjects.job_event("bad", "submitted"), b"{not json", stream=subjects.EVENTS_STREAM)
        await js.publish(subjects.job_event("bad", "submitted"), b'{"type": "job.submitted"}')
        await publish(nc, submitted("good", required_classes=["Nowhere"]))
        await eventually(lambda: "good" in scheduler.state.jobs, what="the good event")
        assert scheduler.event_log.count() == 1


async def test_a_crash_after_commit_before_ack_neither_duplicates_rows_nor_decides_twice(nats_url, nc, agent, tmp_path):
    db = tmp_path / "events.duckdb"
    gpu = await agent("gpu-a")
    first = _Scheduler(scheduler_settings(nats_url, db, ack_wait_s=1.0))
    committed = asyncio.Event()

    async def crash_point(msgs) -> None:
        if any(m.subject == subjects.job_event("j1", "submitted") for m in msgs):
            committed.set()
            await asyncio.Event().wait()  # never returns: the process "dies" here

    first.after_commit = crash_point
    await first.start()
    try:
        await publish(nc, submitted("j1"))
        await asyncio.wait_for(committed.wait(), 15)
    finally:
        await first.crash()
    assert _rows(db, "SELECT count(*) FROM events WHERE job_id = 'j1'") == [(1,)]

    async with running_scheduler(nats_url, db, ack_wait_s=1.0) as second:
        run = await gpu.next_command()
        assert (run.job_id, run.attempt) == ("j1", 1)
        await gpu.succeed(run)
        await eventually(lambda: second.state.jobs["j1"].state == JobState.SUCCEEDED, what="j1 succeeded")
        # the redelivered JobSubmitted (ack_wait 1 s) is logged already: nothing new, nothing re-decided
        await eventually(
            lambda: second.state.ignored + second.state.applied >= 4 and second.batches >= 2, what="redelivery"
        )
        await asyncio.sleep(1.5)
        live = second.state.snapshot()
    scheduled = await stream_events(nc, subjects.job_event("j1", "scheduled"))
    assert [e["attempt"] for e in scheduled] == [1]
    assert _rows(db, "SELECT count(*), count(DISTINCT event_id) FROM events WHERE job_id = 'j1'") == [(4, 4)]
    assert await gpu.pending_commands() == 0
    assert replay(db).snapshot() == live


async def test_a_crash_after_deciding_but_before_ack_sends_no_second_decision(nats_url, nc, agent, tmp_path):
    db = tmp_path / "events.duckdb"
    gpu = await agent("gpu-a")
    first = _Scheduler(scheduler_settings(nats_url, db, ack_wait_s=1.0))
    decided = asyncio.Event()

    async def crash_point(msgs) -> None:
        if any(m.subject == subjects.job_event("j1", "submitted") for m in msgs):
            decided.set()
            await asyncio.Event().wait()

    first.before_ack = crash_point
    await first.start()
    try:
        await publish(nc, submitted("j1"))
        await asyncio.wait_for(decided.wait(), 15)
        prompt_id = first.state.jobs["j1"].attempts[0].prompt_id
    finally:
        await first.crash()

    async with running_scheduler(nats_url, db, ack_wait_s=1.0) as second:
        run = await gpu.next_command()
        assert (run.job_id, run.attempt, run.prompt_id) == ("j1", 1, prompt_id)
        await asyncio.sleep(2.0)  # the JobSubmitted and the JobScheduled echo are redelivered / delivered
        assert second.state.jobs["j1"].state == JobState.SCHEDULED
        assert [a.number for a in second.state.jobs["j1"].attempts] == [1]
    scheduled = await stream_events(nc, subjects.job_event("j1", "scheduled"))
    assert [(e["attempt"], e["prompt_id"]) for e in scheduled] == [(1, prompt_id)]
    assert await gpu.pending_commands() == 0  # the re-sent RunJob was deduplicated by its command id


async def test_a_restarted_scheduler_rebuilds_its_state_from_the_log_and_resumes(nats_url, nc, agent, tmp_path):
    db = tmp_path / "events.duckdb"
    gpu = await agent("gpu-a")
    async with running_scheduler(nats_url, db) as scheduler:
        await publish(nc, submitted("j1"))
        run = await gpu.next_command()
        await gpu.start(run)
        await eventually(lambda: scheduler.state.jobs["j1"].state == JobState.RUNNING, what="running")
        before = scheduler.state.snapshot()
    restarted = Scheduler(scheduler_settings(nats_url, db))
    await restarted.start()
    try:
        assert restarted.state.snapshot() == before
        await publish(nc, ev.JobSucceeded(job_id="j1", attempt=1, backend_id="gpu-a"))
        await eventually(lambda: restarted.state.jobs["j1"].state == JobState.SUCCEEDED, what="succeeded")
    finally:
        await restarted.stop()


async def test_a_decision_the_log_could_not_record_is_logged_when_it_comes_back_and_folded_once(
    nats_url, nc, agent, tmp_path
):
    db = tmp_path / "events.duckdb"
    gpu = await agent("gpu-a")
    async with running_scheduler(nats_url, db) as scheduler:
        real_append = scheduler.event_log.append
        refused: list[str] = []

        def append_failing_once_for_decisions(records):
            if not refused and any(r.type == "job.scheduled" for r in records):
                refused.extend(r.event_id for r in records)
                raise OSError("disk full (simulated)")
            return real_append(records)

        scheduler.event_log.append = append_failing_once_for_decisions  # type: ignore[method-assign]
        await publish(nc, submitted("j1"))
        run = await gpu.next_command()  # the RunJob goes out before the decision is appended to the log
        await eventually(lambda: bool(refused), what="the log refusing the decision")
        await eventually(lambda: _logged(scheduler, refused[0]), what="the decision logged from its echo")
        await gpu.succeed(run)
        await eventually(lambda: scheduler.state.jobs["j1"].state == JobState.SUCCEEDED, what="j1 succeeded")
        await consumer_drained(nc)
        live = scheduler.state.snapshot()
        assert [a.number for a in scheduler.state.jobs["j1"].attempts] == [1]
    assert _rows(db, "SELECT count(*), count(DISTINCT event_id) FROM events WHERE job_id = 'j1'") == [(4, 4)]
    assert replay(db).snapshot() == live


def _logged(scheduler, event_id: str) -> bool:
    return bool(scheduler.event_log.payloads_by_id([event_id]))
