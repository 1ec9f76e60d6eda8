"""The API service's settings (env prefix `ORCH_API_`), validated at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]

_REPO = Path(__file__).resolve().parents[3]


class ApiSettings(BaseSettings):
    """Where NATS is, where to listen, and the limits the API enforces."""

    model_config = SettingsConfigDict(env_prefix="ORCH_API_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    ui_dist: Path = _REPO / "services" / "ui" / "dist"
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    rpc_timeout: float = Field(default=5.0, gt=0)
    publish_timeout: float = Field(default=5.0, gt=0)
    topology_timeout: float = Field(default=30.0, gt=0)
    proxy_timeout: float = Field(default=300.0, gt=0)
    object_info_timeout: float = Field(default=300.0, gt=0)
    live_rate_per_s: float = Field(default=10.0, gt=0)
    """At most this many live messages per second per job (and per backend); the last value wins."""
    live_max_pending: int = Field(default=2000, ge=10)
    """Bound on the coalesced messages waiting for one slow live client."""
    log_level: str = "INFO"
