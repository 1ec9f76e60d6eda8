"""A project run followed over the live websocket alone, with every part a real process (nats, scheduler, API,
agent, orch sim): the run's request and each job's run, graph node and item arrive on the stream, so a browser maps
a job to its canvas node the moment it is submitted instead of polling `GET /api/runs/{id}`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.helpers.stack import Stack
from tests.helpers.workflows import txt2img

pytestmark = pytest.mark.asyncio(loop_scope="function")

FAST = ("--demo-models", "--step-seconds", "0.02")
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
INVERT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "inverted", "images": ["2", 0]}},
}
EDGE = {"id": "gen-inv", "source": "gen", "source_port": "9.images", "target": "inv", "target_port": "1.image"}


async def _project(stack: Stack) -> str:
    nodes = [
        {"id": "gen", "title": "Generate", "workflow_api": txt2img(steps=4)},
        {"id": "inv", "title": "Invert", "workflow_api": INVERT},
    ]
    response = await stack.http.post(
        "/api/projects", json={"name": "live", "nodes": nodes, "edges": [{**EDGE, "kind": "IMAGE"}]}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _follow(ws: ClientConnection, run_id: str, jobs_expected: int) -> list[dict[str, Any]]:
    """Messages until every job of the run (as the stream itself maps them) has ended."""
    seen: list[dict[str, Any]] = []
    ended: set[str] = set()
    mapped: set[str] = set()
    async with asyncio.timeout(120):
        while len(mapped) < jobs_expected or ended != mapped:
            message = json.loads(await ws.recv())
            seen.append(message)
            job = message.get("job") if message["type"] == "job" else None
            if job is not None and job.get("run_id") == run_id:
                mapped.add(job["id"])
                if job["state"] in FINISHED:
                    ended.add(job["id"])
    return seen


async def _finished_view(stack: Stack, run_id: str) -> dict[str, Any]:
    async with asyncio.timeout(30):
        while True:
            view: dict[str, Any] = (await stack.http.get(f"/api/runs/{run_id}")).json()
            if view["state"] in FINISHED:
                return view
            await asyncio.sleep(0.1)


async def test_a_runs_node_to_job_mapping_arrives_on_the_live_websocket(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        stack.add_agent("sim-1", stack.add_sim("sim-1", *FAST))
        await stack.wait_backends({"sim-1"})
        project_id = await _project(stack)
        async with connect(stack.api_url.replace("http://", "ws://") + "/api/live") as ws:
            assert json.loads(await ws.recv())["type"] == "snapshot"
            started = await stack.http.post(f"/api/projects/{project_id}/runs", json={"sweep": {"repeat": 2}})
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]
            seen = await _follow(ws, run_id, jobs_expected=4)
        view = await _finished_view(stack, run_id)  # the scheduler's view may trail the stream a moment

    runs = [m["run"] for m in seen if m["type"] == "run"]
    assert {"id": run_id, "project_id": project_id, "event": "requested", "item": None} in runs

    first: dict[str, dict[str, Any]] = {}  # each job's first message: it already names its run, node and item
    last: dict[str, dict[str, Any]] = {}
    for message in seen:
        if message["type"] == "job" and message["job"].get("run_id") == run_id:
            first.setdefault(message["job"]["id"], message["job"])
            last[message["job"]["id"]] = message["job"]
    live_map = {(int(j["labels"]["item"]), j["graph_node_id"]): job_id for job_id, j in first.items()}
    assert all(j["project_id"] == project_id for j in first.values())

    rest_map = {
        (item["item"], node_id): node["jobs"][-1] for item in view["items"] for node_id, node in item["nodes"].items()
    }
    assert live_map == rest_map
    for (item, node_id), job_id in rest_map.items():
        assert last[job_id]["state"] == view["items"][item]["nodes"][node_id]["state"] == "succeeded"
