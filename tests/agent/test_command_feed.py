"""Commands reach the agent through its standing pull request, also after the nats-server restarted (a restarted
server forgets waiting pull requests, so the agent must ask again)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats.errors
import pytest

from orch_common.contracts import subjects
from tests.agent.harness import ended, job_events, run_command, running_agent, send
from tests.helpers.nats import nats_client, running_nats
from tests.helpers.sim import start_sim
from tests.helpers.workflows import basic

pytestmark = [pytest.mark.asyncio(loop_scope="function"), pytest.mark.timeout(120)]


async def jetstream_back(nc) -> None:
    for _ in range(150):
        try:
            await nc.jetstream().stream_info(subjects.COMMANDS_STREAM)
            await nc.jetstream().stream_info(subjects.EVENTS_STREAM)
            return
        except nats.errors.Error:
            await asyncio.sleep(0.2)
    raise TimeoutError("JetStream did not come back")


async def test_commands_are_still_run_after_the_nats_server_restarted(tmp_path: Path) -> None:
    async with running_nats(tmp_path / "nats") as server:
        with start_sim(tmp_path) as sim:
            async with nats_client(server.url) as nc, running_agent(nc, server.url, sim.url, "b-feed") as agent:
                before = run_command("b-feed", basic("feed_before"))
                await send(nc, before)
                assert (await job_events(nc, before.job_id, ended))[-1].type == "job.succeeded"
                await asyncio.to_thread(server.restart)
                after = run_command("b-feed", basic("feed_after"))
                await jetstream_back(nc)
                await send(nc, after)
                events = await job_events(nc, after.job_id, ended)
                assert [e.type for e in events][-1] == "job.succeeded", events
                assert agent.jobs_completed == 2
                info = await nc.jetstream().consumer_info(subjects.COMMANDS_STREAM, subjects.agent_consumer("b-feed"))
                assert info.num_ack_pending == 0 and info.num_pending == 0, "every command acked once"
