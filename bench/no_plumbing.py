"""The floor of a benchmark: the scheduler's own policy driving the sims, with no plumbing in between.

This process runs the scheduler's pure core (`decide` and `apply`: the placement policy and the run engine) on
the real clock, in-process, and talks to the sims directly over our ComfyUI client. There is no nats-server,
no event log, no agent and no API: a JobScheduled decision is posted at once (with the agent's own client for
the per-job routes); an input bound to an upstream output is read from the upstream server's `/view` and
uploaded to its own server (as an agent does), and the sims' websocket messages are folded back as JobStarted,
JobOutputStored and JobSucceeded. Nothing is durable and no output is copied anywhere: an output is read only
when a downstream stage needs it.

What is left is the least any orchestrator with this policy must spend on this machine: the sims' own work (the
sampler sleeps, the images ComfyUI decodes and encodes), the images moved between servers, and the prompts' HTTP
and websocket traffic. The full system against this floor is the cost of the event-sourced plumbing (NATS,
DuckDB, agents, API, every output copied) on the same shared cores.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.common import executing_spans
from orch_agent.comfy_fast import HotComfy
from orch_common.comfy.client import ComfyClient
from orch_common.comfy.wire import ExecutedMessage, ExecutionErrorMessage, ExecutionSuccessMessage
from orch_common.contracts import events as ev
from orch_scheduler.domain.decide import decide
from orch_scheduler.domain.fold import apply
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.settings import SchedulerSettings

__all__ = ["DirectRun", "fleet_state", "run_with_policy"]

IMAGE_NODE = "20"  # the SaveImage node whose first image a chained stage hands on (its port "20.images")


def fleet_state(server_ids: Sequence[str], prompts: Sequence[Mapping[str, Any]], when: datetime) -> SchedulerState:
    """A scheduler state with `server_ids` registered at `when`, each having every node class of `prompts`."""
    classes = sorted({node["class_type"] for prompt in prompts for node in prompt.values()})
    state = SchedulerState()
    for server_id in server_ids:
        caps = ev.BackendCapabilities(node_classes=classes, models={}, object_info_hash="h" * 20)
        registered = ev.BackendRegistered(
            backend_id=server_id,
            comfy_url=f"http://{server_id}.invalid",
            agent_instance=f"{server_id}-1",
            capabilities=caps,
            occurred_at=when,
        )
        apply(state, registered)
    return state


@dataclass
class DirectRun:
    """Timings of one run, on this process's monotonic clock (seconds)."""

    started: dict[str, tuple[str, float]] = field(default_factory=dict)
    """job id → (server, when its prompt was accepted)."""
    ended: dict[str, float] = field(default_factory=dict)
    first_submitted: float = 0.0

    @property
    def makespan(self) -> float:
        return max(self.ended.values()) - self.first_submitted

    def executing(self) -> dict[str, tuple[str, float]]:
        """job id → (server, seconds executing), as `bench_placement.executing` measures the full system."""
        return executing_spans((job, server, start, self.ended[job]) for job, (server, start) in self.started.items())


class _Server:
    """One sim: its client, its websocket listener, and the prompts in flight on it."""

    def __init__(self, server_id: str, url: str) -> None:
        self.id = server_id
        self.client = ComfyClient(url, timeout=60)
        self.hot = HotComfy(self.client)  # the agent's own client for the per-job routes
        self.pending: dict[str, asyncio.Future[dict[str, Any] | None]] = {}
        self.outputs: dict[str, dict[str, Any]] = {}
        self.connected = asyncio.Event()
        self.listener: asyncio.Task[None] | None = None

    async def listen(self) -> None:
        async for message in self.client.messages():
            self.connected.set()
            if isinstance(message, ExecutedMessage) and message.data.node == IMAGE_NODE and message.data.output:
                self.outputs[message.data.prompt_id] = message.data.output["images"][0]
            elif isinstance(message, ExecutionSuccessMessage):
                future = self.pending.pop(message.data.prompt_id, None)
                if future is not None and not future.done():
                    future.set_result(self.outputs.pop(message.data.prompt_id, None))
            elif isinstance(message, ExecutionErrorMessage):
                future = self.pending.pop(message.data.prompt_id, None)
                if future is not None and not future.done():
                    future.set_exception(RuntimeError(f"{self.id}: {message.data.exception_message}"))


