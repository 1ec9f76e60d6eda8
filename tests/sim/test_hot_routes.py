"""The per-prompt routes answered before the router (`orch_sim.hot_routes`) answer as the router would."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.sim import SimProcess
from tests.sim.wsutil import http

TINY = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 7}},
    "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
}


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_a_prompt_submitted_on_either_prefix_reaches_history_and_view(sim: SimProcess, prefix: str) -> None:
    prompt_id = str(uuid.uuid4())
    accepted = await http(sim.url, "POST", f"{prefix}/prompt", json={"prompt": TINY, "prompt_id": prompt_id})
    assert accepted.status_code == 200 and accepted.json()["prompt_id"] == prompt_id
    entry: dict[str, object] = {}
    for _ in range(200):
        entry = (await http(sim.url, "GET", f"{prefix}/history/{prompt_id}")).json()
        if entry:
            break
    image = entry[prompt_id]["outputs"]["2"]["images"][0]  # type: ignore[index]
    view = await http(sim.url, "GET", f"{prefix}/view", params=image)
    assert view.status_code == 200 and view.headers["content-type"] == "image/png"
    assert view.content.startswith(b"\x89PNG")
    head = await http(sim.url, "HEAD", f"{prefix}/view", params=image)  # as aiohttp's GET routes answer HEAD
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(view.content)
    missing = await http(sim.url, "HEAD", f"{prefix}/view", params={**image, "filename": "no-such.png"})
    assert missing.status_code == 404


async def test_paths_next_to_the_hot_routes_still_go_to_the_router(sim: SimProcess) -> None:
    assert (await http(sim.url, "GET", "/history/a/b")).status_code == 404
    assert (await http(sim.url, "GET", "/history/no-such-prompt")).json() == {}
    assert (await http(sim.url, "GET", "/api/history")).status_code == 200
    wrong_method = await http(sim.url, "PUT", "/prompt")
    assert wrong_method.status_code == (await http(sim.url, "PUT", "/api/prompt")).status_code == 405


async def test_a_view_that_leaves_its_directory_is_still_refused(sim: SimProcess) -> None:
    assert (await http(sim.url, "GET", "/view", params={"filename": "x.png", "subfolder": "/etc"})).status_code == 403
    assert (await http(sim.url, "GET", "/view", params={"filename": "x.png", "subfolder": ".."})).status_code == 403
    assert (await http(sim.url, "GET", "/view", params={"filename": "../x.png"})).status_code == 400
