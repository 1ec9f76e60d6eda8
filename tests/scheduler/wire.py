"""Playing the agents' role on the real wire: registrations, KV heartbeats, commands read from ORCH_COMMANDS."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from nats.aio.client import Client
from nats.js.api import Header

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob, RunJob, parse_command

__all__ = ["FakeAgent", "consumer_drained", "eventually", "publish", "stream_events"]


async def publish(nc: Client, event: Any, *, msg_id: bool = True) -> int:
    """Publish an event to ORCH_EVENTS as the other services do; returns its stream sequence."""
    headers = {Header.MSG_ID.value: event.event_id} if msg_id else None
    ack = await nc.jetstream().publish(
        event.subject, event.model_dump_json().encode(), stream=subjects.EVENTS_STREAM, headers=headers
    )
    return ack.seq


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def stream_events(nc: Client, subject: str) -> list[dict[str, Any]]:
    """Every event stored on ORCH_EVENTS under `subject` (wildcards allowed), oldest first."""
    js = nc.jetstream()
    sub = await js.subscribe(subject, stream=subjects.EVENTS_STREAM, ordered_consumer=True)
    out: list[dict[str, Any]] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                return out
            out.append(json.loads(msg.data))
    finally:
        await sub.unsubscribe()


async def consumer_drained(nc: Client, timeout: float = 15.0) -> None:
    """Wait until the scheduler's durable consumer has acked everything in the stream."""
    js = nc.jetstream()
    deadline = time.monotonic() + timeout
    while True:
        info = await js.consumer_info(subjects.EVENTS_STREAM, subjects.SCHEDULER_CONSUMER)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the scheduler's consumer did not drain: {info}")
        await asyncio.sleep(0.05)


class FakeAgent:
    """One backend's agent, as far as the scheduler can tell: events, heartbeats and its command consumer."""

    def __init__(self, nc: Client, backend_id: str, classes: tuple[str, ...] = ("EmptyImage", "SaveImage")) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.backend_id = backend_id
        self.instance = f"{backend_id}-instance-1"
        self.classes = classes
        self._beat: asyncio.Task[None] | None = None
        self._sub: Any = None

    async def register(self) -> None:
        self._sub = await self.js.pull_subscribe(
            subjects.backend_commands(self.backend_id),
            durable=subjects.agent_consumer(self.backend_id),
            stream=subjects.COMMANDS_STREAM,
        )
        await self.heartbeat()
        await publish(
            self.nc,
            ev.BackendRegistered(
                backend_id=self.backend_id,
                comfy_url=f"http://127.0.0.1:1/{self.backend_id}",
                agent_instance=self.instance,
                capabilities=ev.BackendCapabilities(node_classes=list(self.classes), object_info_hash="0" * 32),
            ),
        )
        self._beat = asyncio.create_task(self._beat_forever())

    async def heartbeat(self) -> None:
        kv = await self.js.key_value(subjects.BACKENDS_BUCKET)
        await kv.put(self.backend_id, json.dumps({"backend_id": self.backend_id, "instance": self.instance}).encode())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            await self.heartbeat()

    async def stop_heartbeat(self) -> None:
        if self._beat is not None:
            self._beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat
            self._beat = None

    async def deregister(self) -> None:
        await self.stop_heartbeat()
        kv = await self.js.key_value(subjects.BACKENDS_BUCKET)
        await kv.delete(self.backend_id)

    async def next_command(self, timeout: float = 15.0) -> RunJob | CancelJob:
        (msg,) = await self._sub.fetch(1, timeout=timeout)
        await msg.ack()
        return parse_command(msg.data)

    async def pending_commands(self) -> int:
        info = await self._sub.consumer_info()
        return int(info.num_pending) + int(info.num_ack_pending)

    async def start(self, run: RunJob) -> None:
        await publish(
            self.nc,
            ev.JobStarted(job_id=run.job_id, attempt=run.attempt, backend_id=self.backend_id, prompt_id=run.prompt_id),
        )

    async def succeed(self, run: RunJob) -> None:
        await self.start(run)
        await publish(self.nc, ev.JobSucceeded(job_id=run.job_id, attempt=run.attempt, backend_id=self.backend_id))

    async def fail(self, run: RunJob, reason: ev.FailureReason, message: str, **kw: Any) -> None:
        await publish(
            self.nc,
            ev.JobAttemptFailed(
                job_id=run.job_id, attempt=run.attempt, backend_id=self.backend_id, reason=reason, message=message, **kw
            ),
        )

    async def close(self) -> None:
        await self.stop_heartbeat()
