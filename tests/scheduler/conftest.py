"""A fresh nats-server per test (the scheduler's durable consumer must start from an empty stream) and helpers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest_asyncio
from nats.aio.client import Client

from orch_scheduler import Scheduler, SchedulerSettings
from tests.helpers.nats import running_nats
from tests.scheduler.wire import FakeAgent


@pytest_asyncio.fixture
async def nats_url(tmp_path: Path) -> AsyncIterator[str]:
    async with running_nats(tmp_path / "nats") as server:
        yield server.url


TEARDOWN_S = 15.0
"""A teardown step that takes longer is abandoned, so one stuck close cannot hang the whole suite."""


@pytest_asyncio.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    try:
        yield client
    finally:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.close(), TEARDOWN_S)


@pytest_asyncio.fixture
async def agent(nc: Client) -> AsyncIterator[Callable[..., Awaitable[FakeAgent]]]:
    """A factory of registered fake agents, all stopped at teardown."""
    made: list[FakeAgent] = []

    async def make(backend_id: str, classes: tuple[str, ...] = ("EmptyImage", "SaveImage")) -> FakeAgent:
        fake = FakeAgent(nc, backend_id, classes)
        made.append(fake)
        await fake.register()
        return fake

    yield make
    for fake in made:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.close(), TEARDOWN_S)


def scheduler_settings(nats_url: str, db: Path, **kw) -> SchedulerSettings:
    kw.setdefault("fetch_wait_s", 0.2)
    kw.setdefault("liveness_check_s", 0.1)
    return SchedulerSettings(nats_url=nats_url, db=db, **kw)


@asynccontextmanager
async def running_scheduler(nats_url: str, db: Path, **kw) -> AsyncIterator[Scheduler]:
    scheduler = Scheduler(scheduler_settings(nats_url, db, **kw))
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await asyncio.wait_for(scheduler.stop(), 60)
