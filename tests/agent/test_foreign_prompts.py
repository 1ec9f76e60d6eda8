"""A prompt queued on the server by someone else (the embedded editor) shows as work, never as a job."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg

from orch_common.contracts import subjects
from orch_common.contracts.live import BackendMetrics
from orch_common.natsutil import NatsServer
from tests.agent.harness import heartbeat, running_agent
from tests.helpers.nats import nats_client
from tests.helpers.sim import start_sim
from tests.helpers.workflows import basic

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_a_foreign_prompt_makes_the_server_busy_with_its_queue_length_but_no_job(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, hang_at_node="ImageBlur") as sim:
        async with nats_client(nats_server.url) as nc:
            samples: asyncio.Queue[BackendMetrics] = asyncio.Queue()
            events: list[Msg] = []

            async def on_metrics(msg: Msg) -> None:
                samples.put_nowait(BackendMetrics.model_validate_json(msg.data))

            async def on_event(msg: Msg) -> None:
                events.append(msg)

            await nc.subscribe(subjects.live_backend_metrics("b-foreign"), cb=on_metrics)
            async with running_agent(nc, nats_server.url, sim.url, "b-foreign", metrics_interval_s=0.2):
                await nc.subscribe(subjects.all_events(), cb=on_event)
                async with httpx.AsyncClient(base_url=sim.url) as http:
                    prompts = []
                    for name in ("editor_one", "editor_two"):
                        body = {"prompt": basic(name), "client_id": "the-editor-in-an-iframe"}
                        response = await http.post("/prompt", json=body)
                        assert response.status_code == 200, response.text
                        prompts.append(response.json()["prompt_id"])
                    while True:  # the per-test timeout bounds this
                        busy = await samples.get()
                        if busy.running_prompt_id == prompts[0] and busy.queue_remaining == 2:
                            break
                    assert busy.running_job_id is None and busy.running_node is None and busy.progress is None
                    beat = await heartbeat(nc, "b-foreign")
                    assert beat is not None and beat["in_flight"] == []

                    await http.post("/sim/faults", json={"hang_at_node": None})
                    while True:
                        idle = await samples.get()
                        if idle.queue_remaining == 0 and idle.running_prompt_id is None:
                            break
                    assert idle.jobs_completed == 0
                await nc.flush()
                assert events == [], "no event is published for prompts the orchestrator did not submit"
