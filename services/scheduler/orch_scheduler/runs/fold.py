"""Run events folded into `SchedulerState.runs` (pure: the plan is computed from the event and the state).

RunRequested             plan the run (selection, borrowed upstream outputs, sweep items); a run that cannot
                         be planned is kept with its error and submits nothing
RunItemRetryRequested    the item's generation moves on: its failed or cancelled nodes may be submitted again
RunCancellationRequested every item is marked cancelled (decide then cancels their unfinished jobs)
JobSubmitted of a run    its job id is appended to its (item, node)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orch_common.contracts import runs as rn
from orch_common.contracts.rpc import JobState
from orch_common.workflow.project_run import ProjectRunError, plan_run, workflow_signature
from orch_scheduler.domain.state import Job, SchedulerState
from orch_scheduler.runs.model import Run, RunItem, RunNode

__all__ = ["HANDLERS", "job_submitted", "latest_succeeded", "sampler_steps"]


def sampler_steps(prompt: dict[str, Any]) -> int:
    """The sampler steps a prompt runs (the sum of its nodes' literal integer `steps` inputs; 0 when none):
    placement's hint of how long a workflow shape never run yet will take beside one that has run."""
    total = 0
    for node in prompt.values():
        inputs = node.get("inputs") if isinstance(node, dict) else None
        value = inputs.get("steps") if isinstance(inputs, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            total += value
    return total


def latest_succeeded(state: SchedulerState, project_id: str) -> dict[str, str]:
    """Graph node → its most recent succeeded job among the project's runs."""
    best: dict[str, Job] = {}
    for run in state.runs.values():
        if run.project_id != project_id:
            continue
        for item in run.items:
            for node_id, node in item.nodes.items():
                for job_id in node.jobs:
                    job = state.jobs.get(job_id)
                    if job is None or job.state != JobState.SUCCEEDED:
                        continue
                    current = best.get(node_id)
                    if current is None or job.order > current.order:
                        best[node_id] = job
    return {node_id: job.id for node_id, job in best.items()}


def _requested(state: SchedulerState, e: rn.RunRequested) -> bool:
    if e.run_id in state.runs:
        return False
    reusable = latest_succeeded(state, e.project_id)
    run = Run(
        id=e.run_id,
        project_id=e.project_id,
        project_version=e.project_version,
        created_at=e.occurred_at,
        priority=e.priority,
        document=e.document,
        nodes=(),
        incoming={},
        external={},
        items=[],
    )
    try:
        plan = plan_run(e.document, e.nodes, e.sweep, reusable.keys(), check_values=False)
    except ProjectRunError as exc:
        run.error = {"code": exc.code, "message": exc.message}
        state.runs[run.id] = run
        return True
    run.nodes = plan.nodes
    run.external = {n: reusable[n] for n in plan.external}
    run.incoming = {n: tuple(edge for edge in e.document.edges if edge.target == n) for n in plan.nodes}
    executed = set(plan.nodes)
    run.successors = {
        n: tuple(sorted({edge.target for edge in e.document.edges if edge.source == n and edge.target in executed}))
        for n in plan.nodes
    }
    run.steps = {node.id: sampler_steps(node.workflow_api) for node in e.document.nodes if node.id in executed}
    run.signatures = {
        node.id: workflow_signature(node.workflow_api) for node in e.document.nodes if node.id in executed
    }
    for index, values in enumerate(plan.items):
        grouped: dict[str, dict[str, object]] = {}
        for (node_id, parameter), value in values.items():
            grouped.setdefault(node_id, {})[parameter] = value
        run.items.append(
            RunItem(
                index=index,
                values=grouped,
                seed_offset=plan.seed_offset(index),
                nodes={n: RunNode() for n in plan.nodes},
            )
        )
    state.runs[run.id] = run
    return True


def _item_retry(state: SchedulerState, e: rn.RunItemRetryRequested) -> bool:
    run = state.runs.get(e.run_id)
    if run is None or e.item >= len(run.items):
        return False
    item = run.items[e.item]
    item.generation += 1
    item.cancelled = False
    run.touch(item)
    return True


def _cancellation(state: SchedulerState, e: rn.RunCancellationRequested) -> bool:
    run = state.runs.get(e.run_id)
    if run is None:
        return False
    reopened = [item for item in run.items if not item.cancelled]
    if run.cancel_requested and not reopened:
        return False
    run.cancel_requested = True
    for item in reopened:  # items cancelled before and not retried since need nothing new
        item.cancelled = True
        item.touch()
    run.touch()
    return True


def _item_of(state: SchedulerState, job: Job) -> tuple[Run, RunItem] | None:
    if job.run_id is None or job.graph_node_id is None or not job.labels:
        return None
    run = state.runs.get(job.run_id)
    try:
        index = int(job.labels.get("item", ""))
    except ValueError:
        return None
    if run is None or not 0 <= index < len(run.items):
        return None
    return run, run.items[index]


def job_submitted(state: SchedulerState, job: Job) -> None:
    """Record a run's new job under its (item, node); jobs of unknown runs or nodes are left alone."""
    found = _item_of(state, job)
    if found is None:
        return
    run, item = found
    node = item.nodes.get(job.graph_node_id or "")
    if node is None or job.id in node.jobs:
        return
    node.jobs.append(job.id)
    node.generation = item.generation
    run.touch(item)


def job_changed(state: SchedulerState, job: Job) -> None:
    """A run's job ended or is being cancelled: its item may ask for something new."""
    found = _item_of(state, job)
    if found is not None:
        found[0].touch(found[1])


HANDLERS: dict[type[Any], Callable[[SchedulerState, Any], bool]] = {
    rn.RunRequested: _requested,
    rn.RunItemRetryRequested: _item_retry,
    rn.RunCancellationRequested: _cancellation,
}
