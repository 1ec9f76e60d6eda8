"""UI-format workflows are converted with the object_info of the backend they will run on (a real `orch sim`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from nats.aio.client import Client

from orch_common.contracts import subjects
from orch_common.contracts.events import parse_event
from tests.api.conftest import ApiServer, register_backend
from tests.helpers import FIXTURES
from tests.helpers.sim import SimProcess, start_sim

pytestmark = pytest.mark.asyncio(loop_scope="module")

UI_DEFAULT = json.loads((FIXTURES / "workflows" / "ui_default.json").read_text())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim_backend(nc: Client, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    path: Path = tmp_path_factory.mktemp("sim")
    sim: SimProcess = await asyncio.to_thread(start_sim, path)
    try:
        async with httpx.AsyncClient() as http:
            classes = sorted((await http.get(f"{sim.url}/object_info", timeout=30)).json())
        await register_backend(nc, "sim-c", sim.url, classes, models={})
        yield "sim-c"
    finally:
        await asyncio.to_thread(sim.stop)


async def test_a_ui_workflow_is_submitted_converted_to_the_api_format(
    api: ApiServer, nc: Client, sim_backend: str, tmp_path: Path
) -> None:
    checkpoint = "v1-5-pruned-emaonly-fp16.safetensors"
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        refused = await http.post("/api/jobs", json={"workflow": UI_DEFAULT})
        assert refused.status_code == 422, refused.text
        detail = refused.json()["detail"]
        assert detail["code"] == "missing_models" and checkpoint in detail["message"]
        assert [n["input"] for n in detail["nodes"]] == ["ckpt_name"], "named in the converted prompt"

        sim: SimProcess = await asyncio.to_thread(start_sim, tmp_path, demo_models=True)
        try:
            classes = sorted((await http.get(f"{sim.url}/object_info")).json())
            checkpoints = (await http.get(f"{sim.url}/models/checkpoints")).json()
            assert checkpoint in checkpoints
            await register_backend(nc, "sim-c-models", sim.url, classes, models={"checkpoints": checkpoints})
            response = await http.post("/api/jobs", json={"workflow": UI_DEFAULT})
        finally:
            await (await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)).delete("sim-c-models")
            await asyncio.to_thread(sim.stop)
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    msg = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, subjects.job_event(job_id, "submitted"))
    event = parse_event(msg.data)
    assert event.ui_workflow == UI_DEFAULT
    assert "KSampler" in event.required_classes
    assert event.required_models == {"checkpoints": [checkpoint]}
    assert all("class_type" in node for node in event.workflow.values())


async def test_inspect_accepts_a_ui_workflow(api: ApiServer, sim_backend: str) -> None:
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        response = await http.post("/api/workflows/inspect", json={"workflow": UI_DEFAULT, "backend": sim_backend})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "ui" and body["reference_backend"] == sim_backend
    report = body["capability"][sim_backend]
    assert report["missing_classes"] == []
    assert report["capable"] is False, "the sim has no checkpoint files, so the model value is missing"
    assert any(v["input"] == "ckpt_name" for v in report["missing_values"])
    assert "KSampler" in body["required_classes"]
    params = {p["id"]: p for p in body["parameters"]}
    seed = next(p for p in params.values() if p["class_type"] == "KSampler" and p["input"] == "seed")
    assert seed["type"] == "INT" and seed["suggested"] is True
    assert {p["kind"] for p in body["ports"]["outputs"]} == {"IMAGE"}


async def test_inspect_lists_parameters_and_ports_of_an_api_workflow(api: ApiServer, sim_backend: str) -> None:
    workflow = json.loads((FIXTURES / "workflows" / "api_loadimage_scale.json").read_text())
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as http:
        response = await http.post("/api/workflows/inspect", json={"workflow": workflow})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "api" and body["reference_backend"] == sim_backend
    assert all(p["id"] == f"{p['node_id']}.{p['input']}" for p in body["parameters"])
    assert [p["kind"] for p in body["ports"]["inputs"]] == ["IMAGE"]
    assert body["ports"]["inputs"][0]["input"] == "image"
    assert [p["kind"] for p in body["ports"]["outputs"]] == ["IMAGE"]
