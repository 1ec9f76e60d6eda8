"""Where this backend's GPU readings come from, decided once: NVML, the sim's `/sim/gpu`, or `/system_stats`.

- NVML when it reports a device (a real ComfyUI beside an NVIDIA GPU): utilisation, VRAM, temperature.
- Else `GET {comfy_url}/sim/gpu` when it answers with devices (an `orch sim` started with `--gpu-name`): the same
  three readings from its simulated GPU.
- Else ComfyUI's `/system_stats` (VRAM only).

The choice is made at the first definite answer and kept: a server that cannot be reached yet decides
nothing (the reading falls back to `/system_stats` until it answers). A sim that stops answering `/sim/gpu`
later is read from `/system_stats` for that sample, without forgetting that it is a sim.
"""

from __future__ import annotations

import asyncio
import json
import logging
from enum import StrEnum
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from orch_agent.capabilities import nvml_gpus, stats_gpus
from orch_agent.fasthttp import FastHttp
from orch_common.comfy.wire import SystemStats
from orch_common.contracts.live import GpuMetrics

__all__ = ["GpuReader", "GpuSource", "SimGpuDevice", "sim_gpus"]

log = logging.getLogger(__name__)

SIM_GPU_PATH = "/sim/gpu"


class GpuSource(StrEnum):
    NVML = "nvml"
    SIM = "sim"
    SYSTEM_STATS = "system_stats"


class _Foreign(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Utilization(_Foreign):
    gpu: float | None = None


class _Memory(_Foreign):
    total: int | None = None
    used: int | None = None


class _Temperature(_Foreign):
    gpu: float | None = None


class SimGpuDevice(_Foreign):
    """One device of `GET /sim/gpu` (NVML's terms: percent, bytes, degrees Celsius)."""

    index: int = 0
    name: str | None = None
    utilization: _Utilization = _Utilization()
    memory: _Memory = _Memory()
    temperature: _Temperature = _Temperature()


class _SimGpuReply(_Foreign):
    devices: list[SimGpuDevice]


def sim_gpus(body: Any) -> list[GpuMetrics]:
    """`GET /sim/gpu`'s body → metrics; raises `ValueError` when it is not that route's shape."""
    try:
        reply = _SimGpuReply.model_validate(body)
    except ValidationError as exc:
        raise ValueError(f"not a /sim/gpu reply: {exc}") from None
    return [
        GpuMetrics(
            index=device.index,
            name=device.name,
            utilization=device.utilization.gpu,
            vram_used=device.memory.used,
            vram_total=device.memory.total,
            temperature=device.temperature.gpu,
        )
        for device in reply.devices
    ]


class GpuReader:
    """Reads the GPU of one backend from the source that works there (see the module docstring)."""

    def __init__(
        self, comfy_url: str, *, timeout: float = 5.0, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.comfy_url = comfy_url.rstrip("/")
        self.source: GpuSource | None = None
        self._http = httpx.AsyncClient(base_url=self.comfy_url, timeout=timeout, transport=transport)
        # The sim is read every second: through the cheap client, unless a test transport stands in for the server.
        self._fast = (
            FastHttp(self.comfy_url, timeout=timeout)
            if transport is None and self.comfy_url.startswith("http://")
            else None
        )

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._fast is not None:
            await self._fast.aclose()

    async def read(self, stats: SystemStats | None) -> list[GpuMetrics]:
        """This sample's GPUs; `stats` is the `/system_stats` just read (None when ComfyUI did not answer)."""
        if self.source is None:
            return await self._probe(stats)
        if self.source is GpuSource.NVML:
            return await asyncio.to_thread(nvml_gpus)
        if self.source is GpuSource.SIM:
            gpus = await self._sim()
            if gpus is not None:
                return gpus
        return stats_gpus(stats) if stats is not None else []

    async def _probe(self, stats: SystemStats | None) -> list[GpuMetrics]:
        gpus = await asyncio.to_thread(nvml_gpus)
        if gpus:
            self._decide(GpuSource.NVML)
            return gpus
        try:
            response = await self._http.get(SIM_GPU_PATH)
        except httpx.HTTPError as exc:  # not reachable yet: decide nothing
            log.debug("GPU source undecided: %s", exc)
            return stats_gpus(stats) if stats is not None else []
        try:
            found = sim_gpus(response.json()) if response.is_success else []
        except ValueError:
            found = []
        if found:
            self._decide(GpuSource.SIM)
            return found
        self._decide(GpuSource.SYSTEM_STATS)
        return stats_gpus(stats) if stats is not None else []

    async def _sim(self) -> list[GpuMetrics] | None:
        if self._fast is not None:
            try:
                reply = await self._fast.request("GET", SIM_GPU_PATH)
                if not reply.is_success:
                    raise ValueError(f"answered {reply.status}")
                return sim_gpus(json.loads(reply.body))
            except (OSError, TimeoutError, ValueError) as exc:
                log.debug("/sim/gpu not read: %s", exc)
                return None
        try:
            response = await self._http.get(SIM_GPU_PATH)
            response.raise_for_status()
            return sim_gpus(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("/sim/gpu not read: %s", exc)
            return None

    def _decide(self, source: GpuSource) -> None:
        self.source = source
        log.info("GPU metrics come from %s", source.value)
