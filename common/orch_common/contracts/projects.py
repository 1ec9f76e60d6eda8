"""Projects: graphs of workflow nodes whose edges carry artifacts from one workflow into the next.

A project document (`ProjectDocument`) is what the canvas edits and what export/import writes as one JSON
file (docs/project-format.md). It is stored durably as events on the ORCH_EVENTS stream:

    ProjectCreated → ProjectSaved (version 2, 3, …) → ProjectRenamed → ProjectDeleted

Every save is a new version; old versions can be listed and restored (a restore is a save of an old document).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from orch_common.contracts import subjects
from orch_common.contracts.events import EventBase, RetryPolicy

__all__ = [
    "PROJECT_FORMAT_VERSION",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectDocument",
    "ProjectEdge",
    "ProjectEvent",
    "ProjectNode",
    "ProjectRenamed",
    "ProjectSaved",
]

PROJECT_FORMAT_VERSION = 1


class ProjectNode(BaseModel):
    """One workflow on the canvas."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    workflow_api: dict[str, Any]
    workflow_ui: dict[str, Any] | None = None
    exposed: list[dict[str, Any]] = Field(default_factory=list)  # ExposedParameter dicts (orch_common.workflow)
    values: dict[str, Any] = Field(default_factory=dict)  # parameter id → value
    pinned_backend: str | None = None
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    position: tuple[float, float] = (0.0, 0.0)
    source: dict[str, Any] = Field(default_factory=dict)  # where it came from: file, template, server


class ProjectEdge(BaseModel):
    """An artifact from `source` node's output port into `target` node's input port."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    source_port: str
    target: str
    target_port: str
    kind: str  # IMAGE | MASK | VIDEO | LATENT | STRING


class ProjectDocument(BaseModel):
    """The whole project, as exported and imported."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["comfyui-orchestrator-project"] = "comfyui-orchestrator-project"
    format_version: int = PROJECT_FORMAT_VERSION
    name: str = Field(min_length=1, max_length=200)
    nodes: list[ProjectNode] = Field(default_factory=list)
    edges: list[ProjectEdge] = Field(default_factory=list)
    view: dict[str, Any] = Field(default_factory=dict)  # viewport, selection: restored on reload


class _ProjectEvent(EventBase):
    project_id: str

    @property
    def subject(self) -> str:
        return subjects.project_event(self.project_id, self.type.split(".", 1)[1])  # type: ignore[attr-defined]


class ProjectCreated(_ProjectEvent):
    type: Literal["project.created"] = "project.created"
    document: ProjectDocument

    @property
    def event_id(self) -> str:
        return f"{self.project_id}:created"


class ProjectSaved(_ProjectEvent):
    type: Literal["project.saved"] = "project.saved"
    version: int = Field(ge=2)
    document: ProjectDocument
    restored_from: int | None = None

    @property
    def event_id(self) -> str:
        return f"{self.project_id}:v{self.version}"


class ProjectRenamed(_ProjectEvent):
    type: Literal["project.renamed"] = "project.renamed"
    name: str = Field(min_length=1, max_length=200)
    nonce: str

    @property
    def event_id(self) -> str:
        return f"{self.project_id}:renamed:{self.nonce}"


class ProjectDeleted(_ProjectEvent):
    type: Literal["project.deleted"] = "project.deleted"

    @property
    def event_id(self) -> str:
        return f"{self.project_id}:deleted"


ProjectEvent = ProjectCreated | ProjectSaved | ProjectRenamed | ProjectDeleted
