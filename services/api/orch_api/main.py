"""Running the API under uvicorn (`orch api`)."""

from __future__ import annotations

import logging

import uvicorn

from orch_api.app import create_app
from orch_api.settings import ApiSettings

__all__ = ["run"]


def run(settings: ApiSettings) -> None:
    """Serve the API on `settings.host:settings.port` until interrupted."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        ws="websockets-sansio",
        ws_max_size=64 * 1024 * 1024,
        proxy_headers=False,
    )
