"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from orch_common.contracts import subjects
from orch_common.contracts.live import BackendMetrics, GpuMetrics
from tests.api.conftest import ApiServer, FakeScheduler

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_healthz_answers_while_the_process_is_up(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_fails_without_a_scheduler(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["nats"] is True and checks["topology"] is True and checks["scheduler"] is False
    assert "scheduler" in checks["scheduler_error"]


async def test_readyz_passes_when_the_scheduler_answers_ping(api: ApiServer, scheduler: FakeScheduler) -> None:
    async with api.client() as http:
        response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["ready"] is True


async def test_metrics_expose_the_series(api: ApiServer, nc: Client, scheduler: FakeScheduler) -> None:
    metrics = BackendMetrics(
        backend_id="gpu-m",
        at="2026-01-01T00:00:00Z",
        reachable=True,
        queue_remaining=4,
        gpus=[GpuMetrics(utilization=55.0, vram_used=10, vram_total=20, temperature=70.0)],
    )
    await nc.publish(subjects.live_backend_metrics("gpu-m"), metrics.model_dump_json().encode())
    await nc.flush()
    scheduler.backends = [{"id": "gpu-m", "comfy_url": None, "status": "busy", "queued_jobs": 2, "running_jobs": ["j"]}]
    async with api.client() as http:
        await http.get("/healthz")
        for _ in range(200):  # until the API has received the metrics message
            response = await http.get("/metrics")
            if 'orch_backend_queue_length{backend="gpu-m"} 4.0' in response.text:
                break
            await asyncio.sleep(0.05)
    text = response.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    for series in (
        "orch_jobs_submitted_total",
        'orch_jobs{state="queued"}',
        "orch_live_jobs",
        "orch_jobs_finished_per_minute",
        'orch_backend_queue_length{backend="gpu-m"} 4.0',
        'orch_gpu_utilization_percent{backend="gpu-m",gpu="0"} 55.0',
        'orch_gpu_vram_used_bytes{backend="gpu-m",gpu="0"} 10.0',
        'orch_gpu_temperature_celsius{backend="gpu-m",gpu="0"} 70.0',
        'orch_api_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz",status="200"}',
        "orch_api_live_clients",
        "orch_api_live_coalesced_total",
        'orch_backend_jobs_queued{backend="gpu-m"} 2.0',
        'orch_backend_jobs_running{backend="gpu-m"} 1.0',
        'orch_backends{status="busy"} 1.0',
    ):
        assert series in text, series
