"""Settings shared by every service; each service derives its own `Settings` class with its own env prefix."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CommonSettings"]


class CommonSettings(BaseSettings):
    """What every service needs: where NATS is and how loud to log."""

    model_config = SettingsConfigDict(env_prefix="ORCH_", extra="ignore")

    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "INFO"
