"""Ephemeral live messages on core NATS (`orch.v1.live.>`): full-rate progress, previews and metrics.

They are not stored: the durable truth is in the event stream. The API fans them out to browsers, coalesced.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackendMetrics", "GpuMetrics", "LivePreview", "LiveProgress"]


class _Live(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LiveProgress(_Live):
    """A progress tick of a running job, as ComfyUI reported it."""

    type: Literal["progress"] = "progress"
    job_id: str
    attempt: int
    backend_id: str
    prompt_id: str
    node_id: str | None
    value: float
    max: float
    nodes: dict[str, Any] = Field(default_factory=dict)  # the last progress_state snapshot, when there is one
    sent_at: float  # time.time() at the agent, for latency measurement


class LivePreview(_Live):
    """A sampler preview frame (already throttled by the agent)."""

    type: Literal["preview"] = "preview"
    job_id: str
    attempt: int
    backend_id: str
    node_id: str | None
    content_type: str
    data_b64: str


class GpuMetrics(_Live):
    index: int = 0
    name: str | None = None
    utilization: float | None = None  # percent
    vram_used: int | None = None  # bytes
    vram_total: int | None = None
    temperature: float | None = None  # Celsius


class BackendMetrics(_Live):
    """Published by each agent every second."""

    type: Literal["metrics"] = "metrics"
    backend_id: str
    at: datetime
    reachable: bool
    queue_remaining: int
    running_prompt_id: str | None = None
    running_job_id: str | None = None
    running_node: str | None = None
    progress: float | None = None  # 0..1 of the running node
    jobs_completed: int = 0
    gpus: list[GpuMetrics] = Field(default_factory=list)
    ram_total: int | None = None
    ram_free: int | None = None
