"""What the runs ask for now: JobSubmitted for every ready node, JobCancellationRequested for cancelled items.

A node of an item is ready when it has no job yet (or its latest job failed or was cancelled before the item's
last retry) and every upstream node has succeeded (or is borrowed from an earlier run). Its prompt is the node's
workflow with the node's values and the item's values patched in; each incoming edge becomes an InputBinding to
the upstream job's output for the edge's source port. A node whose prompt or inputs cannot be built gets its
JobSubmitted followed by JobFailed(validation) naming the problem, so the failure is recorded like any other.

Items and runs that asked for nothing are skipped until the fold touches them again (their `version` moves on
with each of their jobs' submissions, ends and cancellations, and with retries and cancellations of the run), so
a round costs little for runs that are waiting or done. That memo is not state: a replay recomputes it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from orch_common.contracts import events as ev
from orch_common.contracts.projects import ProjectEdge
from orch_common.contracts.rpc import JobState
from orch_common.workflow.capability import MODEL_SUFFIXES, required_node_classes
from orch_common.workflow.project_run import ProjectRunError, item_prompt, port_address
from orch_scheduler.domain.state import Job, SchedulerState
from orch_scheduler.runs.model import Run, RunItem, job_id_for

__all__ = ["decide_runs", "input_filename", "required_models"]

_RESUBMITTABLE = frozenset({JobState.FAILED, JobState.CANCELLED})
_KINDS = {
    "IMAGE": ev.ArtifactKind.IMAGE,
    "MASK": ev.ArtifactKind.MASK,
    "VIDEO": ev.ArtifactKind.VIDEO,
    "AUDIO": ev.ArtifactKind.AUDIO,
    "LATENT": ev.ArtifactKind.LATENT,
    "STRING": ev.ArtifactKind.TEXT,
}


def input_filename(artifact_id: str) -> str:
    """The upload name of an artifact on a server: derived from its id, so a second upload reuses the file."""
    return "orch_" + re.sub(r"[^A-Za-z0-9._-]+", "_", artifact_id).strip("_")


def decide_runs(state: SchedulerState, now: datetime) -> list[Any]:
    """The events every run asks for now (see the module docstring)."""
    out: list[Any] = []
    for run in state.runs.values():
        if run.error is not None or run.quiet_at == run.version:
            continue
        before = len(out)
        for item in run.items:
            if item.quiet_at == item.version:
                continue
            asked = len(out)
            if item.cancelled:
                _cancel_item(state, run, item, out)
            else:
                _advance_item(state, run, item, now, out)
            if len(out) == asked:
                item.quiet_at = item.version  # memo: nothing to ask until a fold touches the item again
        if len(out) == before:
            run.quiet_at = run.version
    return out


def _latest(state: SchedulerState, run: Run, item: RunItem, node_id: str) -> Job | None:
    node = item.nodes.get(node_id)
    if node is None or not node.jobs:
        return None
    return state.jobs.get(node.jobs[-1])


def _cancel_item(state: SchedulerState, run: Run, item: RunItem, out: list[Any]) -> None:
    for node in item.nodes.values():
        for job_id in node.jobs:
            job = state.jobs.get(job_id)
            if job is not None and not job.state.terminal and not job.cancel_requested:
                out.append(ev.JobCancellationRequested(job_id=job_id, requested_by=f"run:{run.id}"))


def _advance_item(state: SchedulerState, run: Run, item: RunItem, now: datetime, out: list[Any]) -> None:
    for node_id in run.nodes:
        node = item.nodes[node_id]
        latest = _latest(state, run, item, node_id)
        settled = latest is None or latest.state not in _RESUBMITTABLE or node.generation >= item.generation
        if node.jobs and settled:
            continue
        upstream: dict[str, Job] = {}
        ready = True
        for edge in run.incoming.get(node_id, ()):
            source = _source_job(state, run, item, edge.source)
            if source is None or source.state != JobState.SUCCEEDED:
                ready = False
                break
            upstream[edge.source] = source
        if ready:
            out.extend(_submit(state, run, item, node_id, len(node.jobs), upstream, now))


def _source_job(state: SchedulerState, run: Run, item: RunItem, source: str) -> Job | None:
    if source in item.nodes:
        return _latest(state, run, item, source)
    borrowed = run.external.get(source)
    return state.jobs.get(borrowed) if borrowed is not None else None


def _binding(edge: ProjectEdge, job: Job) -> ev.InputBinding:
    src_node, _ = port_address(edge.source_port)
    tgt_node, tgt_input = port_address(edge.target_port)
    outputs = sorted((o for o in job.outputs or () if o.node_id == src_node), key=lambda o: o.index)
    if not outputs:
        raise ProjectRunError(
            "missing_output",
            f"edge {edge.id!r}: upstream job {job.id} produced no output at {edge.source_port!r}",
        )
    output = outputs[0]
    kind = _KINDS.get(edge.kind.upper(), ev.ArtifactKind.FILE)
    return ev.InputBinding(
        artifact_id=output.artifact_id,
        node_id=tgt_node,
        input_name=tgt_input,
        filename=input_filename(output.artifact_id),
        kind=kind,
        as_text=kind is ev.ArtifactKind.TEXT,
    )


def required_models(state: SchedulerState, prompt: dict[str, Any]) -> dict[str, list[str]]:
    """Folder → files for the prompt's literal model-file inputs that some backend lists (like the API does for a
    plain job): each file goes under the folder most backends list it in; files no backend lists are left to
    ComfyUI's validation, which names them."""
    required: dict[str, set[str]] = {}
    for node in prompt.values():
        if not isinstance(node, dict):
            continue
        class_type = str(node.get("class_type", ""))
        for name, value in (node.get("inputs") or {}).items():
            if not isinstance(value, str) or not value.lower().endswith(MODEL_SUFFIXES):
                continue
            if "Loader" not in class_type and not str(name).endswith("_name"):
                continue
            counts: dict[str, int] = {}
            for backend in state.backends.values():
                for folder, files in backend.models.items():
                    if value in files:
                        counts[folder] = counts.get(folder, 0) + 1
            if counts:
                folder = min(counts, key=lambda f: (-counts[f], f))
                required.setdefault(folder, set()).add(value)
    return {folder: sorted(files) for folder, files in sorted(required.items())}


