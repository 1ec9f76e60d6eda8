"""Liveness across the scheduler's own NATS outage: a nats-server restart declares nobody lost, a real loss still is."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest_asyncio
from nats.aio.client import Client

from orch_common.contracts import events as ev
from orch_common.contracts import subjects
from orch_common.natsutil import NatsServer
from tests.helpers.nats import running_nats
from tests.scheduler.conftest import running_scheduler
from tests.scheduler.wire import eventually, publish, stream_events

TTL = 1.0


@pytest_asyncio.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    async with running_nats(tmp_path / "nats") as running:
        yield running


class Heartbeats:
    """An agent's registration and KV heartbeats that carry on through a NATS outage (failed beats are skipped)."""

    def __init__(self, nc: Client, backend_id: str) -> None:
        self.nc = nc
        self.backend_id = backend_id
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await publish(
            self.nc,
            ev.BackendRegistered(
                backend_id=self.backend_id,
                comfy_url="http://127.0.0.1:1",
                agent_instance="i1",
                capabilities=ev.BackendCapabilities(node_classes=["SaveImage"], object_info_hash="0" * 32),
            ),
        )
        self.task = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        value = json.dumps({"backend_id": self.backend_id}).encode()
        while True:
            with contextlib.suppress(Exception):
                kv = await asyncio.wait_for(self.nc.jetstream().key_value(subjects.BACKENDS_BUCKET), 0.5)
                await asyncio.wait_for(kv.put(self.backend_id, value), 0.5)
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None


async def _outage(server: NatsServer, seconds: float) -> None:
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(seconds)
    await asyncio.to_thread(server.start)


async def _connect(url: str) -> Client:
    return await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)


async def test_a_nats_server_restart_longer_than_the_ttl_declares_no_live_backend_lost(server, tmp_path):
    nc = await _connect(server.url)
    beats = Heartbeats(nc, "gpu-a")
    try:
        async with running_scheduler(server.url, tmp_path / "events.duckdb", heartbeat_ttl_s=TTL) as scheduler:
            await beats.start()
            await eventually(lambda: "gpu-a" in scheduler.state.backends, what="registration")
            await _outage(server, 3 * TTL)
            await asyncio.sleep(3 * TTL)  # past the grace: the heartbeats are judged again
            assert scheduler.state.backends["gpu-a"].status == "live"
            lost = await stream_events(nc, subjects.backend_event("gpu-a", "lost"))
            assert lost == []
    finally:
        await beats.stop()
        await nc.close()


async def test_a_backend_that_died_during_the_outage_is_lost_once_the_grace_is_over(server, tmp_path):
    nc = await _connect(server.url)
    beats = Heartbeats(nc, "gpu-a")
    try:
        async with running_scheduler(server.url, tmp_path / "events.duckdb", heartbeat_ttl_s=TTL) as scheduler:
            await beats.start()
            await eventually(lambda: "gpu-a" in scheduler.state.backends, what="registration")
            await beats.stop()
            await _outage(server, 3 * TTL)
            await eventually(lambda: scheduler.state.backends["gpu-a"].status == "lost", what="loss")
    finally:
        await nc.close()
