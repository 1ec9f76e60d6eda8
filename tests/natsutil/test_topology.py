"""The topology is provisioned by one component, idempotently, on a real nats-server."""

from __future__ import annotations

import nats
import pytest

from orch_common.contracts import subjects
from orch_common.contracts.events import JobSubmitted
from orch_common.natsutil import NatsServer, ensure_topology

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_provisioning_twice_changes_nothing(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_topology(js)
    await ensure_topology(js)
    info = await js.stream_info(subjects.EVENTS_STREAM)
    assert info.config.subjects == [subjects.all_events()]
    await js.key_value(subjects.BACKENDS_BUCKET)
    await js.object_store(subjects.ARTIFACTS_BUCKET)
    await nc.close()


async def test_a_republished_event_is_stored_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    event = JobSubmitted(job_id="dedupe-1", workflow={"1": {"class_type": "EmptyImage", "inputs": {}}})
    first = await js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id})
    second = await js.publish(event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id})
    assert second.duplicate and second.seq == first.seq
    await nc.close()


async def test_events_survive_a_nats_server_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = NatsServer(store_dir=tmp_path)
    server.start()
    try:
        nc = await nats.connect(server.url)
        await ensure_topology(nc.jetstream())
        event = JobSubmitted(job_id="durable-1", workflow={})
        await nc.jetstream().publish(event.subject, event.model_dump_json().encode())
        await nc.close()
        server.restart()
        nc = await nats.connect(server.url)
        msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, event.subject)
        assert msg.data is not None and b"durable-1" in msg.data
        await nc.close()
    finally:
        server.stop()
