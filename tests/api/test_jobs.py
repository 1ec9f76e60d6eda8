"""Submitting, reading and cancelling jobs over real HTTP, against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.client import Client

from orch_common.contracts import subjects
from orch_common.contracts.events import parse_event
from tests.api.conftest import (
    BASIC_CLASSES,
    ApiServer,
    FakeScheduler,
    RpcFailure,
    event_count,
    job_view,
    register_backend,
)
from tests.helpers import FIXTURES

pytestmark = pytest.mark.asyncio(loop_scope="module")

BASIC = json.loads((FIXTURES / "workflows" / "api_basic.json").read_text())


def _all_of(job_id: str) -> str:
    """Every event subject of one job (the subjects module builds only concrete ones)."""
    return subjects.job_event(job_id, "submitted").rsplit(".", 1)[0] + ".>"


@pytest.fixture(autouse=True)
async def _backend(nc: Client) -> None:
    await register_backend(nc, "gpu-a", "http://127.0.0.1:9", BASIC_CLASSES)


async def _refused(api: ApiServer, nc: Client, status: int, **request: object) -> dict[str, object]:
    before = await event_count(nc)
    async with api.client() as http:
        response = await http.post("/api/jobs", **request)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert await event_count(nc) == before, "a refused submission must not create a job"
    detail = response.json()["detail"]
    assert detail["code"] and detail["message"]
    return detail  # type: ignore[no-any-return]


async def test_a_body_that_is_not_json_is_refused(api: ApiServer, nc: Client) -> None:
    detail = await _refused(api, nc, 400, content=b"{not json", headers={"content-type": "application/json"})
    assert "JSON" in str(detail["message"])


async def test_a_body_without_workflow_is_refused(api: ApiServer, nc: Client) -> None:
    detail = await _refused(api, nc, 422, json={"backend": "gpu-a"})
    assert "workflow" in str(detail["message"])


async def test_a_node_without_class_type_is_named(api: ApiServer, nc: Client) -> None:
    workflow = {**BASIC, "2": {"inputs": {"image": ["1", 0]}}}
    detail = await _refused(api, nc, 422, json={"workflow": workflow})
    assert "'2'" in str(detail["message"]) and "class_type" in str(detail["message"])


async def test_node_classes_no_backend_has_are_named(api: ApiServer, nc: Client) -> None:
    workflow = {**BASIC, "9": {"class_type": "KSamplerDeluxe", "inputs": {}}}
    detail = await _refused(api, nc, 422, json={"workflow": workflow})
    assert detail["code"] == "unknown_node_classes"
    assert "KSamplerDeluxe" in str(detail["message"])
    assert detail["missing_classes"] == ["KSamplerDeluxe"]


async def test_an_unknown_pinned_backend_is_refused(api: ApiServer, nc: Client) -> None:
    detail = await _refused(api, nc, 422, json={"workflow": BASIC, "backend": "no-such-gpu"})
    assert "no-such-gpu" in str(detail["message"])


async def test_an_oversized_body_is_refused_with_413(api: ApiServer, nc: Client) -> None:
    big = {"workflow": BASIC, "labels": {"padding": "x" * (api.settings.max_body_bytes + 1)}}
    await _refused(api, nc, 413, content=json.dumps(big).encode(), headers={"content-type": "application/json"})


async def test_a_good_submission_puts_exactly_one_job_submitted_in_the_stream(api: ApiServer, nc: Client) -> None:
    js = nc.jetstream()
    async with api.client() as http:
        response = await http.post("/api/jobs", json={"workflow": BASIC, "labels": {"who": "test"}})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    sub = await js.subscribe(_all_of(job_id), ordered_consumer=True)
    msg = await sub.next_msg(timeout=15)
    event = parse_event(msg.data)
    assert event.type == "job.submitted" and event.job_id == job_id
    assert event.required_classes == ["EmptyImage", "ImageBlur", "ImageInvert", "SaveImage"]
    assert event.workflow == BASIC and event.labels == {"who": "test"}
    assert msg.headers and msg.headers["Nats-Msg-Id"] == event.event_id
    stored = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=_all_of(job_id))
    assert stored.state.subjects == {subjects.job_event(job_id, "submitted"): 1}
    await sub.unsubscribe()


async def test_a_job_pinned_to_a_backend_lacking_a_class_is_refused(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-small", "http://127.0.0.1:9", ["EmptyImage"])
    detail = await _refused(api, nc, 422, json={"workflow": BASIC, "backend": "gpu-small"})
    assert "ImageBlur" in str(detail["message"])


async def test_reading_a_job_without_a_scheduler_says_so_with_503(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/api/jobs/abc")
    assert response.status_code == 503
    assert response.json()["detail"]["code"] == "scheduler_unavailable"


async def test_jobs_are_read_from_the_scheduler(api: ApiServer, scheduler: FakeScheduler) -> None:
    scheduler.jobs["j1"] = job_view("j1", "running", backend="gpu-a")
    scheduler.events["j1"] = [{"type": "job.submitted", "job_id": "j1"}]
    async with api.client() as http:
        one = await http.get("/api/jobs/j1")
        missing = await http.get("/api/jobs/nope")
        listed = await http.get("/api/jobs", params={"state": "running", "limit": 5})
        events = await http.get("/api/jobs/j1/events")
    assert one.status_code == 200 and one.json()["state"] == "running" and one.json()["backend"] == "gpu-a"
    assert missing.status_code == 404
    assert listed.json()["total"] == 1 and listed.json()["jobs"][0]["id"] == "j1"
    assert events.json()[0]["type"] == "job.submitted"
    assert ("jobs.list", {"state": "running", "limit": 5, "offset": 0, "run_id": None}) in scheduler.requests


async def test_cancel_publishes_the_request_and_refuses_finished_jobs(
    api: ApiServer, nc: Client, scheduler: FakeScheduler
) -> None:
    scheduler.jobs["run1"] = job_view("run1", "running")
    scheduler.jobs["done1"] = job_view("done1", "succeeded")
    js = nc.jetstream()
    async with api.client() as http:
        accepted = await http.post("/api/jobs/run1/cancel")
        finished = await http.post("/api/jobs/done1/cancel")
        unknown = await http.post("/api/jobs/ghost/cancel")
    assert accepted.status_code == 202
    assert finished.status_code == 409 and finished.json()["detail"]["code"] == "already_terminal"
    assert unknown.status_code == 404
    sub = await js.subscribe(subjects.job_event("run1", "cancellation_requested"), ordered_consumer=True)
    event = parse_event((await sub.next_msg(timeout=5)).data)
    assert event.type == "job.cancellation_requested"
    await sub.unsubscribe()
    stored = await js.stream_info(subjects.EVENTS_STREAM, subjects_filter=_all_of("done1"))
    assert not stored.state.subjects


async def test_bad_query_parameters_get_the_stable_error_shape(api: ApiServer) -> None:
    async with api.client() as http:
        response = await http.get("/api/jobs", params={"state": "sleeping"})
        wrong_method = await http.delete("/api/jobs")
    assert response.status_code == 422
    assert response.json()["detail"]["code"] == "invalid_request" and "state" in response.json()["detail"]["message"]
    assert wrong_method.status_code == 405 and wrong_method.json()["detail"]["code"] == "method_not_allowed"


async def test_a_retried_submission_with_the_same_idempotency_key_is_one_job(api: ApiServer, nc: Client) -> None:
    headers = {"Idempotency-Key": "client-42-attempt"}
    async with api.client() as http:
        first = await http.post("/api/jobs", json={"workflow": BASIC}, headers=headers)
        second = await http.post("/api/jobs", json={"workflow": BASIC}, headers=headers)
    assert first.status_code == second.status_code == 202
    job_id = first.json()["id"]
    assert second.json()["id"] == job_id
    stored = await nc.jetstream().stream_info(subjects.EVENTS_STREAM, subjects_filter=_all_of(job_id))
    assert stored.state.subjects == {subjects.job_event(job_id, "submitted"): 1}


async def test_a_deleted_registration_no_longer_counts_as_a_backend(api: ApiServer, nc: Client) -> None:
    await register_backend(nc, "gpu-gone", "http://127.0.0.1:9", BASIC_CLASSES)
    kv = await nc.jetstream().key_value(subjects.BACKENDS_BUCKET)
    await kv.delete("gpu-gone")
    detail = await _refused(api, nc, 422, json={"workflow": BASIC, "backend": "gpu-gone"})
    assert detail["code"] == "unknown_backend"


async def test_a_comfyui_prompt_body_gets_a_hint(api: ApiServer, nc: Client) -> None:
    detail = await _refused(api, nc, 422, json={"workflow": {"prompt": BASIC, "client_id": "x"}})
    assert "`prompt`" in str(detail["message"])


async def test_a_heartbeat_without_capabilities_borrows_the_schedulers_view(
    api: ApiServer, nc: Client, scheduler: FakeScheduler
) -> None:
    await register_backend(nc, "gpu-early", "http://127.0.0.1:9", [])
    scheduler.backends = [
        {
            "id": "gpu-early",
            "comfy_url": "http://127.0.0.1:9",
            "status": "online",
            "capabilities": {"node_classes": BASIC_CLASSES, "object_info_hash": "h"},
        }
    ]
    async with api.client() as http:
        response = await http.post("/api/jobs", json={"workflow": BASIC, "backend": "gpu-early"})
    assert response.status_code == 202, response.text


async def test_scheduler_errors_map_to_stable_http_errors(api: ApiServer, scheduler: FakeScheduler) -> None:
    def fail(code: str) -> Any:
        def handler(request: dict[str, Any]) -> Any:
            raise RpcFailure(code, f"{code} for {request}")

        return handler

    async with api.client() as http:
        scheduler.handlers["jobs.list"] = fail("bad_request")
        bad = await http.get("/api/jobs")
        scheduler.handlers["jobs.list"] = fail("internal")
        broken = await http.get("/api/jobs")
    assert bad.status_code == 400 and bad.json()["detail"]["code"] == "bad_request"
    assert broken.status_code == 502 and broken.json()["detail"]["code"] == "scheduler_internal"


async def test_a_job_the_scheduler_has_not_folded_yet_reads_as_queued(api: ApiServer, scheduler: FakeScheduler) -> None:
    async with api.client() as http:
        job_id = (await http.post("/api/jobs", json={"workflow": BASIC, "labels": {"k": "v"}})).json()["id"]
        for _ in range(100):  # until the API's own subscription has seen the JobSubmitted
            response = await http.get(f"/api/jobs/{job_id}")
            if response.status_code == 200:
                break
            await asyncio.sleep(0.05)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "queued" and response.json()["labels"] == {"k": "v"}
    assert job_id not in scheduler.jobs
