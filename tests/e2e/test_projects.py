"""Projects run across a real fleet: chained workflows on different servers, branches in parallel, sweeps with a
failed item re-run alone, a run cancelled without touching another, and fair share against a large batch.

Each test ends with `check_invariants` over every job the runs submitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.invariants import check_invariants
from tests.helpers.stack import Proc, Stack
from tests.helpers.workflows import txt2img

pytestmark = pytest.mark.asyncio(loop_scope="function")

FAST = ("--demo-models", "--step-seconds", "0.01")
SEED = {"id": "seed", "label": "Seed", "address": {"node_id": "3", "input": "seed"}, "type": "INT"}
PROMPT = {"id": "prompt", "label": "Prompt", "address": {"node_id": "6", "input": "text"}, "type": "STRING"}
FINISHED = frozenset({"succeeded", "failed", "cancelled"})


def _invert() -> dict[str, Any]:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "inverted", "images": ["2", 0]}},
    }


def _gen(node_id: str, pin: str | None = None, steps: int = 4) -> dict[str, Any]:
    return {
        "id": node_id,
        "title": f"Generate {node_id}",
        "workflow_api": txt2img(steps=steps),
        "exposed": [SEED, PROMPT],
        "pinned_backend": pin,
    }


def _edge(source: str, target: str) -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "source_port": "9.images",
        "target": target,
        "target_port": "1.image",
        "kind": "IMAGE",
    }


async def _project(stack: Stack, nodes: list[dict[str, Any]], edges: list[dict[str, Any]] = ()) -> str:  # type: ignore[assignment]
    response = await stack.http.post("/api/projects", json={"name": "e2e", "nodes": nodes, "edges": list(edges)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _start(stack: Stack, project_id: str, **body: Any) -> str:
    response = await stack.http.post(f"/api/projects/{project_id}/runs", json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


async def _run(stack: Stack, run_id: str) -> dict[str, Any]:
    response = await stack.http.get(f"/api/runs/{run_id}")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def _wait_run(stack: Stack, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        with_view = None
        with contextlib.suppress(httpx.HTTPError):
            with_view = await _run(stack, run_id)
        if with_view is not None and with_view["state"] in FINISHED:
            return with_view
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} not finished within {timeout}s: {with_view}")
        await asyncio.sleep(0.2)


def _jobs(view: dict[str, Any]) -> list[str]:
    return [job for item in view["items"] for node in item["nodes"].values() for job in node["jobs"]]


async def _start_fleet(stack: Stack, *names: str, options: tuple[str, ...] = FAST) -> None:
    for name in names:
        stack.add_agent(name, stack.add_sim(name, *options))
    await stack.wait_backends(set(names))


async def test_a_chained_project_runs_its_second_node_on_another_server_with_the_first_nodes_output(
    tmp_path: Path,
) -> None:
    async with Stack(tmp_path) as stack:
        await _start_fleet(stack, "sim-a", "sim-b")
        invert = {"id": "inv", "title": "Invert", "workflow_api": _invert(), "pinned_backend": "sim-b"}
        project_id = await _project(stack, [_gen("gen", pin="sim-a"), invert], [_edge("gen", "inv")])
        run_id = await _start(stack, project_id)
        view = await _wait_run(stack, run_id)
        assert view["state"] == "succeeded", view
        gen, inv = view["items"][0]["nodes"]["gen"], view["items"][0]["nodes"]["inv"]
        gen_job, inv_job = await stack.job(gen["jobs"][0]), await stack.job(inv["jobs"][0])
        assert (gen_job["backend"], inv_job["backend"]) == ("sim-a", "sim-b")
        produced = (await stack.http.get(f"/api/artifacts/{gen['outputs'][0]['artifact_id']}")).content
        prompt_id = inv_job["attempts"][-1]["prompt_id"]
        async with httpx.AsyncClient(base_url=stack.procs["sim-b"].extra["url"]) as http:
            history = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
            uploaded = history["prompt"][2]["1"]["inputs"]["image"]
            received = (await http.get("/view", params={"filename": uploaded, "type": "input"})).content
        assert received == produced, "the second server received exactly the first node's output"
        assert inv["outputs"], "the downstream node's outputs are listed on the run"
        listed = (await stack.http.get(f"/api/projects/{project_id}/runs")).json()["runs"]
        assert [(r["id"], r["state"], r["items_total"]) for r in listed] == [(run_id, "succeeded", 1)]
        assert (await stack.http.post(f"/api/runs/{run_id}/items/0/retry")).status_code == 409
        assert (await stack.http.post(f"/api/runs/{run_id}/cancel")).status_code == 409
        await check_invariants(stack, _jobs(view))


async def test_independent_branches_run_in_parallel_on_different_servers(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        await _start_fleet(stack, "sim-a", "sim-b", options=("--demo-models", "--step-seconds", "0.05"))
        project_id = await _project(stack, [_gen("left", steps=20), _gen("right", steps=20)])
        run_id = await _start(stack, project_id)
        view = await _wait_run(stack, run_id)
        assert view["state"] == "succeeded", view
        jobs = [await stack.job(j) for j in _jobs(view)]
        assert {j["backend"] for j in jobs} == {"sim-a", "sim-b"}
        first, second = (j["timings"] for j in jobs)
        assert first["started_at"] < second["ended_at"] and second["started_at"] < first["ended_at"], "they overlapped"
        await check_invariants(stack, _jobs(view))


async def test_a_sweep_makes_one_job_per_item_and_a_failed_item_is_rerun_alone(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        stack.add_agent("sim-ok", stack.add_sim("sim-ok", *FAST))
        bad = stack.add_sim("sim-bad", *FAST, "--fail-at-node", "KSampler")
        stack.add_agent("sim-bad", bad)
        await stack.wait_backends({"sim-ok", "sim-bad"})
        project_id = await _project(stack, [_gen("gen")])
        sweep = {
            "axes": [
                {"node": "gen", "parameter": "seed", "values": [11, 12, 13]},
                {"node": "gen", "parameter": "prompt", "values": ["a cat", "a dog"]},
            ]
        }
        run_id = await _start(stack, project_id, sweep=sweep)
        view = await _wait_run(stack, run_id)
        assert len(view["items"]) == 6 and all(len(i["nodes"]["gen"]["jobs"]) == 1 for i in view["items"])
        workflows = {
            (e["workflow"]["3"]["inputs"]["seed"], e["workflow"]["6"]["inputs"]["text"])
            for job in _jobs(view)
            for e in (await stack.http.get(f"/api/jobs/{job}/events")).json()
            if e["type"] == "job.submitted"
        }
        assert workflows == {(s, p) for s in (11, 12, 13) for p in ("a cat", "a dog")}
        failed = [i["item"] for i in view["items"] if i["state"] == "failed"]
        done = {i["item"]: i["nodes"]["gen"]["jobs"] for i in view["items"] if i["state"] == "succeeded"}
        assert failed, "the faulty server failed some items"
        assert view["items"][failed[0]]["nodes"]["gen"]["error"]["reason"] == "node_error"

        bad.kill()  # back without the fault
        args = [a for a in bad.args if a not in ("--fail-at-node", "KSampler")]
        stack.procs["sim-bad"] = Proc("sim-bad", args, bad.log, extra=bad.extra).start()
        await stack.wait_backends({"sim-ok", "sim-bad"})
        response = await stack.http.post(f"/api/runs/{run_id}/items/{failed[0]}/retry")
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 60
        while (view := await _run(stack, run_id))["items"][failed[0]]["state"] != "succeeded":
            assert time.monotonic() < deadline, view["items"][failed[0]]
            await asyncio.sleep(0.2)
        assert len(view["items"][failed[0]]["nodes"]["gen"]["jobs"]) == 2
        for item, jobs in done.items():
            assert view["items"][item]["nodes"]["gen"]["jobs"] == jobs, "finished items were not redone"
        for item in failed[1:]:
            assert view["items"][item]["state"] == "failed", "only the retried item ran again"
        await check_invariants(stack, _jobs(view))


async def test_cancelling_a_run_leaves_another_runs_jobs_on_the_same_server_alone(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        await _start_fleet(stack, "sim-a", options=("--demo-models", "--step-seconds", "0.05"))
        project_id = await _project(stack, [_gen("gen", steps=20)])
        doomed = await _start(stack, project_id, sweep={"repeat": 3})
        kept = await _start(stack, project_id, sweep={"repeat": 2})
        deadline = time.monotonic() + 30
        while not any(
            n["state"] == "running" for i in (await _run(stack, doomed))["items"] for n in i["nodes"].values()
        ):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await stack.http.post(f"/api/runs/{doomed}/cancel")).status_code == 202
        cancelled, finished = await _wait_run(stack, doomed), await _wait_run(stack, kept)
        assert cancelled["state"] == "cancelled"
        assert {i["state"] for i in cancelled["items"]} == {"cancelled"}
        assert finished["state"] == "succeeded", "the other run's jobs were left alone"
        await check_invariants(stack, _jobs(cancelled) + _jobs(finished))


async def test_a_single_job_run_starts_before_a_fifty_job_batch_finishes(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        await _start_fleet(stack, "sim-a", "sim-b")
        project_id = await _project(stack, [_gen("gen", steps=20)])
        batch = await _start(stack, project_id, sweep={"repeat": 50})
        deadline = time.monotonic() + 30
        while not any(i["state"] != "pending" for i in (await _run(stack, batch))["items"]):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        single = await _start(stack, project_id)
        single_view, batch_view = await _wait_run(stack, single), await _wait_run(stack, batch, timeout=240)
        assert single_view["state"] == batch_view["state"] == "succeeded"
        [single_job] = _jobs(single_view)
        started = (await stack.job(single_job))["timings"]["scheduled_at"]
        later = [j for j in _jobs(batch_view) if (await stack.job(j))["timings"]["scheduled_at"] > started]
        assert len(later) >= 10, f"the single run waited behind the batch ({len(later)} batch jobs after it)"
        await check_invariants(stack, _jobs(single_view) + _jobs(batch_view))


async def test_a_run_request_the_project_cannot_carry_out_is_refused_naming_the_problem(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        invert = {"id": "inv", "title": "Invert", "workflow_api": _invert()}
        project_id = await _project(stack, [_gen("gen"), invert], [_edge("gen", "inv")])
        bad_kind = {**_edge("gen", "inv"), "kind": "STRING"}
        cyclic = await _project(stack, [invert, {**invert, "id": "inv2"}], [_edge("inv", "inv2"), _edge("inv2", "inv")])
        mismatched = await _project(stack, [_gen("gen"), invert], [bad_kind])
        cases = [
            (project_id, {"nodes": ["ghost"]}, "unknown_node", "ghost"),
            (
                project_id,
                {"sweep": {"axes": [{"node": "gen", "parameter": "sead", "values": [1]}]}},
                "unknown_parameter",
                "sead",
            ),
            (
                project_id,
                {"sweep": {"axes": [{"node": "gen", "parameter": "seed", "values": ["x"]}]}},
                "bad_value",
                "seed",
            ),
            (project_id, {"sweep": {"repeat": 6000}}, "bad_sweep", "10000"),
            (cyclic, {}, "cycle", "inv2"),
            (mismatched, {}, "edge_kind", "gen-inv"),
            (project_id, {"nodes": "gen"}, "invalid_run", "nodes"),
            (project_id, {}, "no_backends", "'gen'"),
        ]
        for pid, body, code, named in cases:
            response = await stack.http.post(f"/api/projects/{pid}/runs", json=body)
            assert response.status_code == 422, (body, response.text)
            detail = response.json()["detail"]
            assert detail["code"] == code and named in detail["message"], (body, detail)
        missing = await stack.http.post("/api/projects/nope/runs", json={})
        assert missing.status_code == 404
        assert (await stack.http.get("/api/runs/nope")).status_code == 404


async def test_a_swept_raw_input_value_the_servers_reject_is_refused_before_any_job_runs(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        await _start_fleet(stack, "sim-a")
        project_id = await _project(stack, [_gen("gen")])
        cases = [
            ("3.steps", ["many"], "3.steps of KSampler: expected an integer, got 'many'"),
            ("3.steps", [4, 0], "3.steps of KSampler: 0 is smaller than the minimum 1"),
            ("3.sampler_name", ["euler", "bogus"], "3.sampler_name of KSampler: 'bogus' is not one of"),
            ("5.width", [64, 64.5], "5.width of EmptyLatentImage: expected an integer, got 64.5"),
        ]
        for parameter, values, said in cases:
            body = {"sweep": {"axes": [{"node": "gen", "parameter": parameter, "values": values}]}}
            response = await stack.http.post(f"/api/projects/{project_id}/runs", json=body)
            assert response.status_code == 422, (body, response.text)
            detail = response.json()["detail"]
            assert detail["code"] == "bad_value" and "node 'gen'" in detail["message"], detail
            assert said in detail["message"], detail
        runs = (await stack.http.get(f"/api/projects/{project_id}/runs")).json()["runs"]
        assert runs == [], "a refused run was recorded"
        body = {"sweep": {"axes": [{"node": "gen", "parameter": "3.sampler_name", "values": ["euler", "ddim"]}]}}
        accepted = await stack.http.post(f"/api/projects/{project_id}/runs", json=body)
        assert accepted.status_code == 202, accepted.text
        view = await _wait_run(stack, accepted.json()["run_id"])
        assert view["state"] == "succeeded", view
