"""Every recorded `POST /prompt` error case replayed against a real sim: same status, same `error.type`,
same node errors (types, details, extra_info keys, dependent outputs)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.helpers import FIXTURES
from tests.helpers.sim import SimProcess
from tests.sim.wsutil import http, recorded

ERROR_CASES = sorted(path.stem for path in FIXTURES.glob("prompt_error_*.json"))


async def post_recorded(sim: SimProcess, case: dict[str, Any]) -> Any:
    request = case["request"]
    if "raw_body" in request:
        return await http(sim.url, "POST", "/prompt", content=request["raw_body"],
                          headers={"Content-Type": "application/json"})
    return await http(sim.url, "POST", "/prompt", json=request["json"])


def test_every_recorded_error_case_is_covered() -> None:
    assert len(ERROR_CASES) == 19


@pytest.mark.parametrize("name", ERROR_CASES)
async def test_a_recorded_invalid_prompt_gets_the_recorded_verdict(sim: SimProcess, name: str) -> None:
    case = recorded(f"{name}.json")
    response = await post_recorded(sim, case)
    assert response.status_code == case["status"]
    want = case["response"]
    if isinstance(want, str):
        assert response.headers["content-type"].startswith("text/plain")
        assert response.text == want
        return
    body = response.json()
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    if case["status"] == 200:
        assert set(body) == {"prompt_id", "number", "node_errors"}
    else:
        assert body["error"]["type"] == want["error"]["type"]
        assert body["error"]["message"] == want["error"]["message"]
        assert body["error"]["details"] == want["error"]["details"]
    assert sorted(body["node_errors"]) == sorted(want["node_errors"])
    for node_id, node_error in want["node_errors"].items():
        live = body["node_errors"][node_id]
        assert live["class_type"] == node_error["class_type"]
        assert live["dependent_outputs"] == node_error["dependent_outputs"]
        assert len(live["errors"]) == len(node_error["errors"])
        for got, expected in zip(live["errors"], node_error["errors"], strict=True):
            assert (got["type"], got["message"], got["details"]) == (
                expected["type"], expected["message"], expected["details"])
            assert sorted(got["extra_info"]) == sorted(expected["extra_info"])
            for key in ("input_name", "input_config", "received_value", "received_type", "linked_node",
                        "exception_type", "exception_message"):
                assert got["extra_info"].get(key) == expected["extra_info"].get(key), key


async def test_a_partially_valid_prompt_runs_only_its_valid_outputs(sim: SimProcess) -> None:
    case = recorded("prompt_error_invalid_combo_value_with_other_valid_output.json")
    response = await post_recorded(sim, case)
    prompt_id = response.json()["prompt_id"]
    queue_item = None
    for _ in range(200):
        history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()
        if prompt_id in history:
            queue_item = history[prompt_id]["prompt"]
            break
        await asyncio.sleep(0.05)
    assert queue_item is not None
    assert queue_item[4] == ["3"]
    assert queue_item[2] == case["request"]["json"]["prompt"]


async def test_a_caller_chosen_uuid_is_the_prompt_id(sim: SimProcess) -> None:
    chosen = str(uuid.uuid4())
    body = {**recorded("prompt_json_response_client_prompt_id.json")["request"]["json"], "prompt_id": chosen}
    response = await http(sim.url, "POST", "/prompt", json=body)
    assert response.status_code == 200
    assert response.json()["prompt_id"] == chosen


@pytest.mark.parametrize("bad", ["fx-pending-d34c71ac", "ABCDEF00-0000-4000-8000-000000000000", ""])
async def test_a_non_canonical_prompt_id_is_refused_like_newer_comfyui(sim: SimProcess, bad: str) -> None:
    body = {**recorded("prompt_json_response_client_prompt_id.json")["request"]["json"], "prompt_id": bad}
    response = await http(sim.url, "POST", "/prompt", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_prompt_id"


async def test_front_prompts_get_negative_numbers(sim: SimProcess) -> None:
    body = recorded("prompt_json_response_front.json")["request"]["json"]
    first = (await http(sim.url, "POST", "/prompt", json={**body, "front": False})).json()
    second = (await http(sim.url, "POST", "/prompt", json=body)).json()
    assert first["number"] >= 0
    assert second["number"] == -(first["number"] + 1)


async def test_an_explicit_number_is_kept(sim: SimProcess) -> None:
    body = {**recorded("prompt_json_response_front.json")["request"]["json"], "number": 7.5}
    del body["front"]
    assert (await http(sim.url, "POST", "/prompt", json=body)).json()["number"] == 7.5
