"""Contract with our ComfyUI client: everything the sim sends parses into `orch_common.comfy.wire` models and
serialises back to the same JSON (what the client reads from a real ComfyUI, it reads from the sim)."""

from __future__ import annotations

from typing import Any

from orch_common.comfy import wire
from tests.helpers.sim import SimProcess
from tests.sim.wsutil import Listener, fixture_path, http, recorded_request, set_faults, submit


async def run(sim: SimProcess, body: dict[str, Any], handshake: bool = False) -> tuple[list[dict[str, Any]], str]:
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        if handshake:
            await ws.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
        prompt_id = await submit(sim.url, body)
        await ws.wait_done(prompt_id)
    return [m for m in ws.messages if not m.get("binary")], prompt_id


async def test_every_websocket_message_parses_and_round_trips(sim: SimProcess) -> None:
    messages: list[dict[str, Any]] = []
    for name in ("basic", "runtime_error", "progress_ws_images", "mask", "text_preview_any"):
        got, _ = await run(sim, recorded_request(f"prompt_json_response_{name}.json"), handshake=True)
        messages += got
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_basic_cached.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_for(lambda m: m.get("type") == "executing" and m["data"].get("node") == "2")
        await http(sim.url, "POST", "/interrupt")
        await ws.wait_done(prompt_id)
    messages += ws.messages
    kinds = set()
    for message in messages:
        parsed = wire.parse_ws_message(message)
        assert not isinstance(parsed, wire.UnknownMessage), message
        assert parsed.to_wire() == message
        kinds.add(message["type"])
    assert kinds >= {"status", "execution_start", "execution_cached", "executing", "progress", "progress_state",
                     "executed", "execution_success", "execution_error", "execution_interrupted", "feature_flags"}


async def test_http_bodies_parse_into_the_client_models(sim: SimProcess) -> None:
    body = recorded_request("prompt_json_response_mask.json")
    accepted = (await http(sim.url, "POST", "/prompt", json=body)).json()
    assert wire.PromptAccepted.model_validate(accepted).to_wire() == accepted
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        await ws.wait_done(accepted["prompt_id"])
    history = (await http(sim.url, "GET", f"/history/{accepted['prompt_id']}")).json()
    entry = wire.HistoryEntry.model_validate(history[accepted["prompt_id"]])
    assert entry.to_wire() == history[accepted["prompt_id"]]
    assert len(entry.output_files()) == 3

    queue = (await http(sim.url, "GET", "/queue")).json()
    assert wire.QueueState.model_validate(queue).to_wire() == queue
    stats = (await http(sim.url, "GET", "/system_stats")).json()
    assert wire.SystemStats.model_validate(stats).to_wire() == stats
    node = (await http(sim.url, "GET", "/object_info/KSampler")).json()["KSampler"]
    assert wire.NodeInfo.model_validate(node).to_wire() == node
    files = {"image": ("c.png", fixture_path("upload_source.png").read_bytes(), "image/png")}
    uploaded = (await http(sim.url, "POST", "/upload/image", files=files)).json()
    assert wire.UploadedFile.model_validate(uploaded).to_wire() == uploaded
    broken = recorded_request("prompt_json_response_basic.json")
    broken["prompt"]["2"]["inputs"]["image"] = ["99", 0]
    refused = (await http(sim.url, "POST", "/prompt", json=broken)).json()
    assert wire.ValidationErrorBody.model_validate(refused).to_wire() == refused
