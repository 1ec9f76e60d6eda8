"""The UI build with its SPA fallback, the page shown when it is absent, artifacts and backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from nats.aio.client import Client

from orch_api import ApiSettings
from orch_common.contracts import subjects
from orch_common.natsutil import NatsServer, free_port
from tests.api.conftest import BASIC_CLASSES, ApiServer, FakeScheduler, register_backend, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def built(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ApiServer]:
    dist: Path = tmp_path_factory.mktemp("ui") / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<!doctype html><title>Orchestrator UI</title>")
    (dist / "assets" / "app-123.js").write_text("console.log('ui')")
    (dist.parent / "secret.txt").write_text("outside")
    settings = ApiSettings(nats_url=nats_server.url, port=free_port(), ui_dist=dist)
    async with running_api(settings) as server:
        yield server


async def test_without_a_build_the_root_says_the_ui_is_not_built(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/")
    assert response.status_code == 200 and "The UI is not built" in response.text


async def test_the_build_is_served_with_a_spa_fallback(built: ApiServer) -> None:
    async with built.client() as http:
        index = await http.get("/")
        asset = await http.get("/assets/app-123.js")
        deep = await http.get("/projects/42/canvas")
        escape = await http.get("/..%2Fsecret.txt")
        unknown_api = await http.get("/api/nothing-here")
        docs = await http.get("/docs")
    assert "Orchestrator UI" in index.text
    assert asset.text == "console.log('ui')" and "immutable" in asset.headers["cache-control"]
    assert "Orchestrator UI" in deep.text
    assert "outside" not in escape.text
    assert unknown_api.status_code == 404 and unknown_api.json()["detail"]["code"] == "not_found"
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_an_artifact_is_served_with_its_content_type(api: ApiServer, nc: Client) -> None:
    objects = pytest.importorskip("orch_common.natsutil.objects")
    put_artifact = objects.put_artifact

    await put_artifact(nc.jetstream(), "job9/1/4/0-out.png", b"\x89PNG fake", "image/png")
    async with api.client() as http:
        found = await http.get("/api/artifacts/job9/1/4/0-out.png")
        missing = await http.get("/api/artifacts/job9/1/4/9-none.png")
        encoded = await http.get("/api/artifacts/job9%2F1%2F4%2F0-out.png")  # the UI encodes the whole id
    assert found.status_code == 200 and found.content == b"\x89PNG fake"
    assert found.headers["content-type"] == "image/png"
    assert missing.status_code == 404
    assert encoded.status_code == 200 and encoded.content == b"\x89PNG fake"


async def test_backends_merge_the_scheduler_view_registrations_and_metrics(
    api: ApiServer, nc: Client, scheduler: FakeScheduler
) -> None:
    await register_backend(nc, "gpu-b", "http://127.0.0.1:9", BASIC_CLASSES)
    scheduler.backends = [{"id": "gpu-b", "comfy_url": "http://127.0.0.1:9", "status": "busy", "queued_jobs": 2}]
    async with api.client() as http:
        listed = await http.get("/api/backends")
        disabled = await http.post("/api/backends/gpu-b/disable")
        enabled = await http.post("/api/backends/gpu-b/enable")
        unknown = await http.post("/api/backends/ghost/disable")
    view = next(b for b in listed.json() if b["id"] == "gpu-b")
    assert view["status"] == "busy" and view["queued_jobs"] == 2 and view["registered"] is True
    assert disabled.status_code == 202 and enabled.status_code == 202 and unknown.status_code == 404
    last = await nc.jetstream().get_last_msg(subjects.EVENTS_STREAM, subjects.backend_event("gpu-b", "enabled"))
    assert b"backend.enabled" in last.data


async def test_a_job_larger_than_a_nats_message_is_refused_with_413(built: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-big", "http://127.0.0.1:9", BASIC_CLASSES)
    workflow = {"1": {"class_type": "EmptyImage", "inputs": {"note": "x" * 2_000_000}}}
    async with built.client() as http:
        response = await http.post("/api/jobs", json={"workflow": workflow})
    assert response.status_code == 413
    assert "max_payload" in response.json()["detail"]["message"]


async def test_adding_a_backend_over_http_explains_that_agents_add_backends(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.post("/api/backends", json={"id": "x", "comfy_url": "http://127.0.0.1:8188"})
    assert response.status_code == 501 and "orch agent" in response.json()["detail"]["message"]


async def test_inspect_reports_classes_and_per_backend_capability(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-i1", "http://127.0.0.1:9", BASIC_CLASSES)
    await register_backend(nc, "gpu-i2", "http://127.0.0.1:9", ["EmptyImage"])
    workflow = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    async with api.client() as http:
        response = await http.post("/api/workflows/inspect", json={"workflow": workflow})
        broken = await http.post("/api/workflows/inspect", json={"workflow": {"1": {"inputs": {}}}})
    body = response.json()
    assert response.status_code == 200, response.text
    assert body["format"] == "api" and body["required_classes"] == ["EmptyImage", "SaveImage"]
    assert body["capability"]["gpu-i1"]["capable"] is True
    assert body["capability"]["gpu-i2"] == {
        **body["capability"]["gpu-i2"],
        "capable": False,
        "missing_classes": ["SaveImage"],
    }
    assert broken.status_code == 422 and "class_type" in broken.json()["detail"]["message"]


async def test_the_openapi_document_describes_the_job_and_project_bodies(api: ApiServer) -> None:
    async with api.client() as http:
        spec = (await http.get("/openapi.json")).json()
    body = spec["paths"]["/api/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/SubmitJob"}
    schemas = spec["components"]["schemas"]
    assert "workflow" in schemas["SubmitJob"]["properties"] and "RetryPolicy" in schemas
    assert "ProjectNode" in schemas and "ProjectDocument" in schemas
