"""The simulated GPU of a sim started with `--gpu-name` (the one part of a GPU server we may fake).

Its readings follow the sim's work, deterministically from its history (no randomness):

- utilisation moves towards 97 % while a node runs and decays towards 0 % when idle (time constants
  `RISE_S` / `FALL_S`), like NVML's "percent of the last sample period a kernel ran";
- temperature moves towards `IDLE_C + utilisation × LOAD_C_PER_PERCENT` with the slower `THERMAL_S`, so it rises
  under load and cools when idle;
- VRAM used is the CUDA context plus what PyTorch reserves: much more while a checkpoint is loaded (grows when a
  loader runs, drops on `POST /free`). `/system_stats` derives its `vram_free` from the same numbers.

Readings are served by `GET /sim/gpu` (see :mod:`orch_sim.control`) in NVML's terms.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FakeGpu", "GpuMemory"]

BUSY_PERCENT = 97.0
RISE_S = 0.4
FALL_S = 1.5
THERMAL_S = 4.0
IDLE_C = 34.0
LOAD_C_PER_PERCENT = 0.45
CONTEXT_SHARE = 0.02
RESERVED_LOADED_SHARE = 0.45
RESERVED_EMPTY_SHARE = 0.01
RESERVED_FREE_SHARE = 0.1


def _approach(value: float, target: float, seconds: float, time_constant: float) -> float:
    return target + (value - target) * math.exp(-max(0.0, seconds) / time_constant)


@dataclass(frozen=True)
class GpuMemory:
    """Bytes of the fake device, in ComfyUI's terms (`torch_*`) and NVML's (`used`)."""

    total: int
    torch_total: int
    torch_free: int

    @property
    def used(self) -> int:
        return int(self.total * CONTEXT_SHARE) + self.torch_total - self.torch_free

    @property
    def free(self) -> int:
        return self.total - self.used


class FakeGpu:
    """One simulated device. `begin_work()` / `end_work()` bracket every running node; `model_loaded` says
    whether a checkpoint is "in VRAM" (asked at each reading, so `/free` is seen at once)."""

    def __init__(self, name: str, vram_total: int, model_loaded: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.vram_total = vram_total
        self._model_loaded = model_loaded
        self._clock = clock
        self._busy = 0
        self._at = clock()
        self._utilization = 0.0
        self._temperature = IDLE_C

    def _advance(self) -> None:
        """Bring utilisation and temperature from the last change to now.

        Exact solutions of u' = (target - u) / τu and T' = (IDLE_C + k·u - T) / τT, so the readings depend only on
        when work began and ended, not on how often they are read.
        """
        now = self._clock()
        seconds = max(0.0, now - self._at)
        self._at = now
        target = BUSY_PERCENT if self._busy else 0.0
        tau_u = RISE_S if self._busy else FALL_S
        gap = self._utilization - target
        settled = IDLE_C + LOAD_C_PER_PERCENT * target
        transient = tau_u * LOAD_C_PER_PERCENT * gap / (tau_u - THERMAL_S)
        self._utilization = _approach(self._utilization, target, seconds, tau_u)
        self._temperature = (settled + transient * math.exp(-seconds / tau_u)
                             + (self._temperature - settled - transient) * math.exp(-seconds / THERMAL_S))

    def begin_work(self) -> None:
        self._advance()
        self._busy += 1

    def end_work(self) -> None:
        self._advance()
        self._busy = max(0, self._busy - 1)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def memory(self) -> GpuMemory:
        reserved = int(self.vram_total * (RESERVED_LOADED_SHARE if self._model_loaded() else RESERVED_EMPTY_SHARE))
        return GpuMemory(total=self.vram_total, torch_total=reserved, torch_free=int(reserved * RESERVED_FREE_SHARE))

    def reading(self, index: int = 0) -> dict[str, Any]:
        """The device as NVML would describe it (`nvmlDeviceGet*`): integers, percent and degrees Celsius."""
        self._advance()
        memory = self.memory()
        utilization = round(self._utilization)
        return {
            "index": index,
            "name": self.name,
            "utilization": {"gpu": utilization, "memory": round(utilization * 0.6)},
            "memory": {"total": memory.total, "used": memory.used, "free": memory.free},
            "temperature": {"gpu": round(self._temperature)},
            "busy": self.busy,
        }
