"""A durable event is published even when JetStream is not answering yet (right after a nats-server restart)."""

from __future__ import annotations

import asyncio
from typing import Any

import nats.errors
import nats.js.errors

from orch_agent import agent as agent_module
from orch_agent.agent import Agent
from orch_agent.settings import AgentSettings
from orch_agent.translate import AttemptRef, AttemptTracker
from orch_common.contracts.events import JobNodeExecuted, JobStarted, JobSucceeded


class JetStreamWakingUp:
    """Refuses the first publishes the way nats-py does while the stream is not back yet, then stores them."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.stored: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, data: bytes, headers: dict[str, str], **_: Any) -> None:
        if self.refusals:
            self.refusals -= 1
            raise nats.js.errors.NoStreamResponseError
        self.stored.append((subject, data, headers))


async def test_an_event_refused_while_jetstream_wakes_up_is_retried_until_stored():
    agent = Agent(AgentSettings(backend_id="gpu-a", comfy_url="http://127.0.0.1:1"))
    js = JetStreamWakingUp(refusals=2)
    agent._js = js  # type: ignore[assignment]
    event = JobStarted(job_id="j", attempt=1, backend_id="gpu-a", prompt_id="p")
    await agent.publish_event(event)
    assert [(subject, headers) for subject, _, headers in js.stored] == [
        (event.subject, {"Nats-Msg-Id": event.event_id})
    ]


class PipelinedJetStream:
    """Hands out a future per pipelined publish (this test settles them); `publish` stores at once."""

    def __init__(self) -> None:
        self.pipelined: list[tuple[str, asyncio.Future[Any]]] = []
        self.published: list[str] = []

    async def publish_async(self, subject: str, data: bytes, headers: dict[str, str], **_: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.pipelined.append((headers["Nats-Msg-Id"], future))
        return future

    async def publish(self, subject: str, data: bytes, headers: dict[str, str], **_: Any) -> None:
        self.published.append(headers["Nats-Msg-Id"])


async def test_pipelined_events_not_acked_are_published_again_in_order_before_the_terminal_event(monkeypatch):
    monkeypatch.setattr(agent_module, "_ACK_TIMEOUT", 0.2)
    agent = Agent(AgentSettings(backend_id="gpu-a", comfy_url="http://127.0.0.1:1"))
    js = PipelinedJetStream()
    agent._js = js  # type: ignore[assignment]
    run = agent_module._Run(tracker=AttemptTracker(AttemptRef("j", 1, "p", "gpu-a")), prompt={}, expected_seconds=None)
    events = [JobNodeExecuted(job_id="j", attempt=1, node_id=str(n)) for n in range(4)]
    for event in events:
        await agent._publish_soon(run, event)
    assert [msg_id for msg_id, _ in js.pipelined] == [e.event_id for e in events] and not js.published
    acked, failed, lost, after = (future for _, future in js.pipelined)
    acked.set_result(object())
    failed.set_exception(nats.errors.TimeoutError())
    after.set_result(object())  # `lost` never gets an answer
    succeeded = JobSucceeded(job_id="j", attempt=1, backend_id="gpu-a")
    await agent._publish_final(run, succeeded)
    assert js.published == [events[1].event_id, events[2].event_id, events[3].event_id, succeeded.event_id]
    assert not run.unacked and lost.cancelled()


async def test_a_job_started_whose_ack_does_not_come_is_published_again_before_its_command_is_acked(monkeypatch):
    monkeypatch.setattr(agent_module, "_ACK_TIMEOUT", 0.1)
    agent = Agent(AgentSettings(backend_id="gpu-a", comfy_url="http://127.0.0.1:1"))
    js = PipelinedJetStream()
    agent._js = js  # type: ignore[assignment]
    run = agent_module._Run(tracker=AttemptTracker(AttemptRef("j", 1, "p", "gpu-a")), prompt={}, expected_seconds=None)
    started = JobStarted(job_id="j", attempt=1, backend_id="gpu-a", prompt_id="p")
    acked = asyncio.Event()

    class Command:
        async def ack(self) -> None:
            assert js.published == [started.event_id], "acked before JobStarted was stored"
            acked.set()

    sent = await agent._publish_soon(run, started)
    await agent._ack_once(Command(), agent._stored(started, sent))  # type: ignore[arg-type]
    assert acked.is_set()
    answered = JobStarted(job_id="k", attempt=1, backend_id="gpu-a", prompt_id="q")
    sent = await agent._publish_soon(run, answered)
    assert sent is not None
    sent.set_result(object())
    await agent._stored(answered, sent)
    assert js.published == [started.event_id], "an acked event is not published again"
