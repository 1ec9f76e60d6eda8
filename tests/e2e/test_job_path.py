"""The job path end to end, every part a real process: API → NATS → scheduler → agent → orch sim → outputs.

Invariants checked: every accepted job ends in exactly one terminal state, no job ran twice, every output's
bytes come back through the API, and the DuckDB log holds every published event exactly once.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import httpx
import pytest

from orch_common.contracts.events import parse_event
from tests.helpers.stack import Stack
from tests.helpers.workflows import basic, txt2img

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def _sim_history_prompt_ids(url: str) -> list[str]:
    async with httpx.AsyncClient(base_url=url) as http:
        return list((await http.get("/history")).json())


async def test_a_workflow_submitted_through_the_api_runs_on_a_sim_and_its_output_bytes_come_back(
    tmp_path: Path,
) -> None:
    async with Stack(tmp_path) as stack:
        sim = stack.add_sim("sim-1")
        stack.add_agent("sim-1", sim)
        await stack.wait_backends({"sim-1"})
        job_id = await stack.submit(basic())
        view = (await stack.wait_terminal([job_id], timeout=60))[job_id]
        assert view["state"] == "succeeded", view
        assert view["backend"] == "sim-1"
        [output] = view["outputs"]
        assert output["kind"] == "image" and output["content_type"] == "image/png"
        got = await stack.http.get(f"/api/artifacts/{output['artifact_id']}")
        assert got.status_code == 200 and got.headers["content-type"].startswith("image/png")
        async with httpx.AsyncClient(base_url=sim.extra["url"]) as http:
            direct = await http.get(
                "/view", params={"filename": output["filename"], "subfolder": output["subfolder"], "type": "output"}
            )
        assert got.content == direct.content
        events = (await stack.http.get(f"/api/jobs/{job_id}/events")).json()
        types = [e["type"] for e in events]
        assert types[0] == "job.submitted" and types[-1] == "job.succeeded"
        assert "job.output_stored" in types


async def test_fifty_jobs_over_three_sims_all_complete_exactly_once(tmp_path: Path) -> None:
    async with Stack(tmp_path) as stack:
        for i in (1, 2, 3):
            stack.add_agent(f"sim-{i}", stack.add_sim(f"sim-{i}", "--demo-models", "--step-seconds", "0.01"))
        await stack.wait_backends({"sim-1", "sim-2", "sim-3"})
        job_ids = await asyncio.gather(*(stack.submit(txt2img(seed=i, steps=4)) for i in range(50)))
        views = await stack.wait_terminal(list(job_ids), timeout=240)
        assert {v["state"] for v in views.values()} == {"succeeded"}
        assert len({v["backend"] for v in views.values()}) == 3, "the work was spread over the fleet"
        ran = collections.Counter()
        for name in ("sim-1", "sim-2", "sim-3"):
            ran.update(await _sim_history_prompt_ids(stack.procs[name].extra["url"]))
        assert all(count == 1 for count in ran.values()), "a prompt ran twice"
        prompt_ids = {a["prompt_id"] for v in views.values() for a in v["attempts"]}
        assert prompt_ids == set(ran), "every attempt's prompt ran, and nothing else"

        published = await stack.stream_events()
        stack.procs["scheduler"].stop()
        logged = stack.logged_events()
        logged_ids = [event_id for event_id, _ in logged]
        assert len(logged_ids) == len(set(logged_ids)), "an event was logged twice"
        assert set(logged_ids) == {parse_event(e).event_id for e in published}, "the log and the stream differ"
