"""Injected faults (crash, hang, failure, slow object_info) and both kinds of restart."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.helpers.sim import SimProcess, start_sim
from tests.sim.wsutil import Listener, executing, http, recorded, recorded_request, set_faults, submit


async def test_fail_at_node_turns_that_node_into_an_execution_error(sim: SimProcess) -> None:
    await set_faults(sim.url, fail_at_node="ImageInvert")
    body = recorded_request("prompt_json_response_basic.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_done(prompt_id)
    error = next(m for m in ws.messages if m.get("type") == "execution_error")["data"]
    assert (error["node_id"], error["node_type"], error["exception_type"]) == ("3", "ImageInvert", "RuntimeError")
    assert sorted(error["executed"]) == ["1", "2"]
    assert isinstance(error["traceback"], list) and error["traceback"]
    assert not any(m.get("type") == "execution_success" for m in ws.messages)
    history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()[prompt_id]
    assert history["status"]["status_str"] == "error"
    assert history["status"]["messages"][-1][0] == "execution_error"


async def test_a_hung_node_keeps_the_socket_open_until_the_fault_is_cleared(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_basic.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_for(executing("2"))
        state = (await http(sim.url, "GET", "/sim/state")).json()
        assert (state["running_prompt_id"], state["executing_node"]) == (prompt_id, "2")
        with pytest.raises(TimeoutError):
            await ws.wait_for(executing("3"), timeout=0.5)
        assert not ws.closed
        await set_faults(sim.url, hang_at_node=None)
        await ws.wait_done(prompt_id)
    assert any(m.get("type") == "execution_success" for m in ws.messages)


async def test_slow_object_info_delays_only_object_info(sim: SimProcess) -> None:
    await set_faults(sim.url, slow_object_info=3)
    async with httpx.AsyncClient(base_url=sim.url) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/object_info", timeout=0.3)
        assert (await client.get("/queue", timeout=5)).status_code == 200
        assert (await client.get("/object_info/ImageBlur", timeout=5)).status_code == 200


async def test_pacing_can_change_at_run_time_and_a_restart_restores_the_start_up_options(sim: SimProcess) -> None:
    await set_faults(sim.url, speed=4, step_seconds=0.2, model_load_seconds=1.5)
    state = (await http(sim.url, "GET", "/sim/state")).json()
    assert (state["speed"], state["step_seconds"], state["model_load_seconds"]) == (4, 0.2, 1.5)
    await set_faults(sim.url, hang_at_node="3")
    state = (await http(sim.url, "POST", "/sim/restart")).json()
    assert (state["speed"], state["step_seconds"], state["model_load_seconds"]) == (1, 0.05, 0)
    assert state["faults"]["hang_at_node"] is None


@pytest.mark.parametrize("faults", [{"crash_after_steps": "three"}, {"speed": 0}, {"nonsense": 1}, [1],
                                    {"step_seconds": -1}, {"model_load_seconds": None}])
async def test_bad_fault_settings_are_refused_with_the_reason(sim: SimProcess, faults: Any) -> None:
    response = await http(sim.url, "POST", "/sim/faults", json=faults)
    assert response.status_code == 400
    assert response.json()["error"]


async def test_sim_restart_wipes_queue_history_cache_and_sockets_but_keeps_files(sim: SimProcess) -> None:
    body = recorded_request("prompt_json_response_basic.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_done(prompt_id)
        history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()[prompt_id]
        await set_faults(sim.url, hang_at_node="4")
        await http(sim.url, "POST", "/prompt", json={**body, "prompt": {
            **body["prompt"], "1": {**body["prompt"]["1"], "inputs": {**body["prompt"]["1"]["inputs"], "width": 8}}}})
        await http(sim.url, "POST", "/prompt", json=body)
        await ws.wait_for(executing("4"))
        assert (await http(sim.url, "POST", "/sim/restart")).status_code == 200
        await ws.wait_closed(10)
    assert (await http(sim.url, "GET", "/queue")).json() == recorded("queue_empty.json")
    assert (await http(sim.url, "GET", "/history")).json() == {}
    image = history["outputs"]["4"]["images"][0]
    assert (await http(sim.url, "GET", "/view", params=image)).status_code == 200
    await set_faults(sim.url, hang_at_node=None)
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        again = (await http(sim.url, "POST", "/prompt", json=body)).json()
        assert again["number"] == 0
        await ws.wait_done(again["prompt_id"])
    cached = next(m for m in ws.messages if m.get("type") == "execution_cached")
    assert cached["data"]["nodes"] == []


async def test_crash_after_steps_kills_the_process_mid_job(tmp_path: Any) -> None:
    sim = start_sim(tmp_path, crash_after_steps=2)
    try:
        body = recorded_request("prompt_json_response_progress_ws_images.json")
        async with Listener(sim.ws_url, body["client_id"]) as ws:
            await http(sim.url, "POST", "/prompt", json=body)
            await ws.wait_closed(20)
        assert sim.wait(timeout=20) != 0
        assert not any(m.get("type") == "execution_success" for m in ws.messages)
    finally:
        sim.kill()


async def test_a_killed_sim_comes_back_on_the_same_port_with_an_empty_queue_and_its_files(tmp_path: Any) -> None:
    sim = start_sim(tmp_path, hang_at_node="NoSuchClass")
    try:
        body = recorded_request("prompt_json_response_basic.json")
        async with Listener(sim.ws_url, body["client_id"]) as ws:
            prompt_id = await submit(sim.url, body)
            await ws.wait_done(prompt_id)
        image = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()[prompt_id]["outputs"]["4"]["images"][0]
        await http(sim.url, "POST", "/sim/faults", json={"hang_at_node": "4"})
        await http(sim.url, "POST", "/prompt", json=body)
        old_pid, port = sim.pid, sim.port
        (sim.data_dir / "temp" / "ComfyUI_temp_abcde_00001_.png").write_bytes(b"left over")
        sim.restart(hard=True)
        assert sim.port == port and sim.pid != old_pid
        assert (await http(sim.url, "GET", "/queue")).json() == recorded("queue_empty.json")
        assert (await http(sim.url, "GET", "/history")).json() == {}
        view = await http(sim.url, "GET", "/view", params=image)
        assert view.status_code == 200 and view.headers["content-type"] == "image/png"
        assert list((sim.data_dir / "temp").iterdir()) == []  # like ComfyUI, temp is emptied at start
    finally:
        sim.stop()
