"""`runs.get` and `runs.list`: a run's items and nodes with the states derived from their jobs.

A node's state is its latest job's (queued, scheduled, running, succeeded, failed, cancelled); without a job it
is `pending` (waiting for its inputs), `blocked` (an upstream node failed) or `cancelled` (its item was cancelled,
or an upstream job was, before it could start). An item is running while any node is unfinished, then failed if any
node failed or is blocked, else cancelled if any was cancelled, else succeeded. A run takes the same rule over its
items (`failed` too when it could not be planned).
"""

from __future__ import annotations

from typing import Any

from orch_common.contracts.rpc import JobState
from orch_scheduler.domain.state import SchedulerState
from orch_scheduler.runs.model import Run, RunItem
from orch_scheduler.views import job_view

__all__ = ["item_view", "run_summary", "run_view"]

_UNFINISHED = frozenset({"pending", "queued", "scheduled", "running"})


def _node_states(state: SchedulerState, run: Run, item: RunItem) -> dict[str, str]:
    states: dict[str, str] = {}
    for node_id in run.nodes:
        node = item.nodes[node_id]
        job = state.jobs.get(node.jobs[-1]) if node.jobs else None
        if job is not None:
            current = job.state.value
            if job.state in (JobState.FAILED, JobState.CANCELLED) and node.generation < item.generation:
                current = "pending"  # a retry of the item will submit it again
            states[node_id] = current
            continue
        upstream = {states.get(edge.source) for edge in run.incoming.get(node_id, ())}
        if item.cancelled or (upstream & {"cancelled"} and not upstream & {"failed", "blocked"}):
            states[node_id] = "cancelled"
        elif upstream & {"failed", "blocked"}:
            states[node_id] = "blocked"
        else:
            states[node_id] = "pending"
    return states


def _combine(states: list[str]) -> str:
    """pending while nothing has started, running while anything is unfinished, then failed > cancelled > ok."""
    if states and all(s == "pending" for s in states):
        return "pending"
    if any(s in _UNFINISHED or s == "running" for s in states):
        return "running"
    if any(s in ("failed", "blocked") for s in states):
        return "failed"
    if any(s == "cancelled" for s in states):
        return "cancelled"
    return "succeeded"


def item_view(state: SchedulerState, run: Run, item: RunItem) -> dict[str, Any]:
    states = _node_states(state, run, item)
    nodes: dict[str, Any] = {}
    for node_id in run.nodes:
        jobs = item.nodes[node_id].jobs
        latest = state.jobs.get(jobs[-1]) if jobs else None
        outputs = [o.model_dump(mode="json") for o in job_view(latest).outputs] if latest is not None else []
        error = latest.error if latest is not None and states[node_id] == "failed" else None
        nodes[node_id] = {"state": states[node_id], "jobs": list(jobs), "outputs": outputs, "error": error}
    return {
        "item": item.index,
        "state": _item_state(states),
        "values": [
            {"node": node_id, "parameter": parameter, "value": value}
            for node_id, values in item.values.items()
            for parameter, value in values.items()
        ],
        "seed_offset": item.seed_offset,
        "nodes": nodes,
    }


def _item_state(states: dict[str, str]) -> str:
    return _combine(list(states.values()))


def _run_state(run: Run, items: list[str]) -> str:
    return "failed" if run.error is not None else _combine(items)


def run_summary(state: SchedulerState, run: Run) -> dict[str, Any]:
    items = [_item_state(_node_states(state, run, item)) for item in run.items]
    counts: dict[str, int] = {}
    for s in items:
        counts[s] = counts.get(s, 0) + 1
    return {
        "id": run.id,
        "project_id": run.project_id,
        "project_version": run.project_version,
        "state": _run_state(run, items),
        "created_at": run.created_at.isoformat(),
        "priority": run.priority,
        "nodes": list(run.nodes),
        "borrowed": dict(run.external),
        "items_total": len(run.items),
        "items_by_state": counts,
        "cancel_requested": run.cancel_requested,
        "error": run.error,
    }


def run_view(state: SchedulerState, run: Run) -> dict[str, Any]:
    items = [item_view(state, run, item) for item in run.items]
    summary = run_summary(state, run)
    summary["items"] = items
    return summary
