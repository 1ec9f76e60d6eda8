"""Fan-out of live state to browsers: job states from the event stream, progress/previews/metrics from core NATS.

One hub per API process holds two subscriptions:

- an ephemeral ordered JetStream consumer on `orch.v1.evt.>` delivering the events after start-up (recreated
  from the last folded sequence after a NATS reconnect), folded into a small per-job summary
  (`{"id", "state", "backend", "attempt", "error", "outputs", "labels", "project_id", "run_id", "graph_node_id"}`:
  a run's job says from its first message which run, graph node and item (`labels["item"]`) it is) and backend
  status; a run's own events leave as `{"type": "run", "run": {"id", "project_id", "event", "item"}}` (the event
  without its document: `requested`, `item_retry_requested`, `cancellation_requested`);
- a core subscription on `orch.v1.live.>` (progress, previews, backend metrics; never stored).

Each connected client has an `Outbox` (coalescing, bounded, rate-limited per job); the hub offers every
message to every outbox without ever waiting on a client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from orch_api.bus import Bus
from orch_api.coalesce import Outbox
from orch_api.errors import ApiError
from orch_api.telemetry import ApiMetrics
from orch_common.contracts import subjects
from orch_common.contracts.events import parse_event
from orch_common.contracts.live import BackendMetrics, LivePreview, LiveProgress
from orch_common.contracts.rpc import JobState, JobView, RpcVerb

__all__ = ["LiveHub", "job_message", "public"]

log = logging.getLogger(__name__)

_STATE_OF_EVENT: dict[str, JobState] = {
    "job.submitted": JobState.QUEUED,
    "job.retried": JobState.QUEUED,
    "job.scheduled": JobState.SCHEDULED,
    "job.started": JobState.RUNNING,
    "job.progressed": JobState.RUNNING,
    "job.node_executed": JobState.RUNNING,
    "job.output_stored": JobState.RUNNING,
    "job.succeeded": JobState.SUCCEEDED,
    "job.failed": JobState.FAILED,
    "job.cancelled": JobState.CANCELLED,
}
_BACKEND_STATUS_OF_EVENT = {
    "backend.registered": "online",
    "backend.lost": "offline",
    "backend.disabled": "disabled",
    "backend.enabled": "online",
}
_KEEP_FINISHED = 1000
_KEEP_RUNS = 1000
_HEARTBEAT_S = 1.0
"""Idle heartbeat of the events consumer: nats-py recreates a consumer that misses two."""
_WATCH_S = 0.5


def public(summary: dict[str, Any]) -> dict[str, Any]:
    """A job summary without the hub's private bookkeeping (keys starting with `_`)."""
    return {k: v for k, v in summary.items() if not k.startswith("_")}


def job_message(summary: dict[str, Any]) -> dict[str, Any]:
    return {"type": "job", "job": public(summary)}


