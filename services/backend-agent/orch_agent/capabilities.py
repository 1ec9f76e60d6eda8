"""What this backend can run: node classes and model files from /object_info, memory from /system_stats,
and the GPU through NVML when there is one.

Model lists come from the COMBO inputs of loader nodes (`CheckpointLoaderSimple.ckpt_name` lists the files of
the `checkpoints` folder, and so on); a loader we do not know is simply not counted.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any

from orch_common.comfy.model_folders import folder_of
from orch_common.comfy.wire import SystemStats
from orch_common.contracts.events import BackendCapabilities
from orch_common.contracts.live import GpuMetrics

__all__ = [
    "build_capabilities",
    "combo_options",
    "device_display_name",
    "model_lists",
    "nvml_gpus",
    "stats_gpus",
]

log = logging.getLogger(__name__)


def combo_options(spec: Any) -> list[str] | None:
    """The choices of a COMBO input spec (`[[a, b], {...}]` or `["COMBO", {"options": [a, b]}]`), else None."""
    if not isinstance(spec, list | tuple) or not spec:
        return None
    head = spec[0]
    if isinstance(head, list):
        return [str(v) for v in head]
    if head == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        if isinstance(options, list):
            return [str(v) for v in options]
    return None


def model_lists(object_info: Mapping[str, Any]) -> dict[str, list[str]]:
    """Model folder → sorted file names, gathered from the COMBO inputs of loader nodes."""
    found: dict[str, set[str]] = {}
    for class_name, info in object_info.items():
        if not isinstance(info, dict) or "Loader" not in class_name:
            continue
        inputs = info.get("input") or {}
        for section in ("required", "optional"):
            for input_name, spec in (inputs.get(section) or {}).items():
                folder = folder_of(class_name, input_name)
                if folder is None:
                    continue
                options = combo_options(spec)
                if options is not None:
                    found.setdefault(folder, set()).update(options)
    return {folder: sorted(files) for folder, files in sorted(found.items())}


def device_display_name(name: str) -> str:
    """`cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync` (ComfyUI's device name) → `NVIDIA GeForce RTX 4090`."""
    match = re.match(r"^\s*[a-z]+:\d+\s+(.*?)(?:\s+:\s+\S+)?\s*$", name)
    return match.group(1) if match else name.strip()


_nvml_missing = False


def nvml_gpus() -> list[GpuMetrics]:
    """Every NVIDIA GPU's utilisation, memory and temperature; empty where NVML is not available."""
    global _nvml_missing
    if _nvml_missing:
        return []
    try:
        import pynvml
    except ImportError:
        _nvml_missing = True
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no library: no GPU metrics, silently (and no asking again)
        _nvml_missing = True
        return []
    gpus: list[GpuMetrics] = []
    try:
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            name = pynvml.nvmlDeviceGetName(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            utilization = pynvml.nvmlDeviceGetUtilizationRates(handle)
            temperature = pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
            gpus.append(
                GpuMetrics(
                    index=index,
                    name=name.decode() if isinstance(name, bytes) else str(name),
                    utilization=float(utilization.gpu),
                    vram_used=int(memory.used),
                    vram_total=int(memory.total),
                    temperature=float(temperature),
                )
            )
    except Exception as exc:  # a flaky driver must not take the agent down
        log.debug("NVML query failed: %s", exc)
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
    return gpus


def stats_gpus(stats: SystemStats) -> list[GpuMetrics]:
    """GPU memory as ComfyUI's /system_stats reports it (used where NVML is not available)."""
    gpus: list[GpuMetrics] = []
    for position, device in enumerate(stats.devices):
        if device.type == "cpu":
            continue
        used = None
        if device.vram_total is not None and device.vram_free is not None:
            used = device.vram_total - device.vram_free
        extra = device.model_extra or {}
        utilization = extra.get("utilization")
        temperature = extra.get("temperature")
        gpus.append(
            GpuMetrics(
                index=device.index if device.index is not None else position,
                name=device_display_name(device.name),
                utilization=float(utilization) if isinstance(utilization, int | float) else None,
                vram_used=used,
                vram_total=device.vram_total,
                temperature=float(temperature) if isinstance(temperature, int | float) else None,
            )
        )
    return gpus


def build_capabilities(
    object_info: Mapping[str, Any], object_info_hash: str, stats: SystemStats | None
) -> BackendCapabilities:
    """The capabilities announced in `BackendRegistered`."""
    gpus = nvml_gpus()
    device = next((d for d in stats.devices if d.type != "cpu"), None) if stats else None
    if device is None and stats and stats.devices:
        device = stats.devices[0]
    vram_total = gpus[0].vram_total if gpus else (device.vram_total if device else None)
    gpu_name = gpus[0].name if gpus else (device_display_name(device.name) if device and device.type != "cpu" else None)
    return BackendCapabilities(
        node_classes=sorted(object_info),
        models=model_lists(object_info),
        object_info_hash=object_info_hash,
        comfyui_version=stats.system.comfyui_version if stats else None,
        ram_total=stats.system.ram_total if stats else None,
        vram_total=vram_total,
        gpu_name=gpu_name,
        device_type=device.type if device else None,
    )
