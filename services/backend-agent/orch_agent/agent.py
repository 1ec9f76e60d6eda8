"""The backend agent: one beside each ComfyUI, between it and the orchestrator's NATS.

::

    agent = Agent(AgentSettings(backend_id="gpu-1", comfy_url="http://127.0.0.1:8188"))
    await agent.run()          # until agent.request_stop() (SIGTERM), then drains

It runs six loops:

- commands: its durable pull consumer on ORCH_COMMANDS, with a pull request always waiting at the server
  (:mod:`orch_agent.commandfeed`); `RunJob` uploads inputs (unless ComfyUI already has the same bytes:
  :mod:`orch_agent.uploads`), submits the prompt under the command's prompt id and publishes `JobStarted`;
  `CancelJob` interrupts or dequeues that one prompt. A command is acked only once its events are published.
  Only a redelivered command, or one stored before this agent started, first asks ComfyUI whether it has the
  prompt already.
- socket: the one ComfyUI websocket, translated by :mod:`orch_agent.translate`; reconnects with backoff and
  then reconciles every in-flight prompt (`/queue` + `/history`).
- tick: coalesced progress, hang detection, and declaring ComfyUI unreachable after `unreachable_after_s`.
- heartbeat: the registration and status (`BackendHeartbeat`) in the KV bucket every second.
- capabilities: registers as soon as ComfyUI answers; re-registers when object_info's hash changes.
- metrics: `BackendMetrics` every second on core NATS (GPU readings from NVML, a sim's `/sim/gpu` or
  `/system_stats`: :mod:`orch_agent.gpu`); the queue length and running prompt include prompts others queued.

Durable work for one attempt (events, output copies, the final decision) runs in that attempt's own worker,
strictly in order. Its events are published without waiting for each ack (in order, on one connection); the acks
are collected before the terminal event, which is published only then, so `JobSucceeded` always follows every
`JobOutputStored`. `/history` is read at the end only when the socket alone cannot settle the attempt (see
`Agent._finish`). The routes called for every job (`POST /prompt`, `GET /view`, `GET /history/{id}`, uploads)
go through :mod:`orch_agent.comfy_fast`, a keep-alive client far cheaper than httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict

from orch_agent.capabilities import build_capabilities
from orch_agent.comfy_fast import HotComfy
from orch_agent.commandfeed import CommandFeed
from orch_agent.errors import InputBindingError, InputFetchError, OutputStoreError
from orch_agent.gpu import GpuReader
from orch_agent.outputs import artifact_key, classify, content_type_for, node_outputs, text_filename
from orch_agent.settings import AgentSettings
from orch_agent.translate import AttemptRef, AttemptTracker, Finish, Intent, Live, Publish, Router, StoreOutputs
from orch_agent.uploads import UploadCache
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.errors import ComfyConnectionError, ComfyError, ComfyTimeout, ComfyValidationError
from orch_common.comfy.reconcile import PromptState, determine_fate
from orch_common.comfy.wire import HistoryEntry, OutputFileItem, OutputItem, OutputText
from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob, RunJob, parse_command
from orch_common.contracts.events import (
    BackendLost,
    BackendRegistered,
    EventBase,
    FailureReason,
    InputBinding,
    JobAttemptFailed,
    JobCancelled,
    JobOutputStored,
    JobStarted,
    JobSucceeded,
    parse_event,
    utcnow,
)
from orch_common.contracts.live import BackendMetrics, LiveProgress
from orch_common.natsutil import connect, wait_for_topology
from orch_common.natsutil.objects import (
    ArtifactError,
    ArtifactInfo,
    get_artifact,
    put_artifact,
    read_artifact_info,
    stream_artifact,
)

__all__ = ["Agent", "BackendHeartbeat", "HeartbeatStatus"]

log = logging.getLogger(__name__)

HeartbeatStatus = Literal["starting", "ready", "unreachable", "draining"]
_TERMINAL = (JobAttemptFailed, JobCancelled, JobSucceeded)
_FINISHED_MEMORY = 1024
_STORE_TRIES = 3
_MAX_UNACKED = 64
_ACK_TIMEOUT = 5.0


class BackendHeartbeat(BaseModel):
    """The value of this backend's key in the KV bucket, rewritten every second."""

    model_config = ConfigDict(frozen=True)

    backend_id: str
    agent_instance: str
    comfy_url: str
    status: HeartbeatStatus
    at: datetime
    registration: dict[str, Any] | None = None  # the last BackendRegistered, as JSON
    queue_remaining: int | None = None
    in_flight: list[str] = []  # prompt ids
    jobs_completed: int = 0


