"""Playing the scheduler on the real wire: send commands to an agent, read what it published."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError

from orch_agent import Agent, AgentSettings
from orch_common.contracts import subjects
from orch_common.contracts.commands import CancelJob, RunJob, command_subject
from orch_common.contracts.events import TERMINAL_EVENT_TYPES, parse_event

TERMINAL_OR_FAILED = TERMINAL_EVENT_TYPES | {"job.attempt_failed"}


def record_calls(owner: Any, method: str) -> list[Any]:
    """Replace `owner.method` by a wrapper that records each call's first argument and then makes the real call."""
    calls: list[Any] = []
    real = getattr(owner, method)

    async def recorded(first: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(first)
        return await real(first, *args, **kwargs)

    setattr(owner, method, recorded)
    return calls


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def run_command(backend_id: str, workflow: dict[str, Any], **fields: Any) -> RunJob:
    return RunJob(
        backend_id=backend_id,
        job_id=fields.pop("job_id", new_job_id()),
        attempt=fields.pop("attempt", 1),
        prompt_id=fields.pop("prompt_id", str(uuid.uuid4())),
        workflow=workflow,
        **fields,
    )


async def send(nc: Client, command: RunJob | CancelJob, msg_id: str | None = None) -> None:
    await nc.jetstream().publish(
        command_subject(command),
        command.model_dump_json().encode(),
        headers={"Nats-Msg-Id": msg_id or command.command_id},
    )


async def job_events(nc: Client, job_id: str, until: Callable[[list[Any]], bool], timeout: float = 60.0) -> list[Any]:
    """The job's events from the start of the events stream, until `until(events)` holds (or TimeoutError)."""
    js = nc.jetstream()
    sub = await js.subscribe(subjects.all_events(), ordered_consumer=True)
    events: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not until(events):
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"job {job_id}: only {[e.type for e in events]}")
            try:
                msg = await sub.next_msg(timeout=min(left, 1.0))
            except TimeoutError:
                continue
            event = parse_event(msg.data)
            if getattr(event, "job_id", None) == job_id:
                events.append(event)
    finally:
        await sub.unsubscribe()
    return events


def has(event_type: str) -> Callable[[list[Any]], bool]:
    return lambda events: any(e.type == event_type for e in events)


def ended(events: list[Any]) -> bool:
    return any(e.type in TERMINAL_OR_FAILED for e in events)


async def heartbeat(nc: Client, backend_id: str) -> dict[str, Any] | None:
    kv = await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)
    try:
        entry = await kv.get(backend_id)
    except KeyNotFoundError:
        return None
    if entry.value is None:
        return None
    value: dict[str, Any] = json.loads(entry.value)
    return value


async def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running_agent(
    nc: Client, nats_url: str, comfy_url: str, backend_id: str, **settings: Any
) -> AsyncIterator[Agent]:
    """An in-process agent, registered and ready; stopped (drained) on exit."""
    agent = Agent(AgentSettings(nats_url=nats_url, comfy_url=comfy_url, backend_id=backend_id, **settings))
    task = asyncio.create_task(agent.run())

    async def ready() -> bool:
        if task.done():
            task.result()
        beat = await heartbeat(nc, backend_id)
        return bool(beat and beat["status"] == "ready" and beat["agent_instance"] == agent.instance)

    try:
        await wait_for(ready, what=f"agent {backend_id} ready")
        yield agent
    finally:
        agent.request_stop()
        try:
            await asyncio.wait_for(asyncio.shield(task), 60)
        except TimeoutError:
            task.cancel()


async def start_then_leave(nc: Client, nats_url: str, comfy_url: str, command: RunJob) -> None:
    """Send `command` to an agent that leaves without draining once the job has started: the prompt runs on."""
    async with running_agent(nc, nats_url, comfy_url, command.backend_id, drain_grace_s=0):
        await send(nc, command)
        await job_events(nc, command.job_id, has("job.started"))
