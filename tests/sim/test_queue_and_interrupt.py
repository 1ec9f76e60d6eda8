"""The queue, interrupts and history over real HTTP and websockets, against the recordings of the
interrupted run (a prompt stopped by `POST /interrupt` while other prompts were queued and deleted)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.helpers.sim import SimProcess
from tests.sim.wsutil import (
    Listener,
    executing,
    http,
    recorded,
    recorded_request,
    recorded_trace,
    set_faults,
    signatures,
    submit,
)


def shape(item: list[Any]) -> tuple[Any, ...]:
    number, prompt_id, prompt, extra_data, outputs = item
    return (type(number), type(prompt_id), sorted(prompt), sorted(extra_data), outputs)


async def test_an_interrupted_run_replays_like_the_recording_with_queue_changes_meanwhile(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="4")
    body = recorded_request("prompt_json_response_interrupted.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_for(executing("4"))

        running = (await http(sim.url, "GET", "/queue")).json()
        want = recorded("queue_running.json")
        assert [shape(item) for item in running["queue_running"]] == [shape(i) for i in want["queue_running"]]
        assert running["queue_running"][0][1] == prompt_id
        assert running["queue_running"][0][2] == body["prompt"]

        pending = {**recorded_request("prompt_json_response_client_prompt_id.json"), "prompt_id": str(uuid.uuid4())}
        assert (await http(sim.url, "POST", "/prompt", json=pending)).status_code == 200
        front = recorded_request("prompt_json_response_front.json")
        front_id = (await http(sim.url, "POST", "/prompt", json=front)).json()["prompt_id"]
        queue = (await http(sim.url, "GET", "/queue")).json()
        want = recorded("queue_running_and_pending.json")
        assert [shape(item) for item in queue["queue_pending"]] == [shape(i) for i in want["queue_pending"]]
        assert [item[1] for item in queue["queue_pending"]] == [front_id, pending["prompt_id"]]
        assert queue["queue_pending"][0][0] < 0 < queue["queue_pending"][1][0]
        assert (await http(sim.url, "GET", "/prompt")).json() == recorded("prompt_get_while_running.json")

        deleted = await http(sim.url, "POST", "/queue", json={"delete": [pending["prompt_id"]]})
        assert (deleted.status_code, deleted.content) == (200, b"")
        after = (await http(sim.url, "GET", "/queue")).json()
        assert [item[1] for item in after["queue_pending"]] == [front_id]

        ignored = await http(sim.url, "POST", "/interrupt", json={"prompt_id": "not-running"})
        assert (ignored.status_code, ignored.content) == (200, b"")
        assert (await http(sim.url, "GET", "/sim/state")).json()["running_prompt_id"] == prompt_id

        assert (await http(sim.url, "POST", "/interrupt", json={})).status_code == 200
        await ws.wait_done(prompt_id)
        trace = recorded_trace("interrupted")
        await ws.wait_count(len(trace))
        messages = ws.messages[: len(trace)]

    def without_status(items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return signatures([m for m in items if m.get("type") != "status"])

    def statuses(items: list[dict[str, Any]]) -> list[int]:
        return [m["data"]["status"]["exec_info"]["queue_remaining"] for m in items if m.get("type") == "status"]

    assert without_status(messages) == without_status(trace)
    assert statuses(messages) == statuses(trace)
    history = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()[prompt_id]
    want_history = next(iter(recorded("history_interrupted.json").values()))
    assert history["status"]["status_str"] == want_history["status"]["status_str"] == "error"
    assert history["status"]["completed"] is False
    assert [m[0] for m in history["status"]["messages"]] == [m[0] for m in want_history["status"]["messages"]]
    assert history["outputs"] == {} and history["meta"] == {}


async def test_a_targeted_interrupt_stops_only_the_running_prompt(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_front.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_for(executing("2"))
        assert (await http(sim.url, "POST", "/interrupt", json={"prompt_id": prompt_id})).status_code == 200
        stopped = await ws.wait_for(lambda m: m.get("type") == "execution_interrupted")
        assert stopped["data"]["node_id"] == "2"
        assert stopped["data"]["executed"] == ["1"]


async def test_an_interrupt_without_a_body_or_while_idle_is_a_harmless_200(sim: SimProcess) -> None:
    for case in recorded("interrupt_responses.json"):
        kwargs = {"json": case["request"]["json"]} if "json" in case["request"] else {}
        response = await http(sim.url, "POST", "/interrupt", **kwargs)
        assert (response.status_code, response.text) == (case["status"], case["body"])
    body = recorded_request("prompt_json_response_front.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        prompt_id = await submit(sim.url, body)
        await ws.wait_done(prompt_id)
        assert any(m.get("type") == "execution_success" for m in ws.messages)


async def test_a_reconnecting_client_is_told_which_node_is_running(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_front.json")
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        await http(sim.url, "POST", "/prompt", json=body)
        await ws.wait_for(executing("2"))
    async with Listener(sim.ws_url, body["client_id"]) as again:
        first_two = await again.wait_count(2)
        assert first_two[0]["data"]["sid"] == body["client_id"]
        assert first_two[1] == {"type": "executing", "data": {"node": "2"}}
        await http(sim.url, "POST", "/interrupt")
        await again.wait_for(lambda m: m.get("type") == "execution_interrupted")


async def test_queue_clear_and_history_paging(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_front.json")
    del body["front"]
    ids = [await submit(sim.url, body) for _ in range(3)]
    assert (await http(sim.url, "POST", "/queue", json={"clear": True})).status_code == 200
    queue = (await http(sim.url, "GET", "/queue")).json()
    assert queue["queue_pending"] == [] and [item[1] for item in queue["queue_running"]] == ids[:1]
    await set_faults(sim.url, hang_at_node=None)
    more = [await submit(sim.url, body) for _ in range(2)]
    for _ in range(200):
        if len((await http(sim.url, "GET", "/history")).json()) == 3:
            break
        await asyncio.sleep(0.05)
    everything = (await http(sim.url, "GET", "/history")).json()
    assert list(everything) == [ids[0], *more]
    assert list((await http(sim.url, "GET", "/history", params={"max_items": 2})).json()) == more
    assert list((await http(sim.url, "GET", "/history", params={"max_items": 1, "offset": 1})).json()) == more[:1]
    unknown = (await http(sim.url, "GET", "/history/does-not-exist")).json()
    assert unknown == recorded("history_unknown_id.json")["response"]
    await http(sim.url, "POST", "/history", json={"delete": [more[0]]})
    assert list((await http(sim.url, "GET", "/history")).json()) == [ids[0], more[1]]
    await http(sim.url, "POST", "/history", json={"clear": True})
    assert (await http(sim.url, "GET", "/history")).json() == {}
    assert (await http(sim.url, "GET", "/queue")).json() == recorded("queue_idle_after_runs.json")
    assert (await http(sim.url, "GET", "/prompt")).json() == recorded("prompt_get.json")


async def test_free_answers_an_empty_200_and_unloads_the_model(sim: SimProcess) -> None:
    case = recorded("free_response.json")
    response = await http(sim.url, "POST", "/free", json=case["request"]["json"])
    assert (response.status_code, response.text) == (case["status"], case["body"])
    assert (await http(sim.url, "GET", "/sim/state")).json()["loaded_checkpoint"] is None


async def test_interrupting_a_prompt_without_client_tells_everyone(sim: SimProcess) -> None:
    await set_faults(sim.url, hang_at_node="2")
    body = recorded_request("prompt_json_response_without_client_id.json")
    async with Listener(sim.ws_url, "fx-bystander") as bystander:
        prompt_id = await submit(sim.url, body)
        await bystander.wait_for(lambda m: m.get("type") == "progress_state" and "2" in m["data"]["nodes"])
        await http(sim.url, "POST", "/interrupt", json={"prompt_id": prompt_id})
        stopped = await bystander.wait_for(lambda m: m.get("type") == "execution_interrupted")
    assert stopped["data"]["prompt_id"] == prompt_id
    assert not any(m.get("type") in ("executing", "execution_start", "execution_cached") for m in bystander.messages)


async def test_an_output_node_linked_to_a_missing_node_fails_its_own_validation(sim: SimProcess) -> None:
    prompt = {"3": {"class_type": "SaveImage", "inputs": {"images": ["99", 0], "filename_prefix": "x"}}}
    response = await http(sim.url, "POST", "/prompt", json={"prompt": prompt})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    errors = body["node_errors"]["3"]["errors"]
    assert [e["type"] for e in errors] == ["exception_during_validation"]
    assert errors[0]["extra_info"]["exception_type"] == "KeyError"
    assert body["error"]["details"] == "Exception when validating node: '99'"
