"""Failures on a real stack: every part can die and nothing accepted is lost or run twice.

Each test ends with `check_invariants`: one terminal state per job, no success twice, no output missing, and
replaying the DuckDB log from zero gives the live state.
"""

from __future__ import annotations

import asyncio
import collections
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.invariants import check_invariants
from tests.helpers.stack import Stack
from tests.helpers.workflows import txt2img

pytestmark = pytest.mark.asyncio(loop_scope="function")

SLOW = ("--demo-models", "--step-seconds", "0.05")


async def _wait_running(stack: Stack, job_id: str, timeout: float = 30.0) -> str:
    """Until the job runs; returns its backend."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = await stack.job(job_id)
        if view["state"] == "running" and view["backend"]:
            return str(view["backend"])
        await asyncio.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not start running")


async def _prompt_runs(stack: Stack, names: list[str]) -> collections.Counter[str]:
    ran: collections.Counter[str] = collections.Counter()
    for name in names:
        proc = stack.procs[name]
        if not proc.alive:
            continue
        async with httpx.AsyncClient(base_url=proc.extra["url"]) as http:
            history = (await http.get("/history")).json()
        ran.update(pid for pid, entry in history.items() if entry["status"]["status_str"] == "success")
    return ran


async def test_a_sim_killed_mid_job_sends_that_job_to_another_backend(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        for name in ("sim-a", "sim-b"):
            stack.add_agent(name, stack.add_sim(name, *SLOW))
        await stack.wait_backends({"sim-a", "sim-b"})
        job_id = await stack.submit(txt2img(seed=7, steps=40))
        first = await _wait_running(stack, job_id)
        stack.procs[first].kill()
        view = (await stack.wait_terminal([job_id], timeout=60))[job_id]
        assert view["state"] == "succeeded"
        assert view["attempts"][0]["backend_id"] == first
        assert view["backend"] != first and len(view["attempts"]) == 2
        await check_invariants(stack, [job_id])


async def test_a_sim_restarted_with_an_empty_queue_has_its_jobs_run_again(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        sim = stack.add_sim("sim-a", *SLOW)
        stack.add_agent("sim-a", sim)
        await stack.wait_backends({"sim-a"})
        job_ids = [await stack.submit(txt2img(seed=s, steps=30)) for s in range(3)]
        await _wait_running(stack, job_ids[0])
        stack.restart_sim("sim-a")
        views = await stack.wait_terminal(job_ids, timeout=90)
        assert {v["state"] for v in views.values()} == {"succeeded"}
        assert any(len(v["attempts"]) > 1 for v in views.values()), "the lost prompt was not retried"
        await check_invariants(stack, job_ids)


async def test_a_killed_agent_has_its_work_moved_to_another_backend(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        for name in ("sim-a", "sim-b"):
            stack.add_agent(name, stack.add_sim(name, *SLOW))
        await stack.wait_backends({"sim-a", "sim-b"})
        job_id = await stack.submit(txt2img(seed=3, steps=60))
        first = await _wait_running(stack, job_id)
        stack.procs[f"agent-{first}"].kill()
        view = (await stack.wait_terminal([job_id], timeout=90))[job_id]
        assert view["state"] == "succeeded" and view["backend"] != first
        await check_invariants(stack, [job_id])


async def test_a_scheduler_killed_mid_batch_finishes_the_batch_after_restart_and_no_job_runs_twice(
    tmp_path: Path,
) -> None:
    async with Stack(tmp_path) as stack:
        names = ["sim-a", "sim-b", "sim-c"]
        for name in names:
            stack.add_agent(name, stack.add_sim(name, "--demo-models", "--step-seconds", "0.01"))
        await stack.wait_backends(set(names))
        job_ids = list(await asyncio.gather(*(stack.submit(txt2img(seed=i, steps=6)) for i in range(30))))
        await asyncio.sleep(0.5)
        stack.procs["scheduler"].kill()
        more = list(await asyncio.gather(*(stack.submit(txt2img(seed=100 + i, steps=6)) for i in range(10))))
        await asyncio.sleep(0.5)
        stack.start_scheduler()
        views = await stack.wait_terminal(job_ids + more, timeout=180)
        assert {v["state"] for v in views.values()} == {"succeeded"}
        ran = await _prompt_runs(stack, names)
        assert all(n == 1 for n in ran.values()), "a prompt ran twice"
        assert sum(len(v["attempts"]) for v in views.values()) == len(views), "a job was dispatched twice"
        await check_invariants(stack, job_ids + more)


async def test_a_nats_server_restart_mid_batch_loses_nothing(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        names = ["sim-a", "sim-b"]
        for name in names:
            stack.add_agent(name, stack.add_sim(name, "--demo-models", "--step-seconds", "0.02"))
        await stack.wait_backends(set(names))
        job_ids = list(await asyncio.gather(*(stack.submit(txt2img(seed=i, steps=10)) for i in range(12))))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(stack.nats.restart)
        views = await stack.wait_terminal(job_ids, timeout=60)
        assert {v["state"] for v in views.values()} == {"succeeded"}
        await check_invariants(stack, job_ids)


async def test_a_hung_server_has_its_prompt_interrupted_and_its_job_moved_to_another_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing measured yet, so RunJob carries the scheduler's default expected time: hung after twice that.
    monkeypatch.setenv("ORCH_SCHEDULER_DEFAULT_EXPECTED_S", "1.5")
    async with Stack(tmp_path) as stack:
        hung = stack.add_sim("sim-hung", *SLOW, "--hang-at-node", "KSampler")
        stack.add_agent("sim-hung", hung)
        await stack.wait_backends({"sim-hung"})
        job_id = await stack.submit(txt2img(seed=11, steps=10))
        assert await _wait_running(stack, job_id) == "sim-hung"
        stack.add_agent("sim-ok", stack.add_sim("sim-ok", *SLOW))
        await stack.wait_backends({"sim-ok"})
        view = (await stack.wait_terminal([job_id], timeout=60))[job_id]
        assert view["state"] == "succeeded" and view["backend"] == "sim-ok"
        first = view["attempts"][0]
        assert (first["backend_id"], first["outcome"]) == ("sim-hung", "hung")
        async with httpx.AsyncClient(base_url=hung.extra["url"]) as http:
            queue = (await http.get("/queue")).json()
        assert queue["queue_running"] == [] and queue["queue_pending"] == [], "the hung prompt was not interrupted"
        await check_invariants(stack, [job_id])
