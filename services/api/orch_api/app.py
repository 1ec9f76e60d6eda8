"""The app factory: `create_app(settings)` wires the routers; its lifespan connects NATS and starts the live hub."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orch_api.bus import Bus
from orch_api.context import ApiContext
from orch_api.conversion import ObjectInfoStore
from orch_api.errors import install_error_handlers
from orch_api.live_hub import LiveHub
from orch_api.openapi import install_openapi
from orch_api.routes import artifacts, backends, health, jobs, live, projects, proxy, runs, ui, workflows
from orch_api.settings import ApiSettings
from orch_api.telemetry import ApiMetrics
from orch_common.contracts.projects import ProjectDocument
from orch_common.natsutil import connect, wait_for_topology

__all__ = ["create_app"]

log = logging.getLogger(__name__)


class _Timing:
    """Pure ASGI middleware observing each HTTP request's latency under its route template."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.request_seconds.labels(
                method=scope.get("method", ""), route=template, status=str(status)
            ).observe(time.perf_counter() - started)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The API application; NATS is connected when its lifespan starts (uvicorn, or `LifespanManager` in tests)."""
    settings = settings or ApiSettings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect(settings.nats_url, "orch-api")
        try:
            bus = Bus(nc, rpc_timeout=settings.rpc_timeout, publish_timeout=settings.publish_timeout)
            await wait_for_topology(bus.js, timeout=settings.topology_timeout)
            hub = LiveHub(bus, metrics, rate=settings.live_rate_per_s, max_pending=settings.live_max_pending)
            await hub.start()
            proxy_http = httpx.AsyncClient(
                timeout=httpx.Timeout(settings.proxy_timeout, connect=10.0), follow_redirects=False
            )
            app.state.ctx = ApiContext(
                settings=settings,
                bus=bus,
                hub=hub,
                metrics=metrics,
                object_infos=ObjectInfoStore(timeout=settings.object_info_timeout),
                proxy_http=proxy_http,
            )
            try:
                yield
            finally:
                await hub.stop()
                await proxy_http.aclose()
        finally:
            await nc.drain() if nc.is_connected else await nc.close()

    app = FastAPI(
        title="ComfyUI Orchestrator API",
        version="1",
        description="Submit and follow jobs across a fleet of ComfyUI servers; projects; live stream; editor proxy.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(_Timing, metrics=metrics)
    for module in (health, jobs, artifacts, backends, workflows, projects, runs, live, proxy):
        app.include_router(module.router)
    app.include_router(ui.router)  # last: its catch-all serves the SPA
    install_openapi(app, [jobs.SubmitJob, ProjectDocument])
    return app
