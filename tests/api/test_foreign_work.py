"""A backend running a prompt queued by someone else (the embedded editor) is listed as busy, with no job."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client

from orch_common.contracts import subjects
from orch_common.contracts.live import BackendMetrics
from tests.api.conftest import BASIC_CLASSES, ApiServer, register_backend

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _listed(api: ApiServer, nc: Client, running_prompt_id: str | None, queue: int) -> dict[str, Any]:
    metrics = BackendMetrics(
        backend_id="gpu-f",
        at="2026-01-01T00:00:00Z",
        reachable=True,
        queue_remaining=queue,
        running_prompt_id=running_prompt_id,
    )
    await nc.publish(subjects.live_backend_metrics("gpu-f"), metrics.model_dump_json().encode())
    await nc.flush()
    async with api.client() as http:
        for _ in range(200):  # until the API has received this metrics message
            [view] = [b for b in (await http.get("/api/backends")).json() if b["id"] == "gpu-f"]
            if view["metrics"] and view["metrics"]["queue_remaining"] == queue:
                return view
            await asyncio.sleep(0.05)
    raise AssertionError(f"metrics with queue {queue} never reached the API")


async def test_a_backend_running_a_foreign_prompt_is_busy_and_idle_again_after(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-f", "http://127.0.0.1:9", BASIC_CLASSES)
    busy = await _listed(api, nc, "prompt-from-the-editor", 2)
    assert busy["status"] == "busy" and busy["running_jobs"] == []
    assert busy["metrics"]["running_job_id"] is None
    idle = await _listed(api, nc, None, 0)
    assert idle["status"] == "online"
