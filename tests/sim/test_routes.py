"""Plain routes answer with the recorded shapes; the origin check and CORS behave like ComfyUI's."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.sim import SimProcess, start_sim
from tests.sim.wsutil import Listener, http, recorded

SAME_AS_RECORDED = {
    "/embeddings": "embeddings.json",
    "/features": "features.json",
    "/models": "models.json",
    "/models/checkpoints": "models_checkpoints.json",
    "/users": "users.json",
    "/prompt": "prompt_get.json",
    "/queue": "queue_empty.json",
    "/object_info/ImageBlur": "object_info_ImageBlur.json",
    "/object_info/NoSuchNodeXYZ": "object_info_unknown_node.json",
}


@pytest.mark.parametrize("prefix", ["", "/api"])
@pytest.mark.parametrize("path", sorted(SAME_AS_RECORDED))
async def test_a_plain_get_answers_the_recorded_body(sim: SimProcess, prefix: str, path: str) -> None:
    response = await http(sim.url, "GET", prefix + path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    want = recorded(SAME_AS_RECORDED[path])
    if isinstance(want, dict) and set(want) == {"status", "response"}:
        want = want["response"]
    assert response.json() == want


async def test_object_info_is_the_recorded_catalogue(sim: SimProcess) -> None:
    live = (await http(sim.url, "GET", "/object_info")).json()
    want = recorded("object_info.json")
    assert set(want) <= set(live)
    assert live["KSampler"] == want["KSampler"]
    assert (await http(sim.url, "GET", "/models/nope")).status_code == 404


async def test_extensions_and_experiment_models_list_what_exists(sim: SimProcess) -> None:
    extensions = (await http(sim.url, "GET", "/extensions")).json()
    assert set(recorded("extensions.json")) <= set(extensions)
    for path in extensions[:3]:
        assert (await http(sim.url, "GET", path)).status_code == 200
    folders = (await http(sim.url, "GET", "/experiment/models")).json()
    assert [f["name"] for f in folders] == [f["name"] for f in recorded("experiment_models.json")]


async def test_system_stats_has_the_recorded_shape_with_a_cpu_device(sim: SimProcess) -> None:
    live = (await http(sim.url, "GET", "/system_stats")).json()
    want = recorded("system_stats.json")
    assert list(live) == list(want)
    assert list(live["system"]) == list(want["system"])
    for key in ("os", "comfyui_version", "required_frontend_version", "required_templates_version",
                "installed_templates_version", "embedded_python"):
        assert live["system"][key] == want["system"][key]
    assert [list(d) for d in live["devices"]] == [list(d) for d in want["devices"]]
    assert live["devices"][0]["type"] == "cpu"


def test_a_fake_gpu_reports_vram_that_shrinks_while_a_model_is_loaded(tmp_path: Any) -> None:
    with start_sim(tmp_path, gpu_name="NVIDIA GeForce RTX 4090", vram="24GB",
                   models=["checkpoints=sim-sd15.safetensors"]) as sim:
        device = httpx.get(f"{sim.url}/system_stats").json()["devices"][0]
        assert device["type"] == "cuda" and device["index"] == 0
        assert "RTX 4090" in device["name"]
        assert device["vram_total"] == 24 * 1024**3
        idle_free = device["vram_free"]
        assert httpx.get(f"{sim.url}/models/checkpoints").json() == ["sim-sd15.safetensors"]
        ckpt = httpx.get(f"{sim.url}/object_info/CheckpointLoaderSimple").json()["CheckpointLoaderSimple"]
        assert "sim-sd15.safetensors" in ckpt["input"]["required"]["ckpt_name"][0]
        prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sim-sd15.safetensors"}},
                  "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
                  "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}}}
        response = httpx.post(f"{sim.url}/prompt", json={"prompt": prompt})
        assert response.status_code == 200, response.text
        prompt_id = response.json()["prompt_id"]
        for _ in range(200):
            if prompt_id in httpx.get(f"{sim.url}/history/{prompt_id}").json():
                break
            time.sleep(0.05)
        state = httpx.get(f"{sim.url}/sim/state").json()
        assert state["loaded_checkpoint"] == "sim-sd15.safetensors"
        loaded_free = httpx.get(f"{sim.url}/system_stats").json()["devices"][0]["vram_free"]
        assert loaded_free < idle_free
        httpx.post(f"{sim.url}/free", json={"unload_models": True})
        assert httpx.get(f"{sim.url}/system_stats").json()["devices"][0]["vram_free"] == idle_free


async def test_a_foreign_origin_is_refused_on_every_route_like_comfyui(sim: SimProcess) -> None:
    host = f"127.0.0.1:{sim.port}"
    for case in recorded("origin_check.json")["results"]:
        origin = case["origin_header"]
        if origin is not None:
            origin = origin.replace(":8188", f":{sim.port}")
        headers = {"Host": host, **({"Origin": origin} if origin else {})}
        queue = await http(sim.url, "GET", "/queue", headers=headers)
        assert queue.status_code == case["GET /queue"], origin
        post = await http(sim.url, "POST", "/prompt", headers=headers, json={"prompt": {}})
        assert post.status_code == case["POST /prompt (empty prompt)"], origin
        if post.status_code == 403:
            assert post.content == b""
        else:
            assert post.json()["error"]["type"] == "prompt_no_outputs"


async def test_a_foreign_origin_cannot_open_the_websocket(sim: SimProcess) -> None:
    with pytest.raises(Exception):  # noqa: B017 - the handshake is refused; the exact error is websockets'
        async with Listener(sim.ws_url, "x", headers={"Origin": "http://example.com"}):
            pass


def test_with_cors_enabled_any_origin_is_served_with_cors_headers(tmp_path: Any) -> None:
    with start_sim(tmp_path, enable_cors_header=True) as sim:
        response = httpx.get(f"{sim.url}/queue", headers={"Origin": "http://example.com"})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
        preflight = httpx.options(f"{sim.url}/prompt", headers={"Origin": "http://example.com"})
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["access-control-allow-methods"]


async def test_settings_start_with_only_the_values_that_keep_the_editor_load_clean(sim: SimProcess) -> None:
    settings = (await http(sim.url, "GET", "/settings")).json()
    assert settings == {"Comfy.Canvas.LeftMouseClickBehavior": "panning", "Comfy.Canvas.MouseWheelScroll": "zoom"}


async def test_settings_and_user_files_persist_so_the_editor_can_save_workflows(sim: SimProcess) -> None:
    await http(sim.url, "POST", "/api/settings", json={"Comfy.TutorialCompleted": True})
    await http(sim.url, "POST", "/api/settings/Comfy.InstalledVersion", json="1.27.10")
    settings = (await http(sim.url, "GET", "/api/settings")).json()
    assert settings["Comfy.TutorialCompleted"] is True and settings["Comfy.InstalledVersion"] == "1.27.10"
    workflow = json.dumps({"nodes": [], "links": [], "version": 0.4})
    saved = await http(sim.url, "POST", "/api/userdata/workflows%2Fmine.json?overwrite=true&full_info=true",
                       content=workflow)
    assert saved.status_code == 200 and saved.json()["path"] == "workflows/mine.json"
    again = await http(sim.url, "POST", "/api/userdata/workflows%2Fmine.json?overwrite=false", content=workflow)
    assert again.status_code == 409
    listing = await http(sim.url, "GET", "/api/userdata", params={"dir": "workflows", "recurse": "true",
                                                                   "split": "false", "full_info": "true"})
    assert [entry["path"] for entry in listing.json()] == ["mine.json"]
    assert (await http(sim.url, "GET", "/api/userdata/workflows%2Fmine.json")).text == workflow
    moved = await http(sim.url, "POST", "/api/userdata/workflows%2Fmine.json/move/workflows%2Fyours.json")
    assert moved.status_code == 200
    assert (await http(sim.url, "GET", "/api/userdata/workflows%2Fmine.json")).status_code == 404
    assert (await http(sim.url, "DELETE", "/api/userdata/workflows%2Fyours.json")).status_code == 204
    assert (await http(sim.url, "GET", "/api/userdata/..%2F..%2Fetc%2Fpasswd")).status_code == 404
    assert (await http(sim.url, "GET", "/api/userdata", params={"dir": "subgraphs/"})).status_code == 404


async def test_an_object_info_file_replaces_the_bundled_catalogue(tmp_path: Path) -> None:
    full = recorded("object_info.json")
    small = {name: full[name] for name in ("EmptyImage", "SaveImage")}
    path = tmp_path / "object_info.json"
    path.write_text(json.dumps(small))
    with start_sim(tmp_path, object_info=path) as sim:
        served = (await http(sim.url, "GET", "/object_info")).json()
        assert {"EmptyImage", "SaveImage"} <= set(served) and "ImageBlur" not in served
        body = recorded("prompt_json_response_basic.json")["request"]["json"]
        refused = (await http(sim.url, "POST", "/prompt", json=body)).json()
        assert refused["error"]["message"] == "Cannot execute because node ImageBlur does not exist."