def _submit(
    state: SchedulerState,
    run: Run,
    item: RunItem,
    node_id: str,
    resubmission: int,
    upstream: dict[str, Job],
    now: datetime,
) -> list[Any]:
    node = next(n for n in run.document.nodes if n.id == node_id)
    job_id = job_id_for(run.id, item.index, node_id, resubmission)
    problem: ProjectRunError | None = None
    prompt: dict[str, Any] = node.workflow_api
    inputs: list[ev.InputBinding] = []
    try:
        prompt = item_prompt(node, item.values.get(node_id, {}), item.seed_offset)
        inputs = [_binding(edge, upstream[edge.source]) for edge in run.incoming.get(node_id, ())]
    except ProjectRunError as exc:
        problem = exc
    try:
        classes = sorted(required_node_classes(prompt))
    except ValueError:
        classes = []
    submitted = ev.JobSubmitted(
        job_id=job_id,
        workflow=prompt,
        pinned_backend=node.pinned_backend,
        required_classes=classes,
        required_models=required_models(state, prompt),
        retry=node.retry,
        priority=run.priority,
        inputs=inputs,
        project_id=run.project_id,
        run_id=run.id,
        graph_node_id=node_id,
        labels={"item": str(item.index)},
        occurred_at=now,
    )
    if problem is None:
        return [submitted]
    failed = ev.JobFailed(
        job_id=job_id,
        attempt=0,
        reason=ev.FailureReason.VALIDATION,
        message=problem.message,
        details={"code": problem.code, "graph_node_id": node_id},
        occurred_at=now,
    )
    return [submitted, failed]
