"""Every recorded run replayed against a real sim over HTTP and websockets: the same messages in the same
order (ids and timestamps aside), the same history shapes and the same output images."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.helpers.sim import SimProcess
from tests.sim.wsutil import Listener, fixture_path, http, recorded, recorded_trace, signatures, workflow

SIMPLE_RUNS = ["basic", "loadimage_scale", "mask", "progress_ws_images", "text_preview_any", "runtime_error"]


def request_of(run: str) -> dict[str, Any]:
    body: dict[str, Any] = recorded(f"prompt_json_response_{run}.json")["request"]["json"]
    return json.loads(json.dumps(body))


def upload_fixture_image(sim: SimProcess, name: str = "fx_upload.png", **fields: str) -> dict[str, Any]:
    files = {"image": (name, fixture_path("upload_source.png").read_bytes(), "image/png")}
    response = httpx.post(f"{sim.url}/upload/image", files=files, data={"type": "input", **fields})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def run_recorded(sim: SimProcess, run: str, request: dict[str, Any] | None = None,
                       handshake: bool = False, subscribe_logs: bool = False) -> tuple[list[dict[str, Any]], str]:
    """POST the recorded request with a socket of the recorded client id; the messages the socket got."""
    body = request or request_of(run)
    trace = recorded_trace(run)
    async with Listener(sim.ws_url, body["client_id"]) as ws:
        if handshake:
            await ws.send({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
            await ws.wait_for(lambda m: m.get("type") == "feature_flags")
        if subscribe_logs:
            response = await http(sim.url, "PATCH", "/internal/logs/subscribe",
                                  json={"clientId": body["client_id"], "enabled": True})
            assert response.status_code == 200
        response = await http(sim.url, "POST", "/prompt", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["node_errors"] == {}
        prompt_id = response.json()["prompt_id"]
        await ws.wait_done(prompt_id)
        messages = await ws.wait_count(len(trace))
    return messages, prompt_id


def history_of(sim: SimProcess, prompt_id: str) -> dict[str, Any]:
    body = httpx.get(f"{sim.url}/history/{prompt_id}").json()
    assert list(body) == [prompt_id]
    entry: dict[str, Any] = body[prompt_id]
    return entry


def assert_history_like(live: dict[str, Any], recorded_entry: dict[str, Any]) -> None:
    assert list(live) == list(recorded_entry)
    _, _, prompt, extra_data, outputs = live["prompt"]
    assert prompt == recorded_entry["prompt"][2]
    assert sorted(extra_data) == sorted(recorded_entry["prompt"][3])
    assert outputs == recorded_entry["prompt"][4]
    assert {k: v for k, v in live["status"].items() if k != "messages"} == {
        k: v for k, v in recorded_entry["status"].items() if k != "messages"}
    assert [m[0] for m in live["status"]["messages"]] == [m[0] for m in recorded_entry["status"]["messages"]]
    for (_, data), (_, want) in zip(live["status"]["messages"], recorded_entry["status"]["messages"], strict=True):
        assert sorted(data) == sorted(want)
    assert sorted(live["outputs"]) == sorted(recorded_entry["outputs"])
    assert live["meta"] == recorded_entry["meta"]


def assert_images_like_recorded(sim: SimProcess, run: str, history: dict[str, Any]) -> None:
    views = recorded(f"view_{run}.headers.json")
    for view in views:
        items = history["outputs"][view["node"]]["images"]
        item = items[0]
        response = httpx.get(f"{sim.url}/view", params={"filename": item["filename"], "type": item["type"],
                                                         "subfolder": item["subfolder"]})
        assert response.status_code == 200
        assert response.headers["content-type"] == view["headers"]["content-type"]
        assert response.headers["content-disposition"] == f'filename="{item["filename"]}"'
        live = Image.open(io.BytesIO(response.content))
        want = Image.open(fixture_path(view["saved_as"]))
        assert (live.format, live.size, live.mode) == (want.format, want.size, want.mode)
        # The prompt embedded in the PNG is the executor's copy, `is_changed` values included.
        assert live.info.get("prompt") == want.info.get("prompt")


@pytest.mark.parametrize("run", SIMPLE_RUNS)
async def test_a_recorded_run_replays_with_the_same_messages_history_and_images(sim: SimProcess, run: str) -> None:
    if run == "loadimage_scale":
        upload_fixture_image(sim)
    messages, prompt_id = await run_recorded(sim, run)
    assert signatures(messages) == signatures(recorded_trace(run))
    history = history_of(sim, prompt_id)
    assert_history_like(history, next(iter(recorded(f"history_{run}.json").values())))
    if fixture_path(f"view_{run}.headers.json").exists():
        assert_images_like_recorded(sim, run, history)


async def test_a_repeated_prompt_is_served_from_cache(sim: SimProcess) -> None:
    first, first_id = await run_recorded(sim, "basic")
    messages, prompt_id = await run_recorded(sim, "basic_cached")
    # The module's data dir may already hold fx_basic_00001_.png: compare the file with the first run's.
    first_output = next(m for m in first if m.get("type") == "executed")["data"]["output"]
    recorded_output = next(m for m in recorded_trace("basic") if m.get("type") == "executed")["data"]["output"]
    for message in messages:
        if message.get("type") == "executed":
            assert message["data"]["output"] == first_output
            message["data"]["output"] = recorded_output
    assert signatures(messages) == signatures(recorded_trace("basic_cached"))
    history = history_of(sim, prompt_id)
    assert history["outputs"] == history_of(sim, first_id)["outputs"]
    assert_history_like(history, next(iter(recorded("history_basic_cached.json").values())))


async def test_a_metadata_client_gets_type_4_previews_and_a_rerun_reuses_unchanged_nodes(sim: SimProcess) -> None:
    await run_recorded(sim, "progress_ws_images")
    messages, _ = await run_recorded(sim, "progress_ws_images_metadata", handshake=True)
    assert signatures(messages) == signatures(recorded_trace("progress_ws_images_metadata"))
    frames = [m for m in messages if m.get("binary")]
    assert frames and all(Image.open(io.BytesIO(f["data"])).size == (64, 64) for f in frames)


async def test_a_log_subscriber_gets_log_lines_around_its_prompt(sim: SimProcess) -> None:
    messages, prompt_id = await run_recorded(sim, "with_log_subscription", subscribe_logs=True)
    assert signatures(messages) == signatures(recorded_trace("with_log_subscription"))
    assert_history_like(history_of(sim, prompt_id),
                        next(iter(recorded("history_with_log_subscription.json").values())))


async def test_another_client_only_sees_status_of_someone_elses_prompt(sim: SimProcess) -> None:
    async with Listener(sim.ws_url) as observer:
        messages, prompt_id = await run_recorded(sim, "observed_by_other_client")
        await observer.wait_count(len(recorded_trace("other_client_observer")))
    assert signatures(messages) == signatures(recorded_trace("observed_by_other_client"))
    assert signatures(observer.messages) == signatures(recorded_trace("other_client_observer"))
    assert_history_like(history_of(sim, prompt_id),
                        next(iter(recorded("history_observed_by_other_client.json").values())))


async def test_a_prompt_without_client_id_broadcasts_only_status_and_progress_state(sim: SimProcess) -> None:
    trace = recorded_trace("bystander_prompt_without_client_id")
    async with Listener(sim.ws_url, "fx-bystander") as bystander:
        response = await http(sim.url, "POST", "/prompt",
                              json=recorded("prompt_json_response_without_client_id.json")["request"]["json"])
        assert response.status_code == 200
        await bystander.wait_count(len(trace))
        prompt_id = response.json()["prompt_id"]
        await wait_for_history(sim, prompt_id)
    assert signatures(bystander.messages) == signatures(trace)
    assert history_of(sim, prompt_id)["prompt"][3] == {}


async def wait_for_history(sim: SimProcess, prompt_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """Poll /history/{id} until the entry exists (what a client without a socket does)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        body = (await http(sim.url, "GET", f"/history/{prompt_id}")).json()
        if prompt_id in body:
            entry: dict[str, Any] = body[prompt_id]
            return entry
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no history for {prompt_id}")


def test_the_workflows_of_the_recordings_are_what_was_posted() -> None:
    for run in SIMPLE_RUNS:
        assert request_of(run)["prompt"] == workflow(run)
