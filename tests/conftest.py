"""Fixtures shared by the whole suite. A real nats-server per test module (`nats_server`), never a fake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from orch_common.natsutil import NatsServer
from tests.helpers.nats import running_nats


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    """A nats-server with JetStream and the orchestrator's topology, shared by the tests of one module."""
    store: Path = tmp_path_factory.mktemp("nats")
    async with running_nats(store) as server:
        yield server
