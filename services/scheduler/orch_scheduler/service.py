"""The scheduler service: consume events, log them, fold them, decide, publish decisions, answer RPCs.

One batch at a time, in this order (a message is acked only after its commit):

    fetch ≤ batch_size from the durable consumer (through `BatchPuller`)
      → parse (a poison message is termed and logged, never retried)
      → append to the DuckDB log in one transaction (commit)       → `after_commit` hook (tests)
      → fold the events the log reported as new
      → decide: publish the round's decision events pipelined (Nats-Msg-Id = event_id), fold each one JetStream
        stored, send the commands they call for; further rounds until nothing is left; then log the decisions
      → `before_ack` hook (tests) → ack the batch
    (a batch that fails, e.g. the log cannot be written, is nak'd with a delay and redelivered)

Decisions are folded as soon as JetStream stored them, so the state always reflects them, and appended to the log
when the rounds settle (before the batch's ack); when the same event comes back through the consumer it is not new
and changes nothing. On start-up the state is rebuilt
from the log, RunJob is re-sent for attempts scheduled but not started (deduplicated by its command id) and a
decision round answers whatever the log left open, so a crash between commit and ack decides nothing twice.
A logged JobScheduled stays owed its RunJob until JetStream has stored the command, so a publish failure
between the two is retried on the next tick rather than leaving the attempt stranded.

Backend liveness comes from the KV bucket: a key not refreshed for the heartbeat TTL, or deleted, makes the
scheduler publish BackendLost. The scheduler's own NATS outage is not the backends' fault: while it is
disconnected, and for one TTL after it reconnected and its KV watch is running again, every backend counts as
seen (a grace period), so a nats-server restart declares nobody lost. When an attempt is declared lost, its agent
is sent CancelJob for it (see `decide`); when the fold accepts a late success of a superseded attempt whose retry
was already placed, the retry's agent is sent CancelJob for the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, Header, PubAck

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob, RunJob, command_subject
from orch_common.contracts.rpc import RpcError, RpcReply, RpcVerb
from orch_common.natsutil import connect, wait_for_topology
from orch_scheduler.decoding import parse_event_bytes, parse_message
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import BackendStatus, SchedulerState
from orch_scheduler.errors import PoisonMessageError, RpcRequestError
from orch_scheduler.eventlog import EventLog, LogRecord, record_of
from orch_scheduler.payloads import SubmittedPayloads
from orch_scheduler.puller import BatchPuller
from orch_scheduler.replay import replay_log
from orch_scheduler.rpc import RpcHandlers
from orch_scheduler.settings import SchedulerSettings

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)

_MAX_ROUNDS = 16
_INERT = (ev.JobProgressed, ev.JobNodeExecuted, ev.JobOutputStored)
"""Events whose fold changes nothing `decide` reads (a job's progress and outputs; a downstream node waits for
its upstream's JobSucceeded, which follows the outputs): a batch of only these needs no decision round."""
_PUBLISH_TIMEOUT_S = 5.0
_KV_DELETE_OPS = frozenset({"DEL", "PURGE"})


class Scheduler:
    """The running scheduler. Use `async with Scheduler(settings) as s:` or `await s.start()` / `await s.stop()`."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        clock: Callable[[], datetime] = ev.utcnow,
        new_prompt_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.new_prompt_id = new_prompt_id
        self.state = SchedulerState()
        # Test seams: awaited after the batch's commit, and after its decisions just before its ack.
        self.after_commit: Callable[[list[Msg]], Awaitable[None]] | None = None
        self.before_ack: Callable[[list[Msg]], Awaitable[None]] | None = None
        self.batches = 0
        self._log: EventLog | None = None
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._puller: BatchPuller | None = None
        self._rpc_subs: list[Subscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._act_pending = False
        self._cancels_sent: set[str] = set()
        self._runs_owed: list[ev.JobScheduled] = []  # folded placements whose RunJob is not yet in JetStream
        self._unlogged: set[str] = set()  # ids of decisions folded but not yet appended to the log
        self._submitted = SubmittedPayloads()  # recent JobSubmitted payloads: a RunJob needs no log read for them
        self._heartbeats: dict[str, float] = {}  # backend id → monotonic time of its last KV put
        self._deregistered: set[str] = set()
        self._last_seen: dict[str, datetime] = {}
        self._lost_sent: set[tuple[str, str]] = set()
        self._started_at = time.monotonic()
        self._grace_from = time.monotonic()  # heartbeats are judged from here at the earliest (see _grace)
        self._watch_ok = False  # the KV watch is running (set by _watch_backends)
        self._reconnects = 0
        self._watch_restart = asyncio.Event()
        self._ttl = settings.heartbeat_ttl_s or subjects.BACKEND_HEARTBEAT_TTL_S
        self.rpc = RpcHandlers(lambda: self.state, lambda: self.event_log, self._last_seen)

    @property
    def event_log(self) -> EventLog:
        if self._log is None:
            raise RuntimeError("the scheduler is not started")
        return self._log

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Open the log, rebuild the state, connect, and start consuming, watching and answering."""
        self._log = EventLog(self.settings.db)
        self.state = replay_log(self._log)
        log.info(
            "scheduler: replayed %d events (%d jobs, %d queued) from %s",
            self.state.applied + self.state.ignored,
            len(self.state.jobs),
            self.state.queued_count(),
            self.settings.db,
        )
        self._nc = await connect(self.settings.nats_url, "scheduler")
        self._js = self._nc.jetstream()
        await wait_for_topology(self._js, timeout=self.settings.topology_timeout_s)
        self._sub = await self._js.pull_subscribe(
            subjects.all_events(),
            durable=subjects.SCHEDULER_CONSUMER,
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self.settings.ack_wait_s,
                max_ack_pending=self.settings.max_ack_pending,
                max_deliver=-1,
            ),
        )
        # batches come through our own puller (nats-py's fetch costs a task and a timer per message)
        self._puller = BatchPuller(self._nc, subjects.EVENTS_STREAM, subjects.SCHEDULER_CONSUMER)
        await self._puller.start()
        for verb in self.rpc.verbs:
            self._rpc_subs.append(
                await self._nc.subscribe(
                    subjects.rpc(verb.value), queue=self.settings.rpc_queue_group, cb=self._rpc_callback(verb)
                )
            )
        await self._nc.flush()  # the server knows the RPC subscriptions before start() returns
        self._started_at = time.monotonic()
        async with self._lock:
            await self._catch_up()
            self._owe_unstarted_runs()
            await self._act()
        self._tasks = [
            asyncio.create_task(self._consume(), name="scheduler-consume"),
            asyncio.create_task(self._watch_backends(), name="scheduler-kv-watch"),
            asyncio.create_task(self._check_liveness(), name="scheduler-liveness"),
        ]

    def request_stop(self) -> None:
        """Ask the consume loop to finish its batch and stop (safe from a signal handler)."""
        self._stopping.set()

    async def wait_stopped(self) -> None:
        await self._stopping.wait()

    async def stop(self) -> None:
        """Finish the current batch, ack it, stop the watchers, close NATS and the log."""
        self._stopping.set()
        consume = self._tasks[0] if self._tasks else None
        if consume is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(consume, timeout=self.settings.fetch_wait_s + 10)
        for task in self._tasks[1:]:
            task.cancel()
        await _settle(self._tasks[1:])
        self._tasks = []
        if self._puller is not None:
            await self._puller.close()  # what it holds unhandled is nak'd: redelivered at once, not after ack_wait
            self._puller = None
        await self._close_nats()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def crash(self) -> None:
        """Stop at once, without acking anything in flight (for crash tests): cancel, close the connection."""
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await _settle(self._tasks)
        self._tasks = []
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _close_nats(self) -> None:
        for sub in self._rpc_subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._rpc_subs = []
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=5)  # the last acks leave before the connection closes
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------ consuming

    async def _consume(self) -> None:
        assert self._puller is not None
        while not self._stopping.is_set():
            try:
                msgs = await self._puller.fetch(self.settings.batch_size, self._fetch_wait())
            except Exception as exc:  # connection trouble: the client reconnects, we retry
                if self._stopping.is_set():
                    return
                log.warning("scheduler: fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            async with self._lock:
                try:
                    if msgs:
                        await self._handle_batch(msgs)
                    elif self._act_pending or self._retry_due():
                        await self._act()
                except Exception:
                    # e.g. the event log could not be written: nothing of the batch was acked; redeliver it soon
                    log.exception("scheduler: batch of %d messages failed (redelivered shortly)", len(msgs))
                    for msg in msgs:
                        with contextlib.suppress(Exception):
                            await msg.nak(delay=1.0)
                    await asyncio.sleep(1.0)

    def _fetch_wait(self) -> float:
        wait = self.settings.fetch_wait_s
        due = self.state.earliest_not_before()
        if due is not None:
            wait = min(wait, max(0.01, (due - self.clock()).total_seconds()))
        return wait

    def _retry_due(self) -> bool:
        due = self.state.earliest_not_before()
        return due is not None and due <= self.clock()

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        records: list[LogRecord] = []
        parsed: list[Any] = []
        good: list[Msg] = []
        for msg in msgs:
            try:
                event, record = parse_message(msg)
            except PoisonMessageError as exc:
                log.error("scheduler: terminating poison message on %s: %s", msg.subject, exc)
                with contextlib.suppress(Exception):
                    await msg.term()
                continue
            records.append(record)
            parsed.append(event)
            good.append(msg)
        # The commit (an error here leaves the batch unacked). In a thread: DuckDB releases the GIL while it
        # writes and syncs, so RPCs, heartbeats and incoming messages keep flowing meanwhile.
        new = await asyncio.to_thread(self.event_log.append, records)
        if self.after_commit is not None:
            await self.after_commit(good)
        superseded: list[CancelJob] = []
        decisive = False
        for event, record, is_new in zip(parsed, records, new, strict=True):
            if self._unlogged and record.event_id in self._unlogged:
                self._unlogged.discard(record.event_id)  # a decision folded when it was made: now logged too
                continue
            if is_new and event is not None:
                before = self.state.applied
                apply(self.state, event)
                if self.state.applied > before:
                    decisive = decisive or not isinstance(event, _INERT)
                if isinstance(event, ev.JobSubmitted) and self.state.applied > before:
                    self._submitted.put(event.job_id, record.payload)
                if isinstance(event, ev.JobSucceeded) and self.state.applied > before:
                    superseded += self._superseded_retry(event)
        for cancel in superseded:
            with contextlib.suppress(Exception):  # best effort: the fold ignores whatever that attempt reports
                await self._publish_command(cancel)
        if decisive or self._act_pending or self._retry_due():
            await self._act()
        if self.before_ack is not None:
            await self.before_ack(good)
        for msg in good:
            with contextlib.suppress(Exception):
                await msg.ack()
        self.batches += 1

    async def _catch_up(self) -> None:
        """Log and fold, in stream order, what a previous instance was delivered but never acked (it crashed).

        JetStream would redeliver those only after `ack_wait`, behind newer events: a JobSucceeded would then be
        folded before the JobOutputStored it follows, and the job would stay succeeded without its outputs. The
        later redelivery finds them logged (nothing new) and is simply acked.
        """
        assert self._js is not None
        info = await self._js.consumer_info(subjects.EVENTS_STREAM, subjects.SCHEDULER_CONSUMER)
        first = (info.ack_floor.stream_seq or 0) + 1 if info.ack_floor else 1
        last = (info.delivered.stream_seq or 0) if info.delivered else 0
        parsed: list[Any] = []
        records: list[LogRecord] = []
        for seq in range(first, last + 1):
            try:
                raw = await self._js.get_msg(subjects.EVENTS_STREAM, seq=seq)
            except nats.js.errors.NotFoundError:
                continue
            try:
                event, record = parse_event_bytes(raw.data or b"", raw.headers, raw.subject or "", seq)
            except PoisonMessageError:
                continue  # the consumer terms it when it comes back
            parsed.append(event)
            records.append(record)
        if not records:
            return
        new = await asyncio.to_thread(self.event_log.append, records)
        for event, is_new in zip(parsed, new, strict=True):
            if is_new and event is not None:
                apply(self.state, event)
        log.info("scheduler: caught up %d unacked events of the previous run (%d new)", len(records), sum(new))

    # --------------------------------------------------------------------------------------------- acting

    async def _act(self) -> None:
        """Run decision rounds until the state asks for nothing more (or publishing fails: retried later).

        Each round's events are published pipelined and folded as soon as JetStream stored them, so the next round
        and the RunJob commands (sent right after) need no DuckDB commit; the rounds' events are appended to the
        log together at the end, in the order they were folded. An event folded but not yet logged is remembered
        in `_unlogged`: when it comes back through the consumer it is logged there and not folded again.
        """
        self._act_pending = False
        pending: list[LogRecord] = []
        try:
            await self._send_owed_runs()
            for _ in range(_MAX_ROUNDS):
                decisions = decide(
                    self.state,
                    self.clock(),
                    max_inflight=self.settings.max_inflight_per_backend,
                    new_prompt_id=self.new_prompt_id,
                    cancels_sent=self._cancels_sent,
                    policy=self.settings.placement_policy,
                    queue_ahead_s=self.settings.queue_ahead_s,
                    max_depth=self.settings.max_queue_depth,
                )
                if not decisions:
                    return
                stored, failure = await self._publish_events(decisions.events)
                self._runs_owed.extend(self._fold_decisions(stored, pending))
                if failure is not None:
                    raise failure
                await self._send_owed_runs()
                await self._publish_commands(decisions.cancels)
                self._cancels_sent.update(cancel.command_id for cancel in decisions.cancels)
            log.warning("scheduler: decisions did not settle after %d rounds", _MAX_ROUNDS)
            self._act_pending = True
        except Exception as exc:
            log.warning("scheduler: could not publish decisions (will retry): %s", exc)
            self._act_pending = True
        finally:
            if pending:
                await self._log_decisions(pending)

    def _superseded_retry(self, succeeded: ev.JobSucceeded) -> list[CancelJob]:
        """CancelJob for the retry a late success of an older attempt superseded (the fold ended it unstarted)."""
        job = self.state.jobs.get(succeeded.job_id)
        attempts = job.attempts if job is not None and job.attempts else []
        return [
            CancelJob(backend_id=a.backend_id, job_id=succeeded.job_id, attempt=a.number, prompt_id=a.prompt_id)
            for a in attempts
            if a.number > succeeded.attempt and a.outcome == "superseded"
        ]

    def _fold_decisions(self, stored: list[tuple[Any, LogRecord]], pending: list[LogRecord]) -> list[ev.JobScheduled]:
        """Fold published decisions (owed to the log: added to `pending`); the JobScheduled that took effect."""
        scheduled: list[ev.JobScheduled] = []
        for event, record in stored:
            if record.event_id in self._unlogged:
                continue  # a decision JetStream handed back as a duplicate of one already folded
            self._unlogged.add(record.event_id)
            pending.append(record)
            before = self.state.applied
            apply(self.state, event)
            if isinstance(event, ev.JobScheduled) and self.state.applied > before:
                scheduled.append(event)
            elif isinstance(event, ev.JobSubmitted) and self.state.applied > before:  # a project run's next node
                self._submitted.put(event.job_id, record.payload)
        return scheduled

    async def _log_decisions(self, pending: list[LogRecord]) -> None:
        """Append folded decisions to the log. If that fails they stay in `_unlogged`: the consumer, which gets
        every published event back, logs them then (without folding them a second time)."""
        try:
            await asyncio.to_thread(self.event_log.append, pending)
        except Exception as exc:
            log.error("scheduler: %d decisions not logged yet (logged when they come back): %s", len(pending), exc)
            return
        self._unlogged.difference_update(record.event_id for record in pending)

    async def _publish_events(self, events: list[Any]) -> tuple[list[tuple[Any, LogRecord]], Exception | None]:
        """Publish decisions pipelined; the ones stored, in order, up to the first failure (and that failure).

        When JetStream already holds an event with its id, that stored event wins."""
        payloads = [event.model_dump_json() for event in events]
        acks = await self._publish_many(
            [(event.subject, payload, event.event_id) for event, payload in zip(events, payloads, strict=True)],
            subjects.EVENTS_STREAM,
        )
        stored: list[tuple[Any, LogRecord]] = []
        for event, payload, ack in zip(events, payloads, acks, strict=True):
            if isinstance(ack, Exception):
                return stored, ack
            if ack.duplicate:
                stored.append(await self._stored_event(event, payload, ack.seq))
            else:
                stored.append((event, record_of(event, stream_seq=ack.seq, payload=payload)))
        return stored, None

    async def _stored_event(self, event: Any, payload: str, seq: int) -> tuple[Any, LogRecord]:
        assert self._js is not None
        with contextlib.suppress(Exception):
            raw = await self._js.get_msg(subjects.EVENTS_STREAM, seq=seq)
            if raw.data:
                stored_event = ev.parse_event(raw.data)
                if stored_event.event_id == event.event_id:
                    return stored_event, record_of(stored_event, stream_seq=seq, payload=raw.data.decode())
        return event, record_of(event, stream_seq=seq, payload=payload)

    async def _publish_event(self, event: Any) -> tuple[Any, LogRecord]:
        """Publish one event (not a decision: it is logged when it comes back through the consumer)."""
        stored, failure = await self._publish_events([event])
        if failure is not None:
            raise failure
        return stored[0]

    async def _publish_many(self, items: list[tuple[str, str, str]], stream: str) -> list[PubAck | Exception]:
        """Publish (subject, payload, message id) items without waiting between them; each one's ack or error."""
        assert self._js is not None
        futures: list[asyncio.Future[PubAck]] = []
        for subject, payload, msg_id in items:
            futures.append(
                await self._js.publish_async(
                    subject, payload.encode(), stream=stream, headers={Header.MSG_ID.value: msg_id}
                )
            )
        done, _ = await asyncio.wait(futures, timeout=_PUBLISH_TIMEOUT_S) if futures else (set(), set())
        results: list[PubAck | Exception] = []
        for future in futures:
            if future not in done:
                future.cancel()
                results.append(TimeoutError(f"no ack from JetStream within {_PUBLISH_TIMEOUT_S:g}s"))
            elif (error := future.exception()) is not None:
                results.append(error if isinstance(error, Exception) else RuntimeError(str(error)))
            else:
                results.append(future.result())
        return results

    async def _publish_commands(self, commands: Sequence[RunJob | CancelJob]) -> None:
        """Publish commands pipelined; raises the first failure (message ids make a re-send harmless)."""
        acks = await self._publish_many(
            [(command_subject(cmd), cmd.model_dump_json(), cmd.command_id) for cmd in commands],
            subjects.COMMANDS_STREAM,
        )
        for ack in acks:
            if isinstance(ack, Exception):
                raise ack

    async def _publish_command(self, cmd: RunJob | CancelJob) -> None:
        await self._publish_commands([cmd])

    async def _send_owed_runs(self) -> None:
        """Send RunJob for every JobScheduled still owed one, pipelined; they leave the list once JetStream has
        them (on a failure all stay owed: the ones that did get through are deduplicated by their command id)."""
        if not self._runs_owed:
            return
        owed = list(self._runs_owed)
        live = [s for s in owed if self._still_owed(s)]
        await self._publish_commands(self._run_commands(live))
        del self._runs_owed[: len(owed)]

    def _still_owed(self, owed: ev.JobScheduled) -> bool:
        job = self.state.jobs.get(owed.job_id)
        att = job.in_flight if job is not None else None
        return att is not None and att.number == owed.attempt and att.prompt_id == owed.prompt_id

    def _submitted_payloads(self, scheduled: list[ev.JobScheduled]) -> dict[str, str]:
        """Job id → its JobSubmitted payload: from the recent ones kept in memory, the others in one log query."""
        found: dict[str, str] = {}
        missing: list[str] = []
        for s in scheduled:
            payload = self._submitted.get(s.job_id)
            if payload is None:
                missing.append(s.job_id)
            else:
                found[s.job_id] = payload
        if missing:
            logged = self.event_log.payloads_by_id(f"{job_id}:submitted" for job_id in missing)
            found.update((event_id.removesuffix(":submitted"), payload) for event_id, payload in logged.items())
        return found

    def _run_commands(self, scheduled: list[ev.JobScheduled]) -> list[RunJob]:
        if not scheduled:
            return []
        submitted = self._submitted_payloads(scheduled)
        commands: list[RunJob] = []
        for s in scheduled:
            payload = submitted.get(s.job_id)
            if payload is None:  # pragma: no cover - a job is only known through its JobSubmitted
                log.error("scheduler: job %s has no JobSubmitted in the log", s.job_id)
                continue
            job = json.loads(payload)
            labels = job.get("labels") or {}
            previews = labels.get("previews", "true") != "false"
            commands.append(
                RunJob(
                    backend_id=s.backend_id,
                    job_id=s.job_id,
                    attempt=s.attempt,
                    prompt_id=s.prompt_id,
                    workflow=job["workflow"],
                    inputs=job.get("inputs") or [],
                    extra_data={"preview_method": "auto"} if previews else {},
                    previews=previews,
                    expected_seconds=self._expected_seconds(s, labels),
                )
            )
        return commands

    def _expected_seconds(self, scheduled: ev.JobScheduled, labels: dict[str, Any]) -> float:
        """The longest measured run of this workflow shape on that backend, else the job's `expected_seconds`
        label, else the `default_expected_s` setting (the agent declares a job hung after twice this without
        progress). Measurements are not used when the job must first load another checkpoint there: runs that
        found their checkpoint loaded say nothing about how long a load takes."""
        job = self.state.jobs.get(scheduled.job_id)
        backend = self.state.backends.get(scheduled.backend_id)
        if job is not None and backend is not None:
            measured = self.state.perf.longest(job.signature, scheduled.backend_id)
            switching = job.checkpoint is not None and job.checkpoint != backend.loaded_checkpoint
            if measured is not None and not switching:
                return measured
        labelled = _expected_seconds(labels)
        return labelled if labelled is not None else self.settings.default_expected_s

    def _owe_unstarted_runs(self) -> None:
        """After a restart: RunJob is owed again to every attempt scheduled but not started (deduplicated by id)."""
        self._runs_owed += [
            ev.JobScheduled(
                job_id=job.id,
                attempt=att.number,
                backend_id=att.backend_id,
                prompt_id=att.prompt_id,
                occurred_at=att.scheduled_at,
            )
            for job in self.state.jobs.values()
            if (att := job.in_flight) is not None and att.started_at is None
        ]

    # ------------------------------------------------------------------------------------------- liveness

    async def _watch_backends(self) -> None:
        assert self._js is not None
        while not self._stopping.is_set():
            try:
                kv = await self._js.key_value(subjects.BACKENDS_BUCKET)
                watcher = await kv.watchall()
                self._watch_restart.clear()
                self._watch_ok = True
                self._grace_from = time.monotonic()
                try:
                    while not self._stopping.is_set() and not self._watch_restart.is_set():
                        try:
                            entry = await watcher.updates(timeout=1.0)  # type: ignore[no-untyped-call]
                        except TimeoutError:
                            continue
                        if entry is not None:
                            self._on_kv_entry(entry.key, entry.value, entry.operation)
                finally:
                    self._watch_ok = False
                    with contextlib.suppress(Exception):
                        await watcher.stop()  # type: ignore[no-untyped-call]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._watch_ok = False
                log.warning("scheduler: backend watch failed (restarting): %s", exc)
                await asyncio.sleep(0.5)

    def _on_kv_entry(self, key: str, value: bytes | None, operation: str | None) -> None:
        backend_id = _backend_id_of(key, value)
        if operation in _KV_DELETE_OPS:
            self._deregistered.add(backend_id)
            self._heartbeats.pop(backend_id, None)
        else:
            self._deregistered.discard(backend_id)
            self._heartbeats[backend_id] = time.monotonic()
            self._last_seen[backend_id] = self.clock()

    def _grace(self, now: float) -> None:
        """Restart the grace period while our own link is down, and after a reconnect (then re-watch the KV)."""
        nc = self._nc
        if nc is None or not nc.is_connected or not self._watch_ok:
            self._grace_from = now
            return
        reconnects = int(nc.stats.get("reconnects", 0))
        if reconnects != self._reconnects:
            self._reconnects = reconnects
            self._grace_from = now
            self._watch_restart.set()  # a watch from before the outage may never deliver again

    async def _check_liveness(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(self.settings.liveness_check_s)
            now = time.monotonic()
            self._grace(now)
            for backend in list(self.state.backends.values()):
                if backend.status != BackendStatus.LIVE:
                    continue
                key = (backend.id, backend.agent_instance)
                if key in self._lost_sent:
                    continue
                seen = max(self._heartbeats.get(backend.id, self._started_at), self._grace_from)
                if backend.id in self._deregistered:
                    reason = "deregistered (its heartbeat key was deleted)"
                elif now - seen > self._ttl:
                    reason = f"no heartbeat for {self._ttl:g}s"
                else:
                    continue
                lost = ev.BackendLost(
                    backend_id=backend.id,
                    agent_instance=backend.agent_instance,
                    reason=reason,
                    occurred_at=self.clock(),
                )
                try:
                    await self._publish_event(lost)
                except Exception as exc:
                    log.warning("scheduler: could not publish BackendLost for %s: %s", backend.id, exc)
                    continue
                log.warning("scheduler: backend %s lost: %s", backend.id, reason)
                self._lost_sent.add(key)

    # ------------------------------------------------------------------------------------------------ RPC

    def _rpc_callback(self, verb: RpcVerb) -> Callable[[Msg], Awaitable[None]]:
        async def on_request(msg: Msg) -> None:
            if not msg.reply:
                return
            try:
                request = json.loads(msg.data) if msg.data.strip() else {}
                if not isinstance(request, dict):
                    raise RpcRequestError(f"{verb.value}: the request must be a JSON object")
                reply = RpcReply(result=self.rpc.handle(verb, request))
            except json.JSONDecodeError as exc:
                reply = RpcReply(error=RpcError(code="bad_request", message=f"{verb.value}: invalid JSON: {exc}"))
            except RpcRequestError as exc:
                reply = RpcReply(error=RpcError(code=exc.code, message=str(exc)))
            except Exception as exc:
                log.exception("scheduler: %s failed", verb.value)
                reply = RpcReply(error=RpcError(code="internal", message=f"{verb.value} failed: {exc}"))
            with contextlib.suppress(Exception):
                await msg.respond(reply.model_dump_json().encode())

        return on_request


async def _settle(tasks: list[asyncio.Task[None]], timeout: float = 5.0) -> None:
    """Wait for cancelled tasks to end, but never longer than `timeout` (a stuck library await must not hang)."""
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


def _backend_id_of(key: str, value: bytes | None) -> str:
    """A KV entry's backend id: the `backend_id` in its JSON value when there is one, else the key."""
    if value:
        try:
            data = json.loads(value)
        except ValueError:
            return key
        if isinstance(data, dict) and isinstance(data.get("backend_id"), str):
            return str(data["backend_id"])
    return key


def _expected_seconds(labels: dict[str, Any]) -> float | None:
    try:
        return float(labels["expected_seconds"]) if "expected_seconds" in labels else None
    except (TypeError, ValueError):
        return None
