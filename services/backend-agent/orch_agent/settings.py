"""The agent's settings, from `ORCH_AGENT_*` environment variables (or arguments of `orch agent`)."""

from __future__ import annotations

import re
import socket

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orch_common.contracts import subjects

__all__ = ["AgentSettings", "default_backend_id"]

_BACKEND_ID = re.compile(r"^[A-Za-z0-9_\-]+$")


def default_backend_id() -> str:
    """The host name, made safe as a subject token."""
    return re.sub(r"[^A-Za-z0-9_\-]", "-", socket.gethostname()) or "backend"


class AgentSettings(BaseSettings):
    """Everything one agent needs: where NATS and its ComfyUI are, and how patient to be."""

    model_config = SettingsConfigDict(env_prefix="ORCH_AGENT_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    comfy_url: str = "http://127.0.0.1:8188"
    backend_id: str = Field(default_factory=default_backend_id)
    log_level: str = "INFO"

    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    metrics_interval_s: float = Field(default=1.0, gt=0)
    unreachable_after_s: float = Field(default=1.0, gt=0)
    """ComfyUI silent this long ⇒ in-flight attempts fail with `backend_lost`, heartbeat says unreachable."""
    reconnect_max_backoff_s: float = Field(default=1.0, gt=0)
    drain_grace_s: float = Field(default=30.0, ge=0)
    """On SIGTERM, how long running prompts may take to finish before the agent leaves anyway."""
    progress_interval_s: float = Field(default=0.5, gt=0)
    """Spacing of durable `JobProgressed` checkpoints per job, the first one interval after the first progress
    (the live stream is not coalesced; see `orch_agent.translate`)."""
    preview_interval_s: float = Field(default=0.25, gt=0)
    """Minimum spacing of `LivePreview` messages per job."""
    hang_factor: float = Field(default=2.0, gt=0)
    """No progress for `hang_factor × RunJob.expected_seconds` ⇒ interrupt and fail as `hung`."""
    capabilities_check_s: float = Field(default=30.0, gt=0)
    """How often object_info is re-read to notice new nodes or models (re-registering when it changed)."""
    poll_quiet_s: float = Field(default=10.0, gt=0)
    """A prompt silent this long is looked up in /queue and /history (in case its end was missed)."""
    http_timeout_s: float = Field(default=30.0, gt=0)
    preview_method: str = "auto"
    """`extra_data.preview_method` sent with prompts whose command asks for previews."""
    ack_wait_s: float = Field(default=120.0, gt=0)

    @field_validator("backend_id")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _BACKEND_ID.match(value):
            raise ValueError(
                f"backend id {value!r} must be letters, digits, '_' or '-' (it is a subject token and a KV key)"
            )
        return subjects.check_token(value)

    @field_validator("comfy_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"comfy_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")