@dataclass
class _Run:
    """One attempt in flight on this backend."""

    tracker: AttemptTracker
    prompt: dict[str, Any]
    expected_seconds: float | None
    queue: asyncio.Queue[Intent] = field(default_factory=asyncio.Queue)
    started: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    stored: set[tuple[str, int]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    last_poll: float = 0.0
    unacked: list[tuple[EventBase, asyncio.Future[Any]]] = field(default_factory=list)
    """Events published without waiting for their acks yet (see `Agent._publish_soon`)."""
    watched_on: int | None = None
    """The socket connection that was up when the attempt was created (None: none was): if the attempt ends on
    that same connection, its every message was seen."""
    store_failed: bool = False

    @property
    def prompt_id(self) -> str:
        return self.tracker.ref.prompt_id


class Agent:
    """One agent for one ComfyUI server."""

    def __init__(self, settings: AgentSettings, *, comfy: ComfyClient | None = None) -> None:
        self.settings = settings
        self.backend_id = settings.backend_id
        self.instance = uuid.uuid4().hex
        self.comfy = comfy or ComfyClient(
            settings.comfy_url, client_id=f"orch-{self.backend_id}", timeout=settings.http_timeout_s
        )
        self.hot = HotComfy(self.comfy, fast=comfy is None)
        self.uploads = UploadCache()
        self.inputs_uploaded = 0
        self.gpu = GpuReader(settings.comfy_url, timeout=min(settings.http_timeout_s, 5.0))
        self.router = Router()
        self.runs: dict[str, _Run] = {}
        self.jobs_completed = 0
        self.registration: BackendRegistered | None = None
        self.status: HeartbeatStatus = "starting"
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._kv: KeyValue | None = None
        self._stopping = asyncio.Event()
        self._down_since: float | None = None
        self._socket_epoch = 0  # counts the socket's connections
        self._socket_live = False
        self._unreachable = False
        self._connected_once = asyncio.Event()
        self._abandoned: set[str] = set()
        self._finished: dict[str, None] = {}
        self._stored_before_start: int | None = None  # the command stream's last sequence when we subscribed
        self._background: set[asyncio.Task[Any]] = set()
        self._acks: set[asyncio.Task[None]] = set()  # command acks waiting for their JobStarted to be stored

    # --- life cycle ---------------------------------------------------------------------------

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the agent is not connected to NATS yet")
        return self._js

    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise RuntimeError("the agent is not connected to NATS yet")
        return self._nc

    def request_stop(self) -> None:
        """Begin a graceful stop (what SIGTERM does): no new commands, drain, leave."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect, register and serve until `request_stop()`; then drain and leave."""
        self._nc = await connect(self.settings.nats_url, f"orch-agent-{self.backend_id}")
        self._js = self._nc.jetstream()
        await wait_for_topology(self._js)
        self._kv = await self._js.key_value(subjects.BACKENDS_BUCKET)
        loops = {
            "socket": asyncio.create_task(self._socket_loop(), name="agent-socket"),
            "tick": asyncio.create_task(self._tick_loop(), name="agent-tick"),
            "heartbeat": asyncio.create_task(self._heartbeat_loop(), name="agent-heartbeat"),
            "capabilities": asyncio.create_task(self._capabilities_loop(), name="agent-capabilities"),
            "metrics": asyncio.create_task(self._metrics_loop(), name="agent-metrics"),
        }
        commands = asyncio.create_task(self._command_loop(), name="agent-commands")
        try:
            stop = asyncio.create_task(self._stopping.wait())
            done, _ = await asyncio.wait({stop, commands, *loops.values()}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                error = None if task is stop or task.cancelled() else task.exception()
                if error is not None:
                    raise error
            stop.cancel()
            self.status = "draining"
            await commands
            await self._drain()
        finally:
            for task in [commands, *loops.values(), *self._background, *self._acks]:
                task.cancel()
            workers = [run.task for run in self.runs.values() if run.task is not None]
            for worker in workers:
                worker.cancel()
            await asyncio.gather(commands, *loops.values(), *workers, return_exceptions=True)
            await self._leave()
            await self.gpu.aclose()

    async def _drain(self) -> None:
        """Let in-flight prompts finish (and their events be published) within the grace period."""
        pending = [run.finished.wait() for run in self.runs.values()]
        if pending:
            log.info("draining %d in-flight prompt(s), up to %.0fs", len(pending), self.settings.drain_grace_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*pending), self.settings.drain_grace_s)
        if self._acks:  # commands whose JobStarted is on its way
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._acks, return_exceptions=True), _ACK_TIMEOUT * 2)

    async def _leave(self) -> None:
        if self._kv is not None:
            with contextlib.suppress(Exception):
                await self._kv.delete(self.backend_id)
        with contextlib.suppress(Exception):
            await self.comfy.aclose()
        with contextlib.suppress(Exception):
            await self.hot.aclose()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.flush(timeout=5)
            with contextlib.suppress(Exception):
                await self._nc.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- publishing ---------------------------------------------------------------------------

    async def publish_event(self, event: EventBase) -> None:
        """Publish a durable event with its id as `Nats-Msg-Id`, retrying until JetStream has it."""
        data = event.model_dump_json().encode()
        delay = 0.1
        while True:
            try:
                await self.js.publish(event.subject, data, headers={"Nats-Msg-Id": event.event_id}, timeout=5.0)
                return
            except (
                nats.errors.TimeoutError,
                nats.errors.NoRespondersError,
                nats.errors.ConnectionClosedError,
                nats.errors.ConnectionReconnectingError,
                nats.js.errors.NoStreamResponseError,  # JetStream not ready yet after a nats-server restart
            ) as exc:
                log.warning("publishing %s failed (%s); retrying", event.event_id, exc)
            except nats.js.errors.APIError as exc:
                log.warning("publishing %s refused (%s); retrying", event.event_id, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _publish_soon(self, run: _Run, event: EventBase) -> asyncio.Future[Any] | None:
        """Publish one of the attempt's events without waiting for its ack: acks are collected by `_settle`, which
        runs before the attempt's terminal event, so that one still follows every earlier event of the attempt."""
        if len(run.unacked) >= _MAX_UNACKED:
            await self._settle(run)
        try:
            future = await self.js.publish_async(
                event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
            )
        except Exception as exc:  # e.g. the connection is closing: the retrying publish takes over
            log.debug("pipelined publish of %s failed (%s); publishing it with retries", event.event_id, exc)
            await self._settle(run)
            await self.publish_event(event)
            return None
        run.unacked.append((event, future))
        return future

    async def _stored(self, event: EventBase, sent: asyncio.Future[Any] | None) -> None:
        """Once `event`, sent by `_publish_soon`, is stored; published again (retrying) if its ack does not come."""
        if sent is None:
            return
        with contextlib.suppress(Exception):  # includes the timeout
            async with asyncio.timeout(_ACK_TIMEOUT):
                await asyncio.shield(sent)
        if not (sent.done() and not sent.cancelled() and sent.exception() is None):
            await self.publish_event(event)

    async def _settle(self, run: _Run) -> None:
        """Wait for the acks of the attempt's pipelined events; from the first one not acked on, publish them again in
        order with retries (JetStream drops the copies it already has, by `Nats-Msg-Id`)."""
        pending, run.unacked = run.unacked, []
        if not pending:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_ACK_TIMEOUT):
                for _, future in pending:
                    with contextlib.suppress(Exception):
                        await future
        redo = False
        for event, future in pending:
            if not redo and future.done() and not future.cancelled() and future.exception() is None:
                continue
            redo = True
            if not future.done():
                future.cancel()
            await self.publish_event(event)

    async def _publish_final(self, run: _Run, event: EventBase) -> None:
        """The attempt's terminal event, once every earlier event of it is acked."""
        await self._settle(run)
        await self.publish_event(event)

    async def _publish_live(self, live: Live) -> None:
        message = live.message
        if isinstance(message, LiveProgress):  # the tracker's clock is monotonic; receivers want wall time
            message = message.model_copy(update={"sent_at": time.time()})
        try:
            await self.nc.publish(live.subject, message.model_dump_json().encode())
        except Exception as exc:  # live messages are best effort
            log.debug("live publish failed: %s", exc)

    # --- registration and heartbeat -----------------------------------------------------------

    async def register(self, *, force: bool = False) -> bool:
        """Read capabilities and publish `BackendRegistered` if they are new; True when ComfyUI answered."""
        try:
            object_info = await self.comfy.object_info()
            stats = await self.comfy.system_stats()
        except ComfyError as exc:
            log.warning("cannot read ComfyUI's capabilities: %s", exc)
            return False
        digest = self.comfy.object_info_hash()
        if not force and self.registration is not None and self.registration.capabilities.object_info_hash == digest:
            return True
        capabilities = await asyncio.to_thread(build_capabilities, object_info, digest, stats)
        if self._unreachable:  # declared unreachable while we were reading: register once it answers again
            return False
        event = BackendRegistered(
            backend_id=self.backend_id,
            comfy_url=self.settings.comfy_url,
            agent_instance=self.instance,
            capabilities=capabilities,
        )
        await self.publish_event(event)
        self.registration = event
        log.info("registered %s (%d node classes)", self.backend_id, len(capabilities.node_classes))
        return True

    def heartbeat(self) -> BackendHeartbeat:
        status: HeartbeatStatus = self.status
        if status not in ("draining",):
            status = "unreachable" if self._unreachable else ("ready" if self.registration else "starting")
        return BackendHeartbeat(
            backend_id=self.backend_id,
            agent_instance=self.instance,
            comfy_url=self.settings.comfy_url,
            status=status,
            at=utcnow(),
            registration=self.registration.model_dump(mode="json") if self.registration else None,
            queue_remaining=self.router.queue_remaining,
            in_flight=sorted(self.runs),
            jobs_completed=self.jobs_completed,
        )

    async def _capabilities_loop(self) -> None:
        """Register as soon as ComfyUI answers, then look for changed capabilities now and then."""
        while True:
            registered = not self._unreachable and await self.register()
            await asyncio.sleep(self.settings.capabilities_check_s if registered else 0.5)

    async def _heartbeat_loop(self) -> None:
        while True:
            if self._kv is not None:
                try:
                    await self._kv.put(self.backend_id, self.heartbeat().model_dump_json().encode())
                except Exception as exc:
                    log.warning("heartbeat not written: %s", exc)
                else:
                    await self._rejoin_if_declared_lost()
            await asyncio.sleep(self.settings.heartbeat_interval_s)

    async def _rejoin_if_declared_lost(self) -> None:
        """After the scheduler declared this agent instance lost (e.g. its heartbeats could not reach NATS for a
        while), rejoin as a new instance: `BackendLost` is final for an instance, so only a registration under a
        fresh `agent_instance` makes the backend schedulable again."""
        subject = subjects.backend_event(self.backend_id, "lost")
        try:
            msg = await self.js.get_last_msg(subjects.EVENTS_STREAM, subject)
        except nats.js.errors.NotFoundError:
            return
        except Exception as exc:
            log.debug("could not read the last BackendLost: %s", exc)
            return
        try:
            lost = parse_event(msg.data or b"")
        except ValueError:
            return
        if not isinstance(lost, BackendLost) or lost.agent_instance != self.instance:
            return
        self.instance = uuid.uuid4().hex
        self.registration = None
        log.warning("%s was declared lost (%s); rejoining as instance %s", self.backend_id, lost.reason, self.instance)
        if not self._unreachable:
            await self.register(force=True)

    async def _metrics_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.metrics_interval_s)
            try:
                await self._publish_metrics()
            except Exception as exc:
                log.debug("metrics not published: %s", exc)

    async def _publish_metrics(self) -> None:
        stats = None
        if not self._unreachable:
            with contextlib.suppress(ComfyError):
                stats = await self.hot.system_stats()
        gpus = await self.gpu.read(stats)
        queue_remaining, running_id = await self._server_activity(stats is not None)
        run = self.runs.get(running_id) if running_id else None
        tracker = run.tracker if run else None
        metrics = BackendMetrics(
            backend_id=self.backend_id,
            at=utcnow(),
            reachable=not self._unreachable and stats is not None,
            queue_remaining=queue_remaining,
            running_prompt_id=running_id,
            running_job_id=tracker.ref.job_id if tracker else None,
            running_node=tracker.node_id if tracker else None,
            progress=(tracker.value / tracker.max) if tracker and tracker.max else None,
            jobs_completed=self.jobs_completed,
            gpus=gpus,
            ram_total=stats.system.ram_total if stats else None,
            ram_free=stats.system.ram_free if stats else None,
        )
        await self.nc.publish(subjects.live_backend_metrics(self.backend_id), metrics.model_dump_json().encode())

    async def _server_activity(self, reachable: bool) -> tuple[int, str | None]:
        """(prompts queued or running on the server, the running prompt's id), foreign prompts included.

        The queue length comes from ComfyUI's `status` broadcasts, which every socket hears. Execution messages of a
        prompt queued by someone else (the embedded editor, another client) go only to that client's socket, so
        when the server has work but none of it is seen running here, `/queue` says which prompt runs. A foreign
        prompt is reported as running (no job, no node, no progress) and never becomes a job.
        """
        remaining = self.router.queue_remaining or 0
        running = self.router.running_prompt_id
        if running is not None or remaining == 0 or not reachable:
            return remaining, running
        try:
            queue = await self.comfy.queue()
        except ComfyError as exc:
            log.debug("/queue not read for metrics: %s", exc)
            return remaining, None
        running_ids = queue.running_ids()
        return len(running_ids) + len(queue.queue_pending), next(iter(running_ids), None)

    # --- commands -----------------------------------------------------------------------------

    async def _command_loop(self) -> None:
        subject = subjects.backend_commands(self.backend_id)
        durable = subjects.agent_consumer(self.backend_id)
        config = ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.settings.ack_wait_s,
            max_deliver=-1,
            filter_subject=subject,
        )

        async def ensure_consumer() -> None:
            try:
                await self.js.consumer_info(subjects.COMMANDS_STREAM, durable)
            except nats.js.errors.NotFoundError:
                await self.js.add_consumer(subjects.COMMANDS_STREAM, config)

        feed = CommandFeed(self.nc, subjects.COMMANDS_STREAM, durable)
        await ensure_consumer()
        try:  # commands stored up to here may have reached an earlier incarnation of this agent
            self._stored_before_start = (await self.js.stream_info(subjects.COMMANDS_STREAM)).state.last_seq
        except Exception as exc:
            log.warning("reading the command stream's last sequence failed (every command is checked): %s", exc)
        await feed.start()
        leftovers: list[Msg] = []
        try:
            while not self._stopping.is_set():
                msg = await feed.next(timeout=0.5)
                if msg is None:
                    if self.nc.is_closed:
                        return
                    continue
                if self._stopping.is_set():  # arrived as we stopped: leave it to the next agent
                    leftovers.append(msg)
                    break
                await self._handle_command(msg)
        finally:
            leftovers += await feed.stop()
            for msg in leftovers:
                with contextlib.suppress(Exception):
                    await msg.nak()

    async def _handle_command(self, msg: Msg) -> None:
        try:
            command = parse_command(msg.data)
        except ValueError as exc:
            log.error("dropping a command that does not parse: %s", exc)
            await msg.term()
            return
        stored: Awaitable[None] | None = None
        try:
            if command.backend_id != self.backend_id:
                log.error("dropping a command for backend %s", command.backend_id)
            elif isinstance(command, RunJob):
                stored = await self._start_job(command, check_server=self._maybe_seen_before(msg))
            else:
                await self.cancel_job(command)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("command %s failed; it will be redelivered", command.command_id)
            with contextlib.suppress(Exception):
                await msg.nak(delay=1.0)
            return
        if stored is None:
            await msg.ack()
        else:  # the next command need not wait for JobStarted's ack; this one's ack does
            task = asyncio.create_task(self._ack_once(msg, stored))
            self._acks.add(task)
            task.add_done_callback(self._acks.discard)

    @staticmethod
    async def _ack_once(msg: Msg, stored: Awaitable[None]) -> None:
        await stored
        await msg.ack()

    def _maybe_seen_before(self, msg: Msg) -> bool:
        """Whether the command may already have been submitted: redelivered, or stored before this agent started."""
        try:
            meta = msg.metadata
        except Exception:  # not a JetStream message: nothing is known about it
            return True
        if meta.num_delivered > 1 or self._stored_before_start is None:
            return True
        return meta.sequence.stream <= self._stored_before_start

    def _new_run(
        self, ref: AttemptRef, prompt: dict[str, Any], previews: bool, expected: float | None, *, followed: bool = False
    ) -> _Run:
        """Track an attempt: one submitted now, or (`followed`) one found already on the server, whose earlier
        messages went to another connection (it is settled from `/history`, its progress ids start high)."""
        if ref.prompt_id in self.runs:
            raise RuntimeError(f"prompt {ref.prompt_id} is already followed")
        tracker = AttemptTracker(
            ref,
            previews=previews,
            progress_interval=self.settings.progress_interval_s,
            preview_interval=self.settings.preview_interval_s,
            last_activity=asyncio.get_running_loop().time(),
        )
        run = _Run(tracker=tracker, prompt=prompt, expected_seconds=expected)
        if followed:
            tracker.next_seq = _adopted_seq()
        elif self._socket_live:
            run.watched_on = self._socket_epoch
        self.runs[ref.prompt_id] = run
        self.router.add(tracker)
        run.task = asyncio.create_task(self._work(run), name=f"attempt-{ref.prompt_id}")
        return run

    def _drop_run(self, run: _Run) -> None:
        self.runs.pop(run.prompt_id, None)
        self.router.remove(run.prompt_id)
        self._finished[run.prompt_id] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.pop(next(iter(self._finished)))
        if run.task is not None and run.task is not asyncio.current_task():
            run.task.cancel()
        run.finished.set()

    async def _fail_now(self, cmd: RunJob, reason: FailureReason, message: str, **fields: Any) -> None:
        await self.publish_event(
            JobAttemptFailed(
                job_id=cmd.job_id,
                attempt=cmd.attempt,
                backend_id=self.backend_id,
                reason=reason,
                message=message,
                **fields,
            )
        )

    async def run_job(self, cmd: RunJob, *, check_server: bool = True) -> None:
        """Carry out a `RunJob`: upload inputs, submit, publish `JobStarted` (or the failure).

        With `check_server`, ComfyUI is first asked (`/queue`, `/history`) whether the prompt is already there, as
        it may be for a redelivered command; a first delivery to this incarnation of the agent skips that.
        """
        stored = await self._start_job(cmd, check_server=check_server)
        if stored is not None:
            await stored

    async def _start_job(self, cmd: RunJob, *, check_server: bool, wait_if_away: bool = True) -> Awaitable[None] | None:
        """`run_job`, except that `JobStarted` of a prompt submitted now is only sent: the awaitable returned is done
        once JetStream has stored it (publishing it again if need be).

        A submission the server refuses or drops at the connection (ComfyUI restarting, say) is made again, asking
        the server first, once ComfyUI answers, if that happens before it would be declared unreachable: a restart
        shorter than `unreachable_after_s` costs the job no attempt."""
        if cmd.prompt_id in self.runs or cmd.prompt_id in self._finished:
            log.info("%s already submitted here; nothing to do", cmd.command_id)
            return None
        ref = AttemptRef(cmd.job_id, cmd.attempt, cmd.prompt_id, self.backend_id)
        if self._unreachable:
            await self._fail_now(
                cmd, FailureReason.BACKEND_LOST, f"ComfyUI at {self.settings.comfy_url} is unreachable"
            )
            return None
        state = PromptState.LOST
        if check_server:
            try:
                state = (await self.comfy.reconcile(cmd.prompt_id)).state
            except ComfyError as exc:
                await self._fail_now(cmd, FailureReason.BACKEND_LOST, f"ComfyUI did not answer: {exc}")
                return None
        if cmd.prompt_id in self.runs:  # adopted from ComfyUI's queue while we were asking
            return None
        if state is not PromptState.LOST:
            log.info("%s: prompt %s is already %s here; following it", cmd.command_id, cmd.prompt_id, state)
            run = self._new_run(ref, cmd.workflow, cmd.previews, cmd.expected_seconds, followed=True)
            await self.publish_event(
                JobStarted(job_id=cmd.job_id, attempt=cmd.attempt, backend_id=self.backend_id, prompt_id=cmd.prompt_id)
            )
            if state is PromptState.DONE:
                run.tracker.close()
                run.queue.put_nowait(Finish(success_seen=False))
            run.started.set()
            return None
        try:
            prompt = await self._prepare_prompt(cmd)
        except InputBindingError as exc:
            await self._fail_now(cmd, FailureReason.VALIDATION, str(exc))
            return None
        except InputFetchError as exc:
            await self._fail_now(cmd, FailureReason.UPLOAD_FAILED, str(exc))
            return None
        extra: dict[str, Any] = dict(cmd.extra_data)
        extra["orch"] = {"backend_id": self.backend_id, "job_id": cmd.job_id, "attempt": cmd.attempt}
        if cmd.previews:
            extra.setdefault("preview_method", self.settings.preview_method)
        run = self._new_run(ref, prompt, cmd.previews, cmd.expected_seconds)
        try:
            accepted = await self.hot.submit_prompt(prompt, prompt_id=cmd.prompt_id, extra_data=extra)
        except ComfyValidationError as exc:
            self._drop_run(run)
            first = next(iter(exc.node_errors.items()), None)
            await self._fail_now(
                cmd,
                FailureReason.VALIDATION,
                str(exc),
                node_id=first[0] if first else None,
                node_type=first[1].class_type or None if first else None,
                details={
                    "error": exc.error.to_wire(),
                    "node_errors": {k: v.to_wire() for k, v in exc.node_errors.items()},
                },
            )
            return None
        except ValueError as exc:  # e.g. a prompt id that is not a canonical UUID
            self._drop_run(run)
            await self._fail_now(cmd, FailureReason.VALIDATION, str(exc))
            return None
        except ComfyError as exc:
            self._drop_run(run)
            if isinstance(exc, ComfyConnectionError) and wait_if_away and await self._answers_again():
                self._finished.pop(cmd.prompt_id, None)  # submitted again, once the server says it lacks it
                return await self._start_job(cmd, check_server=True, wait_if_away=False)
            self._abandoned.add(cmd.prompt_id)  # it may have been queued after all: cleaned up on reconnect
            reason = FailureReason.BACKEND_LOST
            if not isinstance(exc, ComfyConnectionError | ComfyTimeout):
                reason = FailureReason.INTERNAL
            await self._fail_now(cmd, reason, f"submitting the prompt failed: {exc}")
            return None
        except BaseException:
            self._drop_run(run)
            raise
        started = JobStarted(
            job_id=cmd.job_id,
            attempt=cmd.attempt,
            backend_id=self.backend_id,
            prompt_id=cmd.prompt_id,
            partial=accepted.partial,
            node_errors={k: v.to_wire() for k, v in accepted.node_errors.items()},
        )
        sent = await self._publish_soon(run, started)  # first of the attempt's events on the wire
        run.started.set()
        return self._stored(started, sent)

    async def _answers_again(self) -> bool:
        """After a request the server refused or dropped: True once ComfyUI answers again; False if it is declared
        unreachable (or this agent stops) first, or stays silent for as long as that would take."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2 * self.settings.unreachable_after_s + 0.5
        delay = 0.05
        while not self._unreachable and not self._stopping.is_set() and loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            try:
                await self.hot.system_stats()
            except ComfyError:
                continue
            return not self._unreachable
        return False

    async def _prepare_prompt(self, cmd: RunJob) -> dict[str, Any]:
        """The command's prompt with every input artifact uploaded to ComfyUI (unless already there) and patched in.

        Several inputs are fetched and uploaded at the same time. The command's prompt is not changed: only the
        patched nodes are copied (the prompt is read, never written, after this)."""
        if not cmd.inputs:
            return cmd.workflow
        prompt = dict(cmd.workflow)
        nodes: list[dict[str, Any]] = []
        copied: set[str] = set()
        for binding in cmd.inputs:
            node = prompt.get(binding.node_id)
            if not isinstance(node, dict) or not isinstance(node.get("inputs"), dict):
                raise InputBindingError(
                    f"input binding for artifact {binding.artifact_id!r} names node {binding.node_id!r}, "
                    "which the prompt does not have"
                )
            if binding.node_id not in copied:
                copied.add(binding.node_id)
                node = prompt[binding.node_id] = {**node, "inputs": dict(node["inputs"])}
            nodes.append(node)
        if len(cmd.inputs) == 1:
            values: list[str | BaseException] = [await self._input_value(cmd.inputs[0])]
        else:
            values = await asyncio.gather(*(self._input_value(b) for b in cmd.inputs), return_exceptions=True)
        for binding, node, value in zip(cmd.inputs, nodes, values, strict=True):
            if isinstance(value, BaseException):
                raise value
            node["inputs"][binding.input_name] = value
        return prompt

    async def _input_value(self, binding: InputBinding) -> str:
        """What to patch into the bound input: the artifact's text, or the name ComfyUI has its bytes under."""
        try:
            info = await read_artifact_info(self.js, binding.artifact_id)
            if binding.as_text:
                data, _ = await get_artifact(self.js, binding.artifact_id, info=info)
                return data.decode("utf-8", errors="replace")
            return await self._input_on_server(binding, info)
        except (ArtifactError, ComfyError) as exc:
            raise InputFetchError(
                f"input artifact {binding.artifact_id!r} could not be uploaded as {binding.filename!r}: {exc}"
            ) from exc

    async def _input_on_server(self, binding: InputBinding, info: ArtifactInfo) -> str:
        """The input value under which ComfyUI has the artifact's bytes: a file with the same content hash that this
        agent uploaded before and the server still has (at that size), else the artifact fetched and uploaded now."""
        if info.sha256 is not None:
            value = self.uploads.get(info.sha256)
            if value is not None:
                subfolder, _, name = value.rpartition("/")
                size = await self.hot.file_size(name, subfolder=subfolder)
                if size is not None and size in (info.size, -1):
                    return value
                log.info(
                    "input %s (%s) is gone from ComfyUI or changed; uploading it again", value, binding.artifact_id
                )
                self.uploads.forget(info.sha256)
        if self.hot.streams_uploads:  # each chunk goes on to ComfyUI as it arrives from the Object Store
            async with contextlib.aclosing(stream_artifact(self.js, info)) as chunks:
                uploaded = await self.hot.upload_image(chunks, binding.filename, size=info.size)
        else:
            data, _ = await get_artifact(self.js, binding.artifact_id, info=info)
            uploaded = await self.hot.upload_image(data, binding.filename)
        self.inputs_uploaded += 1
        if info.sha256 is not None:
            self.uploads.put(info.sha256, uploaded.input_value)
        return uploaded.input_value

    async def cancel_job(self, cmd: CancelJob) -> None:
        """Interrupt the prompt if it is running, else delete it from the queue; then `JobCancelled`."""
        run = self.runs.get(cmd.prompt_id)
        if run is not None:
            run.tracker.cancelled = True
        try:
            queue = await self.comfy.queue()
            if cmd.prompt_id in queue.running_ids():
                await self.comfy.interrupt(cmd.prompt_id)
            elif any(item.prompt_id == cmd.prompt_id for item in queue.queue_pending):
                await self.comfy.delete_from_queue([cmd.prompt_id])
        except ComfyError as exc:
            log.warning("cancelling %s: ComfyUI did not answer (%s)", cmd.prompt_id, exc)
        event = JobCancelled(job_id=cmd.job_id, attempt=cmd.attempt)
        if run is not None and not run.tracker.done:
            run.tracker.close()
            run.queue.put_nowait(Publish(event))
            await run.finished.wait()
        else:
            await self.publish_event(event)

    # --- the socket ---------------------------------------------------------------------------

    async def _socket_loop(self) -> None:
        loop = asyncio.get_running_loop()
        backoff = 0.05
        while True:
            connected = False
            try:
                async for message in self.comfy.messages():
                    if not connected:
                        connected = True
                        backoff = 0.05
                        await self._on_connected()
                    await self._dispatch(self.router.feed(message, loop.time()))
            except ComfyError as exc:
                log.warning("ComfyUI socket: %s", exc)
            self._socket_live = False
            if self._down_since is None:
                self._down_since = loop.time()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.reconnect_max_backoff_s)

    async def _on_connected(self) -> None:
        was_unreachable = self._unreachable
        self._down_since = None
        self._socket_epoch += 1
        self._socket_live = True
        self._unreachable = False
        self.uploads.clear()  # the server may have restarted, and its input folder with it
        if was_unreachable:
            log.info("ComfyUI at %s answers again", self.settings.comfy_url)
            self._spawn(self.register())
            await self._clean_abandoned()
        await self._reconcile_all()
        await self._adopt_queued()
        self._connected_once.set()

    async def _reconcile_all(self) -> None:
        """After a (re)connect: what became of every prompt in flight while we were not listening."""
        loop = asyncio.get_running_loop()
        runs = [run for run in self.runs.values() if not run.tracker.done and run.started.is_set()]
        if not runs:
            return
        try:
            queue = await self.comfy.queue()  # read before any history: see orch_common.comfy.reconcile
        except ComfyError as exc:
            log.warning("reconciling: %s", exc)
            return
        alive = {*queue.running_ids(), *(item.prompt_id for item in queue.queue_pending)}
        for run in runs:
            if run.prompt_id in alive:
                run.tracker.last_activity = loop.time()
                continue
            try:
                fate = determine_fate(run.prompt_id, queue, await self.comfy.history(run.prompt_id))
            except ComfyError as exc:
                log.warning("reconciling %s: %s", run.prompt_id, exc)
                return
            if run.tracker.done:
                continue
            if fate.state is PromptState.DONE:
                run.tracker.close()
                run.queue.put_nowait(Finish(success_seen=False))
            elif fate.state is PromptState.LOST:
                run.tracker.close()
                run.queue.put_nowait(
                    Publish(
                        run.tracker.failed(
                            FailureReason.PROMPT_LOST,
                            "ComfyUI no longer knows the prompt (restarted, or its queue was cleared)",
                        )
                    )
                )
            else:
                run.tracker.last_activity = loop.time()

    async def _adopt_queued(self) -> None:
        """Follow prompts this backend submitted before the agent (re)started, found in ComfyUI's queue."""
        try:
            queue = await self.comfy.queue()
        except ComfyError:
            return
        for item in [*queue.queue_running, *queue.queue_pending]:
            tag = item.extra_data.get("orch")
            if not isinstance(tag, dict) or tag.get("backend_id") != self.backend_id:
                continue
            if item.prompt_id in self.runs or item.prompt_id in self._finished or item.prompt_id in self._abandoned:
                continue
            try:
                ref = AttemptRef(str(tag["job_id"]), int(tag["attempt"]), item.prompt_id, self.backend_id)
            except (KeyError, TypeError, ValueError):
                continue
            log.info("following prompt %s of job %s found in ComfyUI's queue", item.prompt_id, ref.job_id)
            run = self._new_run(ref, dict(item.prompt), True, None, followed=True)
            run.started.set()

    async def _clean_abandoned(self) -> None:
        """Prompts whose attempts were given up as backend_lost must not keep the GPU busy."""
        abandoned, self._abandoned = self._abandoned, set()
        if not abandoned:
            return
        try:
            queue = await self.comfy.queue()
            pending = [pid for pid in queue.pending_ids() if pid in abandoned]
            if pending:
                await self.comfy.delete_from_queue(pending)
            for pid in queue.running_ids():
                if pid in abandoned:
                    await self.comfy.interrupt(pid)
        except ComfyError as exc:
            log.warning("could not clean up abandoned prompts: %s", exc)

    async def _dispatch(self, intents: list[tuple[AttemptTracker, Intent]]) -> None:
        for tracker, intent in intents:
            if isinstance(intent, Live):
                await self._publish_live(intent)
                continue
            run = self.runs.get(tracker.ref.prompt_id)
            if run is not None:
                run.queue.put_nowait(intent)

    # --- timers -------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.1)
            now = loop.time()
            await self._dispatch(self.router.tick(now))
            if (
                self._down_since is not None
                and not self._unreachable
                and now - self._down_since > self.settings.unreachable_after_s
            ):
                self._declare_unreachable(now - self._down_since)
            self._detect_hangs(now)
            self._poll_quiet(now)

    def _declare_unreachable(self, silent_for: float) -> None:
        self._unreachable = True
        log.warning("ComfyUI at %s unreachable for %.1fs", self.settings.comfy_url, silent_for)
        failures: list[tuple[_Run, Publish]] = []
        for run in list(self.runs.values()):
            if run.tracker.done:
                continue
            run.tracker.close()
            self._abandoned.add(run.prompt_id)
            failures.append(
                (
                    run,
                    Publish(
                        run.tracker.failed(
                            FailureReason.BACKEND_LOST,
                            f"ComfyUI at {self.settings.comfy_url} unreachable for more than "
                            f"{self.settings.unreachable_after_s:g}s",
                        )
                    ),
                )
            )
        # No new work while ComfyUI is away: the scheduler stops placing here and retries elsewhere. The agent
        # goes on as a fresh instance, registered (so schedulable again) once ComfyUI answers.
        lost = None
        if self.registration is not None:
            lost = BackendLost(
                backend_id=self.backend_id,
                agent_instance=self.instance,
                reason=f"ComfyUI at {self.settings.comfy_url} unreachable for {silent_for:.1f}s",
            )
            self.instance = uuid.uuid4().hex
            self.registration = None
        self._spawn(self._report_unreachable(lost, failures))

    async def _report_unreachable(self, lost: BackendLost | None, failures: list[tuple[_Run, Publish]]) -> None:
        """BackendLost first, then the attempts' failures: were the failures first, the scheduler could place their
        retries here again before it knew, and each would fail at once, using up the job's attempts."""
        if lost is not None:
            await self.publish_event(lost)
        for run, failure in failures:
            run.queue.put_nowait(failure)

    def _detect_hangs(self, now: float) -> None:
        for run in list(self.runs.values()):
            tracker = run.tracker
            if tracker.done or not tracker.started or not run.expected_seconds or tracker.last_activity is None:
                continue
            limit = self.settings.hang_factor * run.expected_seconds
            if now - tracker.last_activity <= limit:
                continue
            tracker.hung = True
            tracker.close()
            run.queue.put_nowait(
                Publish(
                    tracker.failed(
                        FailureReason.HUNG,
                        f"no progress for {now - tracker.last_activity:.1f}s "
                        f"(expected the whole job in {run.expected_seconds:g}s)",
                        node_id=tracker.node_id,
                    )
                )
            )
            self._spawn(self._interrupt_quietly(run.prompt_id))

    def _poll_quiet(self, now: float) -> None:
        """Ask ComfyUI about prompts we have heard nothing of for a while (a message may have been missed)."""
        if self._unreachable or self._down_since is not None:
            return
        for run in list(self.runs.values()):
            quiet_since = max(run.tracker.last_activity or 0.0, run.last_poll)
            if run.tracker.done or not run.started.is_set() or now - quiet_since < self.settings.poll_quiet_s:
                continue
            run.last_poll = now
            self._spawn(self._poll_one(run))

    async def _poll_one(self, run: _Run) -> None:
        try:
            fate = await self.comfy.reconcile(run.prompt_id)
        except ComfyError:
            return
        if run.tracker.done:
            return
        if fate.state is PromptState.DONE:
            log.info("prompt %s finished without us hearing it end; collecting it", run.prompt_id)
            run.tracker.close()
            run.queue.put_nowait(Finish(success_seen=False))
        elif fate.state is PromptState.LOST:
            run.tracker.close()
            run.queue.put_nowait(
                Publish(run.tracker.failed(FailureReason.PROMPT_LOST, "ComfyUI no longer knows the prompt"))
            )

    async def _interrupt_quietly(self, prompt_id: str) -> None:
        with contextlib.suppress(ComfyError):
            await self.comfy.interrupt(prompt_id)
            await self.comfy.delete_from_queue([prompt_id])

    # --- one attempt's worker -----------------------------------------------------------------

    async def _work(self, run: _Run) -> None:
        """Carry out the durable intents of one attempt, in order, until its terminal event is out."""
        await run.started.wait()
        try:
            while True:
                intent = await run.queue.get()
                if isinstance(intent, Publish):
                    if isinstance(intent.event, _TERMINAL):
                        await self._publish_final(run, intent.event)
                        break
                    await self._publish_soon(run, intent.event)
                elif isinstance(intent, StoreOutputs):
                    if not await self._store_node(run, intent.node_id, intent.output):
                        run.store_failed = True
                elif isinstance(intent, Finish):
                    await self._finish(run, intent)
                    break
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("attempt %s of job %s: worker failed", run.tracker.ref.attempt, run.tracker.ref.job_id)
            await self._publish_final(
                run, run.tracker.failed(FailureReason.INTERNAL, "the agent failed to follow the prompt")
            )
        finally:
            self._drop_run(run)

    async def _store_node(self, run: _Run, node_id: str, output: dict[str, Any]) -> bool:
        """Copy every not yet stored output of one node; False if one of them could not be stored."""
        ok = True
        for index, item in node_outputs(node_id, output):
            if (node_id, index) in run.stored:
                continue
            for attempt in range(_STORE_TRIES):
                try:
                    await self._store_item(run, index, item)
                    run.stored.add((node_id, index))
                    break
                except OutputStoreError as exc:
                    log.warning("storing output %s/%d of %s failed: %s", node_id, index, run.prompt_id, exc)
                    await asyncio.sleep(0.2 * (attempt + 1))
            else:
                ok = False
        return ok

    async def _store_item(self, run: _Run, index: int, item: OutputItem) -> None:
        """Copy one output into the Object Store and publish `JobOutputStored`; raises OutputStoreError."""
        try:
            event = await self._copy_output(run, index, item)
        except (ComfyError, ArtifactError, nats.errors.Error) as exc:
            raise OutputStoreError(f"output {item.node_id}/{index} of {run.prompt_id}: {exc}") from exc
        await self._publish_soon(run, event)

    async def _copy_output(self, run: _Run, index: int, item: OutputItem) -> JobOutputStored:
        ref = run.tracker.ref
        if isinstance(item, OutputText):
            data, content_type, filename = item.text.encode(), "text/plain", text_filename(item)
            subfolder, folder_type = "", "text"
        else:
            assert isinstance(item, OutputFileItem)
            view = await self.hot.view(item.file.filename, subfolder=item.file.subfolder, type=item.file.type)
            data, filename = view.content, item.file.filename
            content_type = content_type_for(filename, view.content_type)
            subfolder, folder_type = item.file.subfolder, str(item.file.type)
        key = artifact_key(ref.job_id, ref.attempt, item.node_id, index, filename)
        stored = await put_artifact(
            self.js,
            key,
            data,
            content_type,
            {
                "job_id": ref.job_id,
                "attempt": str(ref.attempt),
                "node_id": item.node_id,
                "backend_id": ref.backend_id,
                "filename": filename,
            },
        )
        return JobOutputStored(
            job_id=ref.job_id,
            attempt=ref.attempt,
            node_id=item.node_id,
            index=index,
            artifact_id=key,
            filename=filename,
            subfolder=subfolder,
            folder_type=folder_type,
            kind=classify(item, run.prompt, content_type),
            content_type=content_type,
            size=stored.size,
            sha256=stored.sha256,
        )

    async def _finish(self, run: _Run, finish: Finish) -> None:
        """The prompt is over: collect what `/history` holds that we have not stored, then decide.

        `/history` is not read when the stream alone settles it: `execution_success` was seen, on the connection
        that was up before the prompt was submitted (so no message was missed, and ComfyUI sends `executed` for
        every node with UI output, cached ones included), and every output was stored.
        """
        tracker = run.tracker
        if finish.success_seen and not run.store_failed and self._socket_live and run.watched_on == self._socket_epoch:
            await self._succeed(run)
            return
        entry: HistoryEntry | None = None
        for attempt in range(10):
            try:
                entry = (await self.hot.history(run.prompt_id)).get(run.prompt_id)
            except ComfyError as exc:
                log.warning("reading the history of %s: %s", run.prompt_id, exc)
            if entry is not None:
                break
            await asyncio.sleep(0.1 * (attempt + 1))
        if entry is None:
            await self._publish_final(
                run, tracker.failed(FailureReason.PROMPT_LOST, "the prompt ended but ComfyUI has no history of it")
            )
            return
        failure = self._failure_from_history(tracker, entry)
        if failure is not None:
            await self._publish_final(run, failure)
            return
        all_stored = True
        for node_id, output in entry.outputs.items():
            all_stored = await self._store_node(run, node_id, output) and all_stored
        if not all_stored:
            await self._publish_final(
                run, tracker.failed(FailureReason.INTERNAL, "an output could not be copied into the Object Store")
            )
            return
        await self._succeed(run)

    async def _succeed(self, run: _Run) -> None:
        ref = run.tracker.ref
        await self._publish_final(run, JobSucceeded(job_id=ref.job_id, attempt=ref.attempt, backend_id=self.backend_id))
        self.jobs_completed += 1

    @staticmethod
    def _failure_from_history(tracker: AttemptTracker, entry: HistoryEntry) -> EventBase | None:
        if entry.succeeded or entry.status is None:
            return None
        for name, data in entry.status.messages:
            if name == "execution_error":
                return tracker.failed(
                    FailureReason.NODE_ERROR,
                    str(data.get("exception_message") or data.get("exception_type") or "node failed").strip(),
                    node_id=data.get("node_id"),
                    node_type=data.get("node_type"),
                    details={"exception_type": data.get("exception_type", "")},
                )
            if name == "execution_interrupted":
                if tracker.cancelled:
                    return tracker.cancelled_event()
                return tracker.failed(
                    FailureReason.INTERRUPTED,
                    "the prompt was interrupted on the server, not by the orchestrator",
                    node_id=data.get("node_id"),
                    node_type=data.get("node_type"),
                )
        return tracker.failed(FailureReason.NODE_ERROR, f"ComfyUI reports the prompt as {entry.status.status_str}")


def _adopted_seq() -> int:
    """Progress sequence numbers for an attempt followed by a new agent process: above any earlier process's."""
    return int(time.time() * 1000)
