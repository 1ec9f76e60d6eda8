"""Runs of a project: the outer graph executed across the fleet, optionally as a batch or a parameter sweep.

    RunRequested (the project document snapshot, the node selection and the sweep)
        → the scheduler submits one job per (item, graph node) as soon as that node's inputs are ready
          (JobSubmitted with run_id, graph_node_id and labels {"item": "<i>"}; upstream artifacts as InputBindings)
    RunItemRetryRequested   re-run the failed or cancelled nodes of one item, keeping its finished ones
    RunCancellationRequested cancel every unfinished job of the run, and nobody else's

A run's state is derived from its jobs; nothing here decides anything by itself.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orch_common.contracts import subjects
from orch_common.contracts.events import EventBase
from orch_common.contracts.projects import ProjectDocument

__all__ = [
    "RunCancellationRequested",
    "RunEvent",
    "RunItemRetryRequested",
    "RunRequested",
    "Sweep",
    "SweepAxis",
    "ValueRange",
]

MAX_SWEEP_ITEMS = 10_000


class ValueRange(BaseModel):
    """start, start+step, … up to and including `stop` (within float tolerance)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: float
    stop: float
    step: float = Field(gt=0)

    def values(self) -> list[float | int]:
        count = int((self.stop - self.start) / self.step + 1e-9) + 1
        if count > MAX_SWEEP_ITEMS:
            raise ValueError(f"range gives {count} values, more than {MAX_SWEEP_ITEMS}")
        out = [self.start + i * self.step for i in range(max(0, count))]
        if all(float(v).is_integer() for v in (self.start, self.step)):
            return [int(v) for v in out]
        return [round(v, 10) for v in out]


class SweepAxis(BaseModel):
    """One swept parameter of one graph node: a list of values or a range."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    node: str  # graph node id in the project
    parameter: str  # exposed parameter id of that node (or "<node_id>.<input>" of its API prompt)
    values: list[Any] | None = None
    range: ValueRange | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SweepAxis:
        if (self.values is None) == (self.range is None):
            raise ValueError(f"axis {self.node}/{self.parameter}: give exactly one of values or range")
        if self.values is not None and not self.values:
            raise ValueError(f"axis {self.node}/{self.parameter}: values is empty")
        return self

    def resolved(self) -> list[Any]:
        if self.values is not None:
            return list(self.values)
        assert self.range is not None
        return list(self.range.values())


class Sweep(BaseModel):
    """Batches and grids: `repeat` copies of every combination of the axes (grid) or of their zip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    axes: list[SweepAxis] = Field(default_factory=list)
    mode: Literal["grid", "zip"] = "grid"
    repeat: int = Field(default=1, ge=1, le=MAX_SWEEP_ITEMS)
    vary_seeds: bool = True  # repeats of one combination get different seeds (seed + repeat index)

    def items(self) -> list[dict[tuple[str, str], Any]]:
        """Every item as {(node, parameter): value}, in a deterministic order."""
        keys = [(a.node, a.parameter) for a in self.axes]
        columns = [a.resolved() for a in self.axes]
        if self.mode == "zip":
            lengths = {len(c) for c in columns}
            if len(lengths) > 1:
                raise ValueError(f"zip sweep needs axes of equal length, got {sorted(lengths)}")
            combos = list(zip(*columns, strict=True)) if columns else [()]
        else:
            combos = list(itertools.product(*columns))
        total = len(combos) * self.repeat
        if total > MAX_SWEEP_ITEMS:
            raise ValueError(f"the sweep has {total} items, more than {MAX_SWEEP_ITEMS}")
        return [dict(zip(keys, combo, strict=True)) for combo in combos for _ in range(self.repeat)]


class _RunEvent(EventBase):
    run_id: str

    @property
    def subject(self) -> str:
        return subjects.run_event(self.run_id, self.type.split(".", 1)[1])  # type: ignore[attr-defined]


class RunRequested(_RunEvent):
    """Run `nodes` (all when empty) of a snapshot of the project, once per sweep item."""

    type: Literal["run.requested"] = "run.requested"
    project_id: str
    project_version: int
    document: ProjectDocument
    nodes: list[str] = Field(default_factory=list)
    sweep: Sweep = Field(default_factory=Sweep)
    priority: int = 0

    @property
    def event_id(self) -> str:
        return f"{self.run_id}:requested"


class RunItemRetryRequested(_RunEvent):
    """Re-run what failed or was cancelled in item `item`; its succeeded nodes are kept."""

    type: Literal["run.item_retry_requested"] = "run.item_retry_requested"
    item: int = Field(ge=0)
    nonce: str

    @property
    def event_id(self) -> str:
        return f"{self.run_id}:retry:{self.item}:{self.nonce}"


class RunCancellationRequested(_RunEvent):
    """Cancel every unfinished job of the run. A run can be cancelled again (after an item retry): each request
    carries its own `nonce`, so it is not deduplicated against the earlier one."""

    type: Literal["run.cancellation_requested"] = "run.cancellation_requested"
    nonce: str = ""

    @property
    def event_id(self) -> str:
        suffix = f":{self.nonce}" if self.nonce else ""
        return f"{self.run_id}:cancellation_requested{suffix}"


RunEvent = RunRequested | RunItemRetryRequested | RunCancellationRequested