class LiveHub:
    """Subscribes once, folds job events into summaries, and offers every live message to every client."""

    def __init__(self, bus: Bus, metrics: ApiMetrics, *, rate: float, max_pending: int) -> None:
        self.bus = bus
        self.metrics = metrics
        self.rate = rate
        self.max_pending = max_pending
        self.jobs: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._finished: OrderedDict[str, None] = OrderedDict()  # terminal job ids, oldest first
        self.backend_metrics: dict[str, BackendMetrics] = {}
        self.backend_status: dict[str, str] = {}
        self._run_projects: OrderedDict[str, str] = OrderedDict()  # run id → project id, newest last
        self._outboxes: set[Outbox] = set()
        self._events: Subscription | None = None
        self._live: Subscription | None = None
        self._last_seq = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        info = await self.bus.js.stream_info(subjects.EVENTS_STREAM)
        self._last_seq = info.state.last_seq  # deliver what comes after now, and resume from here after a reconnect
        self._events = await self._subscribe_events()
        self._live = await self.bus.nc.subscribe(subjects.all_live(), cb=self._on_live)
        self._spawn(self._watch_reconnects())

    async def _subscribe_events(self) -> Subscription:
        """An ordered consumer delivering the events after the last one seen (or after start-up)."""
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=self._last_seq + 1)
        return await self.bus.js.subscribe(
            subjects.all_events(),
            cb=self._on_event,
            ordered_consumer=True,
            idle_heartbeat=_HEARTBEAT_S,
            config=config,
            stream=subjects.EVENTS_STREAM,
        )

    async def _watch_reconnects(self) -> None:
        """After NATS reconnects (a server restart loses the ephemeral consumer), subscribe again where we were."""
        seen = self.bus.nc.stats["reconnects"]
        while True:
            await asyncio.sleep(_WATCH_S)
            now = self.bus.nc.stats["reconnects"]
            if now == seen or not self.bus.nc.is_connected:
                continue
            try:
                replacement = await self._subscribe_events()
            except Exception as exc:  # still settling after the reconnect: try again on the next tick
                log.info("live hub: resubscribing to events failed (%r); retrying", exc)
                continue
            old, self._events = self._events, replacement
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.unsubscribe()
            seen = now
            log.info("live hub: resubscribed to events after a NATS reconnect (from sequence %d)", self._last_seq + 1)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for sub in (self._events, self._live):
            if sub is not None:
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
        self._events = self._live = None
        for outbox in list(self._outboxes):
            outbox.close()

    # ----------------------------------------------------------------------------------- clients

    def attach(self) -> Outbox:
        outbox = Outbox(rate=self.rate, max_pending=self.max_pending, on_coalesced=self.metrics.live_coalesced.inc)
        self._outboxes.add(outbox)
        self.metrics.live_clients.set(len(self._outboxes))
        return outbox

    def detach(self, outbox: Outbox) -> None:
        outbox.close()
        self._outboxes.discard(outbox)
        self.metrics.live_clients.set(len(self._outboxes))

    def _offer(self, kind: str, ident: str, rate_kind: str, message: dict[str, Any]) -> None:
        for outbox in self._outboxes:
            outbox.offer((kind, ident), (rate_kind, ident), message)

    # ------------------------------------------------------------------------------------ events

    async def _on_event(self, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        if seq <= self._last_seq:
            return  # delivered again by a replaced consumer: already folded
        self._last_seq = seq
        try:
            event = parse_event(msg.data)
        except (ValidationError, ValueError) as exc:
            log.warning("unreadable event on %s: %s", msg.subject, exc)
            return
        kind = getattr(event, "type", "")
        if kind.startswith("job."):
            self._fold_job(kind, event)
        elif kind in _BACKEND_STATUS_OF_EVENT:
            self._fold_backend(kind, event)
        elif kind.startswith("run."):
            self._fold_run(kind, event)

    def _fold_job(self, kind: str, event: Any) -> None:
        job_id: str = event.job_id
        summary = self.jobs.get(job_id)
        if summary is None:
            summary = {
                "id": job_id,
                "state": JobState.QUEUED.value,
                "backend": None,
                "attempt": 0,
                "error": None,
                "outputs": [],
            }
            self.jobs[job_id] = summary
        was_terminal = JobState(summary["state"]).terminal
        new_state = _STATE_OF_EVENT.get(kind)
        if new_state is not None and not was_terminal:
            summary["state"] = new_state.value
        if hasattr(event, "attempt"):
            summary["attempt"] = max(int(summary["attempt"]), int(event.attempt))
        if kind in ("job.scheduled", "job.started", "job.succeeded"):
            summary["backend"] = event.backend_id
        if kind == "job.submitted":
            summary["_seen_from_start"] = True
            summary["pinned_backend"] = event.pinned_backend
            summary["labels"] = dict(event.labels)
            summary["project_id"] = event.project_id
            summary["run_id"] = event.run_id
            summary["graph_node_id"] = event.graph_node_id
        if kind in ("job.attempt_failed", "job.failed"):
            summary["error"] = {
                "reason": event.reason.value,
                "message": event.message,
                "node_id": event.node_id,
                "node_type": event.node_type,
            }
        if kind == "job.cancellation_requested":
            summary["cancel_requested"] = True
        if kind == "job.output_stored" and all(o["artifact_id"] != event.artifact_id for o in summary["outputs"]):
            summary["outputs"] = [
                *summary["outputs"],
                {
                    "artifact_id": event.artifact_id,
                    "node_id": event.node_id,
                    "filename": event.filename,
                    "subfolder": event.subfolder,
                    "type": event.folder_type,
                    "kind": event.kind.value,
                    "content_type": event.content_type,
                },
            ]
        if kind == "job.progressed":
            return  # the full-rate progress arrives on the live subjects
        self.jobs.move_to_end(job_id)
        if JobState(summary["state"]).terminal and not was_terminal:
            self._finished[job_id] = None
            self.metrics.job_finished()
            if not summary.get("_seen_from_start"):
                self._spawn(self._complete(job_id))
        self._prune()
        self._offer("job", job_id, "job", job_message(dict(summary)))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _complete(self, job_id: str) -> None:
        """A job that finished but started before this process: its outputs and attempts come from the scheduler."""
        with contextlib.suppress(ApiError, ValidationError):
            view = JobView.model_validate(await self.bus.rpc(RpcVerb.JOBS_GET, {"job_id": job_id}))
            summary = self.jobs.get(job_id)
            if summary is None:
                return
            known = {o["artifact_id"] for o in summary["outputs"]}
            extra = [o.model_dump(mode="json") for o in view.outputs if o.artifact_id not in known]
            summary["outputs"] = [*extra, *summary["outputs"]]
            summary["attempt"] = max([int(summary["attempt"]), *(a.attempt for a in view.attempts)])
            summary["backend"] = summary["backend"] or view.backend
            summary["labels"] = dict(view.labels)
            summary["project_id"] = view.project_id
            summary["run_id"] = view.run_id
            summary["graph_node_id"] = view.graph_node_id
            self._offer("job", job_id, "job", job_message(dict(summary)))

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond `_KEEP_FINISHED` (without scanning every job per event)."""
        while len(self._finished) > _KEEP_FINISHED:
            job_id, _ = self._finished.popitem(last=False)
            self.jobs.pop(job_id, None)

    def _fold_backend(self, kind: str, event: Any) -> None:
        status = _BACKEND_STATUS_OF_EVENT[kind]
        self.backend_status[event.backend_id] = status
        backend: dict[str, Any] = {"id": event.backend_id, "status": status}
        if kind == "backend.registered":
            backend["comfy_url"] = event.comfy_url
            backend["capabilities"] = event.capabilities.model_dump(mode="json")
        self._offer("backend", event.backend_id, "backend", {"type": "backend", "backend": backend})

    def _fold_run(self, kind: str, event: Any) -> None:
        """A run's request, item retry or cancellation as a small message (clients that follow the run refetch it)."""
        run_id: str = event.run_id
        if kind == "run.requested":
            self._run_projects[run_id] = event.project_id
            self._run_projects.move_to_end(run_id)
            while len(self._run_projects) > _KEEP_RUNS:
                self._run_projects.popitem(last=False)
        run: dict[str, Any] = {
            "id": run_id,
            "project_id": self._run_projects.get(run_id),
            "event": kind.split(".", 1)[1],
            "item": getattr(event, "item", None),
        }
        message = {"type": "run", "run": run}
        for outbox in self._outboxes:  # one slot per event (a retry and a cancel close together both leave)
            outbox.offer(("run", event.event_id), ("run", run_id), message)

    # -------------------------------------------------------------------------------------- live

    async def _on_live(self, msg: Msg) -> None:
        try:
            data = json.loads(msg.data)
            kind = data.get("type") if isinstance(data, dict) else None
            if kind == "progress":
                p = LiveProgress.model_validate(data)
                self._offer(
                    "progress",
                    p.job_id,
                    "job",
                    {
                        "type": "progress",
                        "job_id": p.job_id,
                        "node_id": p.node_id,
                        "value": p.value,
                        "max": p.max,
                        "nodes": p.nodes,
                        "sent_at": p.sent_at,
                        "attempt": p.attempt,
                        "backend_id": p.backend_id,
                    },
                )
            elif kind == "preview":
                v = LivePreview.model_validate(data)
                self._offer(
                    "preview",
                    v.job_id,
                    "job",
                    {
                        "type": "preview",
                        "job_id": v.job_id,
                        "node_id": v.node_id,
                        "content_type": v.content_type,
                        "data_b64": v.data_b64,
                        "attempt": v.attempt,
                        "backend_id": v.backend_id,
                    },
                )
            elif kind == "metrics":
                m = BackendMetrics.model_validate(data)
                self.backend_metrics[m.backend_id] = m
                self.metrics.observe_backend(m)
                self._offer("metrics", m.backend_id, "backend", m.model_dump(mode="json"))
        except (ValidationError, ValueError) as exc:
            log.debug("unreadable live message on %s: %s", msg.subject, exc)
