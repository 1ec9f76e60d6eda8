"""Event factories for the scheduler tests: fixed times, small workflows, readable defaults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from orch_common.contracts import events as ev

T0 = datetime(2026, 1, 1, tzinfo=UTC)

WORKFLOW: dict[str, Any] = {
    "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "t"}},
}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def submitted(job_id: str, t: float = 0, **kw: Any) -> ev.JobSubmitted:
    kw.setdefault("workflow", WORKFLOW)
    return ev.JobSubmitted(job_id=job_id, occurred_at=at(t), **kw)


def registered(backend_id: str, classes: tuple[str, ...] = ("EmptyImage", "SaveImage"), t: float = 0, **kw: Any):
    models = kw.pop("models", {})
    return ev.BackendRegistered(
        backend_id=backend_id,
        comfy_url=f"http://{backend_id}.invalid:8188",
        agent_instance=kw.pop("agent_instance", f"{backend_id}-i1"),
        capabilities=ev.BackendCapabilities(node_classes=list(classes), models=models, object_info_hash="h" * 20),
        occurred_at=at(t),
        **kw,
    )


def scheduled(job_id: str, backend_id: str, attempt: int = 1, t: float = 1) -> ev.JobScheduled:
    return ev.JobScheduled(
        job_id=job_id, attempt=attempt, backend_id=backend_id, prompt_id=f"p-{job_id}-{attempt}", occurred_at=at(t)
    )


def started(job_id: str, backend_id: str, attempt: int = 1, t: float = 2) -> ev.JobStarted:
    return ev.JobStarted(
        job_id=job_id, attempt=attempt, backend_id=backend_id, prompt_id=f"p-{job_id}-{attempt}", occurred_at=at(t)
    )


def succeeded(job_id: str, backend_id: str, attempt: int = 1, t: float = 3) -> ev.JobSucceeded:
    return ev.JobSucceeded(job_id=job_id, attempt=attempt, backend_id=backend_id, occurred_at=at(t))


def attempt_failed(
    job_id: str, attempt: int = 1, reason: ev.FailureReason = ev.FailureReason.BACKEND_LOST, t: float = 3, **kw: Any
) -> ev.JobAttemptFailed:
    kw.setdefault("message", f"attempt {attempt} failed: {reason.value}")
    return ev.JobAttemptFailed(job_id=job_id, attempt=attempt, reason=reason, occurred_at=at(t), **kw)


def output_stored(job_id: str, attempt: int = 1, **kw: Any) -> ev.JobOutputStored:
    """Node 9's first image output of the attempt (`occurred_at` and the rest overridable)."""
    fields: dict[str, Any] = {
        "node_id": "9",
        "index": 0,
        "artifact_id": f"{job_id}/{attempt}/9/0-out.png",
        "filename": "out.png",
        "kind": ev.ArtifactKind.IMAGE,
        "content_type": "image/png",
        "size": 1,
        "sha256": "0" * 64,
        **kw,
    }
    return ev.JobOutputStored(job_id=job_id, attempt=attempt, **fields)