async def run_with_policy(
    urls: Mapping[str, str],
    state: SchedulerState,
    jobs: int,
    *,
    policy: str,
    queued: Sequence[ev.JobSubmitted] = (),
    timeout: float = 600.0,
) -> DirectRun:
    """Drive the sims at `urls` (backend id → URL) from `state` (those backends registered, the runs requested,
    the jobs `queued` submitted) until `jobs` jobs have succeeded, with the scheduler's own decisions and its
    default queue settings."""
    settings = SchedulerSettings()
    servers = {sid: _Server(sid, url) for sid, url in urls.items()}
    run = DirectRun()
    submitted: dict[str, ev.JobSubmitted] = {job.job_id: job for job in queued}
    stored: dict[str, tuple[_Server, dict[str, Any]]] = {}  # artifact id → the server and file holding it
    woken = asyncio.Event()
    tasks: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    def finished(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]
            woken.set()

    async def execute(scheduled: ev.JobScheduled) -> None:
        server, job = servers[scheduled.backend_id], submitted[scheduled.job_id]
        workflow = job.workflow
        if job.inputs:
            workflow = copy.deepcopy(workflow)
            for binding in job.inputs:
                source, ref = stored[binding.artifact_id]
                view = await source.hot.view(ref["filename"], subfolder=ref.get("subfolder", ""), type=ref["type"])
                uploaded = await server.hot.upload_image(view.content, binding.filename)
                workflow[binding.node_id]["inputs"][binding.input_name] = uploaded.name
        ended: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        server.pending[scheduled.prompt_id] = ended  # before the POST: the end may come first on the websocket
        await server.hot.submit_prompt(workflow, prompt_id=scheduled.prompt_id)
        run.started[job.job_id] = (server.id, time.monotonic())
        ref = dict(job_id=job.job_id, attempt=scheduled.attempt)
        apply(state, ev.JobStarted(**ref, backend_id=server.id, prompt_id=scheduled.prompt_id))
        woken.set()
        image = await ended
        run.ended[job.job_id] = time.monotonic()
        if image is not None:
            artifact_id = f"{job.job_id}/{scheduled.attempt}/{IMAGE_NODE}/0-{image['filename']}"
            stored[artifact_id] = (server, image)
            apply(
                state,
                ev.JobOutputStored(
                    **ref,
                    node_id=IMAGE_NODE,
                    index=0,
                    artifact_id=artifact_id,
                    filename=image["filename"],
                    kind=ev.ArtifactKind.IMAGE,
                    content_type="image/png",
                    size=0,
                    sha256=hashlib.sha256(artifact_id.encode()).hexdigest(),  # a distinct upload name per output
                ),
            )
        apply(state, ev.JobSucceeded(**ref, backend_id=server.id))
        woken.set()

    def decision_round() -> bool:
        decisions = decide(
            state,
            datetime.now(UTC),
            max_inflight=settings.max_inflight_per_backend,
            new_prompt_id=lambda: str(uuid.uuid4()),
            policy=policy,
            queue_ahead_s=settings.queue_ahead_s,
            max_depth=settings.max_queue_depth,
        )
        for event in decisions.events:
            apply(state, event)
            if isinstance(event, ev.JobSubmitted):
                submitted[event.job_id] = event
            elif isinstance(event, ev.JobScheduled):
                task = asyncio.create_task(execute(event))
                tasks.add(task)
                task.add_done_callback(finished)
        return bool(decisions.events)

    try:
        for server in servers.values():
            server.listener = asyncio.create_task(server.listen())
        await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in servers.values())), 30)
        run.first_submitted = time.monotonic()
        deadline = run.first_submitted + timeout
        while len(run.ended) < jobs:
            woken.clear()
            for _ in range(100):
                if not decision_round():
                    break
            if failures:
                raise failures[0]  # a failed stage ends the run with its error
            await asyncio.wait_for(woken.wait(), max(0.0, deadline - time.monotonic()))
    finally:
        for task in list(tasks):
            task.cancel()
        for server in servers.values():
            if server.listener is not None:
                server.listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await server.listener
            await server.hot.aclose()
            await server.client.aclose()
    return run
