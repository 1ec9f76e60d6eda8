"""The sim's own control API under `/sim/*`, for tests and benchmarks (not part of ComfyUI).

- `GET /sim/state`: queue, running prompt, loaded model, faults, restarts, pid.
- `POST /sim/faults`: `{"fail_at_node", "hang_at_node", "crash_after_steps", "slow_object_info"}` and the
  pacing `{"speed", "step_seconds", "model_load_seconds"}`; any key given replaces that setting (null clears
  a fault). Answers the new faults; 400 naming the bad key or value.
- `GET /sim/gpu`: the simulated GPU's readings in NVML's terms, `{"devices": [{"index", "name",
  "utilization": {"gpu", "memory"}, "memory": {"total", "used", "free"}, "temperature": {"gpu"}, "busy"}]}`;
  `{"devices": []}` for a sim without `--gpu-name` (a CPU server). The agent reads it where NVML is absent.
- `POST /sim/restart`: like a ComfyUI restart without losing the process: queue, history, node cache and
  loaded model wiped, every socket closed, faults and pacing back to the start-up options; files stay.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from orch_sim.comfy_routes import sim_of
from orch_sim.http_util import json_response

__all__ = ["router"]

router = APIRouter(prefix="/sim")


def _state(request: Request) -> dict[str, Any]:
    sim = sim_of(request)
    return {
        "pid": os.getpid(),
        "port": sim.config.port,
        "queue_remaining": sim.queue.remaining,
        "running_prompt_id": sim.runner.current_prompt_id,
        "executing_node": sim.runner.last_node_id,
        "history_size": len(sim.queue.history),
        "loaded_checkpoint": sim.state.loaded_checkpoint,
        "speed": sim.state.speed,
        "step_seconds": sim.state.step_seconds,
        "model_load_seconds": sim.state.model_load_seconds,
        "faults": dataclasses.asdict(sim.faults),
        "clients": sorted(sim.hub.clients),
        "restarts": sim.restarts,
        "nodes_available": sim.nodes.available,
        "data_dir": str(sim.root),
    }


@router.get("/state")
async def get_state(request: Request) -> Response:
    return json_response(_state(request))


def _optional(body: dict[str, Any], key: str, kind: type) -> Any:
    value = body[key]
    if value is None:
        return None
    if kind is str:
        return str(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number or null, got {value!r}")
    return kind(value)


@router.get("/gpu")
async def get_gpu(request: Request) -> Response:
    gpu = sim_of(request).gpu
    return json_response({"devices": [] if gpu is None else [gpu.reading(0)]})


@router.post("/faults")
async def post_faults(request: Request) -> Response:
    sim = sim_of(request)
    try:
        body = json.loads(await request.body() or b"{}")
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        unknown = set(body) - {"fail_at_node", "hang_at_node", "crash_after_steps", "slow_object_info", "speed",
                               "step_seconds", "model_load_seconds"}
        if unknown:
            raise ValueError(f"unknown fault setting(s): {sorted(unknown)}")
        faults = sim.faults
        if "fail_at_node" in body:
            faults.fail_at_node = _optional(body, "fail_at_node", str)
        if "hang_at_node" in body:
            faults.hang_at_node = _optional(body, "hang_at_node", str)
            if faults.hang_at_node is None:
                sim.runner.hang_release.set()
                sim.runner.hang_release.clear()
        if "crash_after_steps" in body:
            faults.crash_after_steps = _optional(body, "crash_after_steps", int)
        if "slow_object_info" in body:
            faults.slow_object_info = _optional(body, "slow_object_info", float) or 0.0
        if "speed" in body:
            speed = _optional(body, "speed", float)
            if speed is None or speed <= 0:
                raise ValueError("speed must be positive")
            sim.state.speed = speed
        for pacing in ("step_seconds", "model_load_seconds"):
            if pacing in body:
                seconds = _optional(body, pacing, float)
                if seconds is None or seconds < 0:
                    raise ValueError(f"{pacing} must be a number of seconds >= 0")
                setattr(sim.state, pacing, seconds)
    except ValueError as exc:
        return json_response({"error": str(exc)}, status=400)
    return json_response(dataclasses.asdict(sim.faults))


@router.post("/restart")
async def post_restart(request: Request) -> Response:
    await sim_of(request).restart()
    return json_response(_state(request))
