"""The fake GPU follows the sim's work: utilisation and temperature with load, VRAM with the loaded checkpoint."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from orch_sim.gpu import IDLE_C, FakeGpu
from tests.helpers.sim import start_sim

LOADED_PROMPT = {
    "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sim-sd15.safetensors"}},
    "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
    "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _gpu(loaded: list[bool]) -> tuple[FakeGpu, Clock]:
    clock = Clock()
    return FakeGpu("Sim RTX", 24 * 1024**3, lambda: loaded[0], clock=clock), clock


def test_readings_are_a_function_of_the_work_history() -> None:
    runs = []
    for _ in range(2):
        gpu, clock = _gpu([False])
        readings = [gpu.reading()]
        for busy_for, idle_for in ((2.0, 1.0), (5.0, 3.0)):
            gpu.begin_work()
            clock.now += busy_for
            readings.append(gpu.reading())
            gpu.end_work()
            clock.now += idle_for
            readings.append(gpu.reading())
        runs.append(readings)
    assert runs[0] == runs[1]


def test_utilisation_and_temperature_rise_under_load_and_fall_when_idle() -> None:
    gpu, clock = _gpu([False])
    idle = gpu.reading()
    assert idle["utilization"]["gpu"] == 0 and idle["temperature"]["gpu"] == round(IDLE_C) and not idle["busy"]
    gpu.begin_work()
    clock.now += 3.0
    hot = gpu.reading()
    assert hot["busy"] and hot["utilization"]["gpu"] > 90
    assert hot["temperature"]["gpu"] > idle["temperature"]["gpu"]
    gpu.end_work()
    clock.now += 1.0
    cooling = gpu.reading()
    assert 0 < cooling["utilization"]["gpu"] < hot["utilization"]["gpu"]
    clock.now += 60.0
    cold = gpu.reading()
    assert cold["utilization"]["gpu"] == 0
    assert cold["temperature"]["gpu"] < hot["temperature"]["gpu"]


def test_vram_used_follows_the_loaded_checkpoint() -> None:
    loaded = [False]
    gpu, _ = _gpu(loaded)
    empty = gpu.reading()["memory"]
    loaded[0] = True
    full = gpu.reading()["memory"]
    assert empty["total"] == full["total"] == 24 * 1024**3
    assert full["used"] > empty["used"] > 0
    assert full["used"] + full["free"] == full["total"]


def _until(read: Callable[[], Any], holds: Callable[[Any], bool], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if holds(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: last {value}")
        time.sleep(0.1)


def test_the_sims_gpu_route_follows_a_running_prompt_and_free(tmp_path: Path) -> None:
    with start_sim(tmp_path, gpu_name="Sim RTX", vram="24GB", models=["checkpoints=sim-sd15.safetensors"],
                   hang_at_node="CLIPTextEncode") as sim:
        def device() -> dict[str, Any]:
            devices = httpx.get(f"{sim.url}/sim/gpu").json()["devices"]
            assert len(devices) == 1
            found: dict[str, Any] = devices[0]
            return found

        idle = device()
        assert idle["name"] == "Sim RTX" and idle["utilization"]["gpu"] == 0
        assert idle["memory"]["total"] == 24 * 1024**3
        stats_free = httpx.get(f"{sim.url}/system_stats").json()["devices"][0]["vram_free"]
        assert stats_free == idle["memory"]["free"], "/system_stats and /sim/gpu describe the same device"

        response = httpx.post(f"{sim.url}/prompt", json={"prompt": LOADED_PROMPT})
        assert response.status_code == 200, response.text
        prompt_id = response.json()["prompt_id"]
        hot = _until(device, lambda d: d["utilization"]["gpu"] > 50 and d["temperature"]["gpu"]
                     >= idle["temperature"]["gpu"] + 3, "utilisation and temperature rise while the node runs")
        assert hot["busy"]
        assert hot["memory"]["used"] > idle["memory"]["used"], "the loaded checkpoint occupies VRAM"

        httpx.post(f"{sim.url}/sim/faults", json={"hang_at_node": None})
        _until(lambda: httpx.get(f"{sim.url}/history/{prompt_id}").json(), bool, "the prompt finishes")
        cooled = _until(device, lambda d: d["utilization"]["gpu"] < hot["utilization"]["gpu"]
                        and d["temperature"]["gpu"] < hot["temperature"]["gpu"], "the idle GPU cools down")
        assert not cooled["busy"]
        assert cooled["memory"]["used"] == hot["memory"]["used"], "the checkpoint stays loaded until /free"

        httpx.post(f"{sim.url}/free", json={"unload_models": True})
        assert device()["memory"]["used"] == idle["memory"]["used"]


def test_a_sim_without_a_gpu_reports_no_device(sim: Any) -> None:
    response = httpx.get(f"{sim.url}/sim/gpu")
    assert response.status_code == 200 and response.json() == {"devices": []}


def test_how_often_the_gpu_is_read_does_not_change_what_it_reads() -> None:
    finals = []
    for reads in (1, 7, 50):
        gpu, clock = _gpu([False])
        for busy in (True, False, True, False):
            if busy:
                gpu.begin_work()
            else:
                gpu.end_work()
            for _ in range(reads):
                clock.now += 3.0 / reads
                gpu.reading()
        finals.append((gpu._utilization, gpu._temperature))
    assert all(abs(u - finals[0][0]) < 1e-9 and abs(t - finals[0][1]) < 1e-9 for u, t in finals)
