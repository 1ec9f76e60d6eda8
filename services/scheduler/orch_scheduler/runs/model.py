"""What the scheduler keeps of a run: the document snapshot, the plan, and per item and node its job ids.

States are not stored here: a node's state is its latest job's, an item's and a run's are derived from those
(see `views`). The fold appends job ids as the run's JobSubmitted events arrive.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orch_common.contracts.projects import ProjectDocument, ProjectEdge

__all__ = ["Run", "RunItem", "RunNode", "job_id_for"]


def _token(node: str) -> str:
    """The node id as a subject token: as is when it is one, else its safe characters and a short hash."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", node)[:40]
    if safe == node:
        return node
    return f"{safe}_{hashlib.sha1(node.encode(), usedforsecurity=False).hexdigest()[:8]}"


def job_id_for(run_id: str, item: int, node: str, resubmission: int) -> str:
    """The deterministic id of a run's job: `<run>-<item>-<node>`, then `-r<n>` for the n-th resubmission."""
    base = f"{run_id}-{item}-{_token(node)}"
    return base if resubmission == 0 else f"{base}-r{resubmission}"


@dataclass(slots=True)
class RunNode:
    jobs: list[str] = field(default_factory=list)
    generation: int = 0  # the item's retry generation when its latest job was submitted


@dataclass(slots=True)
class RunItem:
    index: int
    values: dict[str, dict[str, Any]]  # graph node → parameter → value
    seed_offset: int
    nodes: dict[str, RunNode]
    generation: int = 0  # bumped by each RunItemRetryRequested
    cancelled: bool = False  # by the run's cancellation (a retry of the item reopens it)
    version: int = 0  # bumped by every fold that may change what the item asks for
    quiet_at: int = -1  # decide's memo: the version at which the item asked for nothing (not state)

    def touch(self) -> None:
        self.version += 1


@dataclass(slots=True)
class Run:
    id: str
    project_id: str
    project_version: int
    created_at: datetime
    priority: int
    document: ProjectDocument
    nodes: tuple[str, ...]  # executed graph nodes, upstream first
    incoming: dict[str, tuple[ProjectEdge, ...]]  # executed node → its incoming edges
    external: dict[str, str]  # borrowed upstream node → the succeeded job whose outputs are used
    items: list[RunItem]
    successors: dict[str, tuple[str, ...]] = field(default_factory=dict)  # executed node → executed nodes it feeds
    signatures: dict[str, str] = field(default_factory=dict)  # executed node → its workflow's shape (placement)
    steps: dict[str, int] = field(default_factory=dict)  # executed node → its sampler steps (placement's cost hint)
    cancel_requested: bool = False
    error: dict[str, str] | None = None  # a run that could not be planned: {"code", "message"}
    version: int = 0  # bumped with any of its items' versions
    quiet_at: int = -1  # decide's memo, like RunItem.quiet_at

    def touch(self, item: RunItem | None = None) -> None:
        self.version += 1
        if item is not None:
            item.touch()

    def snapshot(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "project_version": self.project_version,
            "created_at": self.created_at,
            "priority": self.priority,
            "nodes": self.nodes,
            "external": dict(self.external),
            "cancel_requested": self.cancel_requested,
            "error": self.error,
            "items": [
                (
                    item.index,
                    item.generation,
                    item.cancelled,
                    item.seed_offset,
                    {n: (list(rn.jobs), rn.generation) for n, rn in item.nodes.items()},
                )
                for item in self.items
            ],
        }
