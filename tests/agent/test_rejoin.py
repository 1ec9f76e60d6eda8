"""An agent instance declared lost by the scheduler rejoins under a fresh instance, and only then."""

from __future__ import annotations

from pathlib import Path

import pytest

from orch_common.contracts import subjects
from orch_common.contracts.events import BackendLost, BackendRegistered, parse_event
from orch_common.natsutil import NatsServer
from tests.agent.harness import heartbeat, running_agent, wait_for
from tests.helpers.nats import nats_client
from tests.helpers.sim import start_sim

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def _registrations(nc, backend_id: str) -> list[BackendRegistered]:  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    sub = await js.subscribe(subjects.backend_event(backend_id, "registered"), ordered_consumer=True)
    out: list[BackendRegistered] = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            out.append(parse_event(msg.data))
    except TimeoutError:
        return out
    finally:
        await sub.unsubscribe()


async def test_an_instance_declared_lost_rejoins_as_a_new_instance(nats_server: NatsServer, tmp_path: Path) -> None:
    with start_sim(tmp_path) as sim:
        async with nats_client(nats_server.url) as nc, running_agent(nc, nats_server.url, sim.url, "b-rejoin") as agent:
            first = agent.instance
            other = BackendLost(backend_id="b-rejoin", agent_instance="someone-else", reason="test")
            js = nc.jetstream()
            await js.publish(other.subject, other.model_dump_json().encode(), headers={"Nats-Msg-Id": other.event_id})
            await wait_for(lambda: _beat_is(nc, "b-rejoin", first), what="heartbeats go on")
            assert agent.instance == first, "a BackendLost for another instance changes nothing"

            lost = BackendLost(backend_id="b-rejoin", agent_instance=first, reason="no heartbeat for 6s")
            await js.publish(lost.subject, lost.model_dump_json().encode(), headers={"Nats-Msg-Id": lost.event_id})

            async def rotated() -> bool:
                return agent.instance != first

            await wait_for(rotated, what="a fresh instance")
            second = agent.instance
            await wait_for(lambda: _beat_is(nc, "b-rejoin", second), what="heartbeats under the new instance")
            registered = await _registrations(nc, "b-rejoin")
            assert [r.agent_instance for r in registered] == [first, second]


async def _beat_is(nc, backend_id: str, instance: str) -> bool:  # type: ignore[no-untyped-def]
    beat = await heartbeat(nc, backend_id)
    return bool(beat and beat["agent_instance"] == instance and beat["status"] == "ready")
