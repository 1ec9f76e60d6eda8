"""`SchedulerSettings`: every knob of the scheduler, read from `ORCH_SCHEDULER_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["SchedulerSettings"]


class SchedulerSettings(BaseSettings):
    """Settings of `orch scheduler` (env prefix `ORCH_SCHEDULER_`, e.g. `ORCH_SCHEDULER_DB=data/events.duckdb`)."""

    model_config = SettingsConfigDict(env_prefix="ORCH_SCHEDULER_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    db: Path = Path("data/scheduler.duckdb")
    max_inflight_per_backend: int = Field(default=2, ge=1, le=1000)
    queue_ahead_s: float = Field(default=0.25, ge=0, le=3600)
    """`smart` placement: beyond `max_inflight_per_backend`, a backend takes more prompts while what it holds is
    expected (from measured runs) to finish within this many seconds, up to `max_queue_depth` (0: never)."""
    max_queue_depth: int = Field(default=16, ge=1, le=1000)
    placement_policy: Literal["smart", "least_loaded", "fifo_speed_blind", "round_robin"] = "smart"
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    fetch_wait_s: float = Field(default=0.05, gt=0, le=30)
    ack_wait_s: float = Field(default=30.0, gt=0)
    max_ack_pending: int = Field(default=20_000, ge=1)
    heartbeat_ttl_s: float | None = Field(default=None, gt=0)  # None: subjects.BACKEND_HEARTBEAT_TTL_S
    default_expected_s: float = Field(default=300.0, gt=0)
    """RunJob's `expected_seconds` for a workflow not yet measured on that backend (hung after twice this)."""
    liveness_check_s: float = Field(default=0.5, gt=0)
    rpc_queue_group: str = "scheduler"
    topology_timeout_s: float = Field(default=30.0, gt=0)
    log_level: str = "INFO"
