"""GPU readings: NVML where present, else a sim's `/sim/gpu`, else `/system_stats`; chosen once and kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from nats.aio.msg import Msg

from orch_agent.gpu import GpuReader, GpuSource
from orch_common.comfy.wire import SystemStats
from orch_common.contracts import subjects
from orch_common.contracts.live import BackendMetrics
from orch_common.natsutil import NatsServer
from tests.agent.harness import running_agent
from tests.helpers.nats import nats_client
from tests.helpers.sim import free_port, start_sim

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

HANGING_PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sim-sd15.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
    "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
}

CUDA_STATS = {
    "system": {"os": "posix", "ram_total": 1, "ram_free": 1, "comfyui_version": "0.3.64"},
    "devices": [{"name": "cuda:0 Real RTX : cudaMallocAsync", "type": "cuda", "index": 0,
                 "vram_total": 100, "vram_free": 40, "torch_vram_total": 0, "torch_vram_free": 0}],
}


async def test_a_sim_with_a_gpu_is_read_from_its_gpu_route(tmp_path: Path) -> None:
    with start_sim(tmp_path, gpu_name="Sim RTX", vram="24GB") as sim:
        reader = GpuReader(sim.url)
        try:
            [gpu] = await reader.read(None)
            assert reader.source is GpuSource.SIM
            assert gpu.name == "Sim RTX" and gpu.vram_total == 24 * 1024**3
            assert gpu.utilization == 0 and gpu.temperature is not None and gpu.vram_used
        finally:
            await reader.aclose()


async def test_a_server_without_the_sim_route_is_read_from_system_stats_and_not_asked_again() -> None:
    asked: list[str] = []

    def comfyui(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(404)

    reader = GpuReader("http://comfy.test", transport=httpx.MockTransport(comfyui))
    stats = SystemStats.model_validate(CUDA_STATS)
    try:
        for _ in range(3):
            [gpu] = await reader.read(stats)
            assert (gpu.name, gpu.vram_used, gpu.vram_total, gpu.utilization) == ("Real RTX", 60, 100, None)
        assert reader.source is GpuSource.SYSTEM_STATS and asked == ["/sim/gpu"]
    finally:
        await reader.aclose()


async def test_an_unreachable_server_decides_nothing_yet() -> None:
    reader = GpuReader(f"http://127.0.0.1:{free_port()}", timeout=2.0)
    try:
        assert await reader.read(None) == []
        assert reader.source is None
    finally:
        await reader.aclose()


async def test_the_agents_metrics_carry_the_sims_utilisation_vram_and_temperature(
    nats_server: NatsServer, tmp_path: Path
) -> None:
    with start_sim(tmp_path, gpu_name="Sim RTX", vram="24GB", models=["checkpoints=sim-sd15.safetensors"],
                   hang_at_node="CLIPTextEncode") as sim:
        async with nats_client(nats_server.url) as nc:
            samples: asyncio.Queue[BackendMetrics] = asyncio.Queue()

            async def on_metrics(msg: Msg) -> None:
                samples.put_nowait(BackendMetrics.model_validate_json(msg.data))

            await nc.subscribe(subjects.live_backend_metrics("b-gpu"), cb=on_metrics)
            async with running_agent(nc, nats_server.url, sim.url, "b-gpu", metrics_interval_s=0.2):
                idle = (await asyncio.wait_for(samples.get(), 10)).gpus[0]
                assert idle.name == "Sim RTX" and idle.vram_total == 24 * 1024**3
                assert idle.utilization is not None and idle.temperature is not None and idle.vram_used

                async with httpx.AsyncClient(base_url=sim.url) as http:
                    response = await http.post("/prompt", json={"prompt": HANGING_PROMPT})
                    assert response.status_code == 200, response.text
                    while True:  # the per-test timeout bounds this
                        busy = (await samples.get()).gpus[0]
                        assert busy.utilization is not None and busy.temperature is not None
                        if busy.utilization > 50 and busy.temperature > idle.temperature:
                            break
                    assert busy.vram_used is not None and busy.vram_used > idle.vram_used
                    await http.post("/sim/faults", json={"hang_at_node": None})
