"""Sampler steps report `progress`; previews are sent only when the prompt's `extra_data.preview_method`
asks for them: JPEG type-1 frames after each `progress`, or type-4 frames (with metadata) before it for
clients that negotiated `supports_preview_metadata`; broadcast as type 1 when the prompt has no client."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.sim import SimProcess, start_sim
from tests.sim.wsutil import Listener, http, submit

STEPS = 3


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    with start_sim(tmp_path_factory.mktemp("sim"), models=["checkpoints=sim-sd15.safetensors"],
                   step_seconds=0.01) as process:
        yield process


def sampler_prompt(seed: int) -> dict[str, Any]:
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sim-sd15.safetensors"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a bottle", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "3": {"class_type": "KSampler", "inputs": {
            "model": ["4", 0], "seed": seed, "steps": STEPS, "cfg": 7.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
            "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "fx_sampler"}},
    }


def sampler_part(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The messages while the sampler (node 3) runs, as (kind, detail)."""
    out: list[tuple[Any, ...]] = []
    inside = False
    for message in messages:
        if message.get("type") == "executing":
            inside = message["data"]["node"] == "3"
            continue
        if not inside:
            continue
        if message.get("binary"):
            detail = message["metadata"]["image_type"] if message["event_type"] == 4 else message["image_format"]
            out.append(("binary", message["event_type"], detail))
        elif message["type"] == "progress":
            out.append(("progress", message["data"]["value"], message["data"]["max"]))
        elif message["type"] == "progress_state":
            if any(e["state"] == "running" for n, e in message["data"]["nodes"].items() if n != "3"):
                inside = False  # the next node has started
                continue
            entry = message["data"]["nodes"]["3"]
            out.append(("progress_state", entry["value"], entry["state"]))
    return out


async def run(sim: SimProcess, seed: int, preview_method: str | None, handshake: bool = False,
              with_client: bool = True) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"prompt": sampler_prompt(seed)}
    if preview_method is not None:
        body["extra_data"] = {"preview_method": preview_method}
    async with Listener(sim.ws_url, "sampler-client") as ws:
        if handshake:
            await ws.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
            await ws.wait_for(lambda m: m.get("type") == "feature_flags")
        if with_client:
            body["client_id"] = "sampler-client"
        prompt_id = await submit(sim.url, body)
        if with_client:
            await ws.wait_done(prompt_id)
        else:
            await ws.wait_for(lambda m: m.get("type") == "progress_state"
                              and m["data"]["nodes"].get("9", {}).get("state") == "finished")
    history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()
    if with_client:
        assert history[prompt_id]["status"]["status_str"] == "success"
    return ws.messages


async def test_a_legacy_client_gets_jpeg_previews_after_each_progress(sim: SimProcess) -> None:
    part = sampler_part(await run(sim, 1, "auto"))
    expected: list[tuple[Any, ...]] = []
    for step in range(1, STEPS + 1):
        expected += [("progress_state", step, "running"), ("progress", step, STEPS), ("binary", 1, 1)]
    assert part == [*expected, ("progress_state", STEPS, "finished")]


async def test_a_metadata_client_gets_type_4_jpeg_previews_before_each_progress(sim: SimProcess) -> None:
    part = sampler_part(await run(sim, 2, "latent2rgb", handshake=True))
    frames = [p for p in part if p[0] == "binary"]
    assert frames == [("binary", 4, "image/jpeg")] * STEPS
    kinds = [p[0] for p in part]
    assert kinds[:3] == ["progress_state", "binary", "progress"]


@pytest.mark.parametrize("method", [None, "none", "default"])
async def test_no_previews_unless_the_prompt_asks(sim: SimProcess, method: str | None) -> None:
    part = sampler_part(await run(sim, 10 + len(str(method)), method))
    assert not any(p[0] == "binary" for p in part)
    assert [p for p in part if p[0] == "progress"] == [("progress", s, STEPS) for s in range(1, STEPS + 1)]


async def test_previews_of_a_prompt_without_client_are_broadcast_as_type_1(sim: SimProcess) -> None:
    messages = await run(sim, 3, "auto", with_client=False)
    assert not any(m.get("type") in ("executing", "executed", "execution_start") for m in messages)
    frames = [m for m in messages if m.get("binary")]
    assert [(f["event_type"], f["image_format"]) for f in frames] == [(1, 1)] * STEPS
    assert [m["data"]["value"] for m in messages if m.get("type") == "progress"] == list(range(1, STEPS + 1))
