"""The API survives a nats-server restart: it reconnects, accepts jobs again and its live stream resumes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client
from websockets.asyncio.client import connect

from orch_api import ApiSettings
from orch_common.contracts.events import JobSucceeded
from orch_common.natsutil import NatsServer, free_port
from tests.api.conftest import BASIC_CLASSES, ApiServer, register_backend, running_api
from tests.helpers.nats import nats_client, running_nats

pytestmark = pytest.mark.asyncio(loop_scope="module")

WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {}}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def own_nats(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    store: Path = tmp_path_factory.mktemp("nats-restart")
    async with running_nats(store) as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def own_api(own_nats: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiServer]:
    settings = ApiSettings(
        nats_url=own_nats.url,
        port=free_port(),
        rpc_timeout=2.0,
        publish_timeout=2.0,
        ui_dist=tmp_path_factory.mktemp("no-ui") / "dist",
    )
    async with running_api(settings) as server:
        yield server


async def _submit_until_accepted(api: ApiServer) -> str:
    async with api.client() as http:
        for _ in range(100):
            response = await http.post("/api/jobs", json={"workflow": WORKFLOW})
            if response.status_code == 202:
                return str(response.json()["id"])
            assert response.status_code == 503, response.text  # reconnecting: refused, nothing recorded
            await asyncio.sleep(0.1)
    raise AssertionError("the API never accepted a job after the restart")


async def test_after_a_nats_restart_jobs_are_accepted_and_live_states_flow_again(
    own_nats: NatsServer, own_api: ApiServer
) -> None:
    async with nats_client(own_nats.url) as nc:
        await register_backend(nc, "gpu-r", "http://127.0.0.1:9", BASIC_CLASSES)
    await asyncio.to_thread(own_nats.restart)
    job_id = await _submit_until_accepted(own_api)
    async with nats_client(own_nats.url) as nc, connect(f"{own_api.ws_url}/api/live") as ws:
        assert json.loads(await ws.recv())["type"] == "snapshot"
        await _finish(nc, job_id)
        async with asyncio.timeout(15):
            while True:
                message = json.loads(await ws.recv())
                if (
                    message["type"] == "job"
                    and message["job"]["id"] == job_id
                    and message["job"]["state"] == "succeeded"
                ):
                    break


async def _finish(nc: Client, job_id: str) -> None:
    event = JobSucceeded(job_id=job_id, attempt=1, backend_id="gpu-r")
    await nc.jetstream().publish(
        event.subject, event.model_dump_json().encode(), headers={"Nats-Msg-Id": event.event_id}
    )
