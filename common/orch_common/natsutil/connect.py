"""Connecting to NATS the same way in every service: reconnect forever, log state changes."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

__all__ = ["connect"]

log = logging.getLogger(__name__)


async def connect(url: str, name: str) -> Client:
    """A NATS connection that survives a nats-server restart (it reconnects and resumes)."""

    async def on_disconnect() -> None:
        log.warning("%s: disconnected from NATS", name)

    async def on_reconnect() -> None:
        log.info("%s: reconnected to NATS", name)

    async def on_error(exc: Exception) -> None:
        log.warning("%s: NATS error: %s", name, exc)

    return await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=5,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
