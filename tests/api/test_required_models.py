"""Model files at submission: computed into `JobSubmitted.required_models`, refused when no backend has them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js.errors import NoKeysError

from orch_api.model_files import model_uses
from orch_common.contracts import subjects
from orch_common.contracts.events import parse_event
from tests.api.conftest import ApiServer, event_count
from tests.helpers.sim import start_sim

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLASSES = ["CheckpointLoaderSimple", "LoraLoader", "CLIPTextEncode", "PreviewAny", "EmptyImage", "SaveImage"]
DEAD_URL = "http://127.0.0.1:9"


def txt(ckpt: str, lora: str | None = None) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat.safetensors", "clip": ["1", 1]}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }
    if lora is not None:
        prompt["4"] = {
            "class_type": "LoraLoader",
            "inputs": {
                "lora_name": lora,
                "model": ["1", 0],
                "clip": ["1", 1],
                "strength_model": 1.0,
                "strength_clip": 1.0,
            },
        }
        prompt["5"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "x", "clip": ["4", 1]}}
        prompt["6"] = {"class_type": "PreviewAny", "inputs": {"source": ["5", 0]}}
    return prompt


async def register(nc: Client, backend_id: str, models: dict[str, list[str]], url: str = DEAD_URL) -> None:
    kv = await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)
    value = {
        "backend_id": backend_id,
        "comfy_url": url,
        "agent_instance": "test",
        "capabilities": {"node_classes": CLASSES, "models": models, "object_info_hash": f"hash-{backend_id}"},
    }
    await kv.put(backend_id, json.dumps(value).encode())


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def _no_backends(nc: Client) -> AsyncIterator[None]:
    kv = await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)
    yield
    with contextlib.suppress(NoKeysError):
        for key in await kv.keys():
            await kv.delete(key)


async def submitted(nc: Client, api: ApiServer, body: dict[str, Any]) -> Any:
    async with api.client() as http:
        response = await http.post("/api/jobs", json=body)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, subjects.job_event(job_id, "submitted"))
    return parse_event(msg.data)


async def refused(nc: Client, api: ApiServer, body: dict[str, Any]) -> dict[str, Any]:
    before = await event_count(nc)
    async with api.client() as http:
        response = await http.post("/api/jobs", json=body)
    assert response.status_code == 422, response.text
    assert await event_count(nc) == before, "a refused submission must not create a job"
    detail: dict[str, Any] = response.json()["detail"]
    assert detail["code"] == "missing_models"
    return detail


async def test_model_files_are_the_loader_values_not_text_that_looks_like_one() -> None:
    uses = model_uses(txt("a.safetensors", lora="l.safetensors"))
    assert [(u.node_id, u.input, u.name) for u in uses] == [
        ("1", "ckpt_name", "a.safetensors"),
        ("4", "lora_name", "l.safetensors"),
    ]


async def test_the_submitted_job_names_its_model_files_by_folder(api: ApiServer, nc: Client) -> None:
    await register(nc, "m-1", {"checkpoints": ["a.safetensors", "b.safetensors"], "loras": ["l.safetensors"]})
    event = await submitted(nc, api, {"workflow": txt("a.safetensors", lora="l.safetensors")})
    assert event.required_models == {"checkpoints": ["a.safetensors"], "loras": ["l.safetensors"]}


async def test_a_job_without_model_files_requires_none(api: ApiServer, nc: Client) -> None:
    await register(nc, "m-1", {})
    prompt = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    assert (await submitted(nc, api, {"workflow": prompt})).required_models == {}


async def test_a_checkpoint_no_backend_has_is_refused_naming_it_and_who_has_what(api: ApiServer, nc: Client) -> None:
    await register(nc, "m-1", {"checkpoints": ["a.safetensors"]})
    await register(nc, "m-2", {"checkpoints": ["b.safetensors"]})
    detail = await refused(nc, api, {"workflow": txt("nope.safetensors")})
    assert "nope.safetensors" in detail["message"] and "no backend" in detail["message"]
    assert detail["missing_models"] == ["nope.safetensors"]
    assert detail["backends_with"] == {"nope.safetensors": []}


async def test_files_spread_over_backends_that_none_holds_together_are_refused(api: ApiServer, nc: Client) -> None:
    await register(nc, "m-1", {"checkpoints": ["a.safetensors"], "loras": []})
    await register(nc, "m-2", {"checkpoints": ["b.safetensors"], "loras": ["l.safetensors"]})
    detail = await refused(nc, api, {"workflow": txt("a.safetensors", lora="l.safetensors")})
    assert detail["missing_models"] == []
    assert detail["backends_with"] == {"a.safetensors": ["m-1"], "l.safetensors": ["m-2"]}
    assert "a.safetensors on m-1" in detail["message"] and "l.safetensors on m-2" in detail["message"]


async def test_a_job_pinned_to_a_backend_without_the_file_is_refused_even_if_another_has_it(
    api: ApiServer, nc: Client
) -> None:
    await register(nc, "m-1", {"checkpoints": ["a.safetensors"]})
    await register(nc, "m-2", {"checkpoints": ["b.safetensors"]})
    detail = await refused(nc, api, {"workflow": txt("b.safetensors"), "backend": "m-1"})
    assert "'m-1'" in detail["message"] and "b.safetensors on m-2" in detail["message"]
    event = await submitted(nc, api, {"workflow": txt("b.safetensors"), "backend": "m-2"})
    assert event.required_models == {"checkpoints": ["b.safetensors"]}


async def test_with_a_real_backend_the_model_inputs_come_from_its_object_info(
    api: ApiServer, nc: Client, tmp_path: Path
) -> None:
    with start_sim(tmp_path, models=["checkpoints=sim-a.safetensors", "loras=sim-l.safetensors"]) as sim:
        async with httpx.AsyncClient(base_url=sim.url) as http:
            info = (await http.get("/object_info/LoraLoader")).json()["LoraLoader"]
        assert "sim-l.safetensors" in info["input"]["required"]["lora_name"][0]
        await register(nc, "m-sim", {"checkpoints": ["sim-a.safetensors"], "loras": ["sim-l.safetensors"]}, url=sim.url)
        event = await submitted(nc, api, {"workflow": txt("sim-a.safetensors", lora="sim-l.safetensors")})
        assert event.required_models == {"checkpoints": ["sim-a.safetensors"], "loras": ["sim-l.safetensors"]}
        detail = await refused(nc, api, {"workflow": txt("sim-b.safetensors")})
        assert detail["nodes"] == [{"node_id": "1", "input": "ckpt_name", "name": "sim-b.safetensors"}]
