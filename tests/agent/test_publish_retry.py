"""A durable event is published even when JetStream is not answering yet (right after a nats-server restart)."""

from __future__ import annotations

from typing import Any

import nats.js.errors

from orch_agent.agent import Agent
from orch_agent.settings import AgentSettings
from orch_common.contracts.events import JobStarted


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
