"""The checker every reliability test ends with, over the live API and the DuckDB event log.

1. every accepted job ends in exactly one terminal state;
2. no job succeeded twice (in the log, not only in the fold) and no output is missing;
3. replaying the log from zero gives exactly the live state.
"""

from __future__ import annotations

import collections
from typing import Any

from orch_scheduler.replay import replay
from orch_scheduler.views import job_view
from tests.helpers.stack import TERMINAL, Stack

__all__ = ["check_invariants"]

COMPARED = ("id", "state", "attempts", "backend", "error", "outputs")


async def check_invariants(stack: Stack, job_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Assert the three invariants; stops the scheduler to read its log. Returns the live job views."""
    live = {job_id: await stack.job(job_id) for job_id in job_ids}
    not_terminal = {j: v["state"] for j, v in live.items() if v["state"] not in TERMINAL}
    assert not not_terminal, f"jobs not in a terminal state: {not_terminal}"

    for view in live.values():
        if view["state"] != "succeeded":
            continue
        assert view["outputs"], f"job {view['id']} succeeded without outputs"
        for output in view["outputs"]:
            response = await stack.http.get(f"/api/artifacts/{output['artifact_id']}")
            assert response.status_code == 200, f"output {output['artifact_id']} is missing"

    stack.procs["scheduler"].stop()
    rows = stack.logged_events()
    succeeded = collections.Counter(event_id.split(":")[0] for event_id, kind in rows if kind == "job.succeeded")
    twice = {job: n for job, n in succeeded.items() if n > 1}
    assert not twice, f"jobs that succeeded more than once: {twice}"

    state = replay(stack.db)
    for job_id, view in live.items():
        replayed = job_view(state.jobs[job_id]).model_dump(mode="json")
        for key in COMPARED:
            assert replayed[key] == view[key], f"replay differs from the live state for {job_id}.{key}"
    return live
