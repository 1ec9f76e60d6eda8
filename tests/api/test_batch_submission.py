"""`POST /api/jobs/batch` with every part a real process (nats, scheduler, API, agents, orch sim): all or none."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.helpers.stack import Stack

pytestmark = pytest.mark.asyncio(loop_scope="module")


def _tiny(tag: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": tag}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    root: Path = tmp_path_factory.mktemp("batch")
    async with Stack(root) as running:
        for name in ("sim-1", "sim-2"):
            running.add_agent(name, running.add_sim(name))
        await running.wait_backends({"sim-1", "sim-2"})
        yield running


async def _submitted_ids(stack: Stack) -> Counter[str]:
    return Counter(e["job_id"] for e in await stack.stream_events() if e.get("type") == "job.submitted")


async def test_a_batch_is_accepted_in_order_and_every_job_runs_exactly_once(stack: Stack) -> None:
    jobs = [{"workflow": _tiny(i)} for i in range(12)] + [{"workflow": _tiny(99), "backend": "sim-2"}]
    response = await stack.http.post("/api/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 202, response.text
    ids = response.json()["ids"]
    assert len(ids) == len(jobs) == len(set(ids))
    views = await stack.wait_terminal(ids, timeout=120)
    assert {view["state"] for view in views.values()} == {"succeeded"}
    assert views[ids[-1]]["backend"] == "sim-2", "a pinned item keeps its pin"
    submitted = await _submitted_ids(stack)
    assert all(submitted[job_id] == 1 for job_id in ids)


async def test_one_bad_item_refuses_the_whole_batch_naming_its_index_and_problem(stack: Stack) -> None:
    before = await _submitted_ids(stack)
    jobs = [{"workflow": _tiny(i)} for i in range(5)]
    jobs[3] = {"workflow": {**_tiny(3), "9": {"class_type": "KSamplerDeluxe", "inputs": {}}}}
    response = await stack.http.post("/api/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "unknown_node_classes"
    assert "jobs[3]" in detail["message"] and "KSamplerDeluxe" in detail["message"]
    assert [(p["index"], p["code"]) for p in detail["problems"]] == [(3, "unknown_node_classes")]
    assert await _submitted_ids(stack) == before, "a refused batch must create no job"


async def test_every_bad_item_is_named_and_mixed_problems_answer_422(stack: Stack) -> None:
    before = await _submitted_ids(stack)
    jobs: list[Any] = [{"workflow": _tiny(0)}, "not a job", {"backend": "sim-1"}, {"workflow": _tiny(1), "extra": 1}]
    response = await stack.http.post("/api/jobs/batch", json={"jobs": jobs})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["code"] == "invalid_batch"
    assert [p["index"] for p in detail["problems"]] == [1, 2, 3]
    assert [p["code"] for p in detail["problems"]] == ["not_object", "missing_workflow", "invalid_submission"]
    assert "3 of 4 jobs refused" in detail["message"]
    assert await _submitted_ids(stack) == before


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ([{"workflow": {}}], 400, "not_object"),
        ({"jobs": []}, 422, "no_jobs"),
        ({"workflows": []}, 422, "invalid_batch"),
        ({"jobs": {"workflow": {}}}, 422, "no_jobs"),
    ],
)
async def test_a_body_that_is_not_a_batch_is_refused(stack: Stack, body: Any, status: int, code: str) -> None:
    response = await stack.http.post("/api/jobs/batch", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]["code"] == code


async def test_a_batch_retried_with_the_same_idempotency_key_is_the_same_jobs(stack: Stack) -> None:
    jobs = [{"workflow": _tiny(200 + i)} for i in range(4)]
    headers = {"Idempotency-Key": "nightly-render-42"}
    first = await stack.http.post("/api/jobs/batch", json={"jobs": jobs}, headers=headers)
    again = await stack.http.post("/api/jobs/batch", json={"jobs": jobs}, headers=headers)
    assert first.status_code == again.status_code == 202
    ids = first.json()["ids"]
    assert again.json()["ids"] == ids and len(set(ids)) == 4
    await stack.wait_terminal(ids, timeout=120)
    submitted = await _submitted_ids(stack)
    assert all(submitted[job_id] == 1 for job_id in ids), "the retry was deduplicated"


async def test_the_openapi_document_describes_the_batch_body(stack: Stack) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    body = spec["paths"]["/api/jobs/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["jobs"]["items"] == {"$ref": "#/components/schemas/SubmitJob"}
    assert "SubmitJob" in spec["components"]["schemas"]
