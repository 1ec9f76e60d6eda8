"""The ASGI application: routes under `/x` and `/api/x`, the origin check or CORS, the web frontend at `/`."""

from __future__ import annotations

import ipaddress
import mimetypes
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlparse

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from orch_sim import comfy_routes, control, frontend
from orch_sim.app_state import SimServer
from orch_sim.config import SimConfig
from orch_sim.files import contained
from orch_sim.hot_routes import HotRoutes
from orch_sim.http_util import empty

__all__ = ["create_app"]

mimetypes.add_type("application/javascript", ".js")
mimetypes.add_type("application/javascript", ".mjs")
mimetypes.add_type("text/css", ".css")


def _is_loopback(host: str) -> bool:
    name = urlparse(f"//{host}").hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_and_origin(headers: list[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The Host and Origin headers (the last of each, as a dict of them would hold)."""
    host = origin = None
    for key, value in headers:
        name = key.lower()
        if name == b"host":
            host = value.decode("latin-1")
        elif name == b"origin":
            origin = value.decode("latin-1")
    return host, origin


class OriginCheck:
    """ComfyUI's drive-by protection: with a loopback Host, an Origin whose host[:port] differs → 403."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host, origin = _host_and_origin(scope["headers"])
            if host and origin and _is_loopback(host) and urlparse(origin).netloc != host:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await empty(403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class CorsHeaders:
    """`--enable-cors-header [ORIGIN]`: ComfyUI's permissive CORS headers on every answer."""

    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.headers = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-methods", b"POST, GET, DELETE, PUT, OPTIONS, PATCH"),
            (b"access-control-allow-headers", b"Content-Type, Authorization"),
            (b"access-control-allow-credentials", b"true"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await send({"type": "http.response.body", "body": b""})
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(config: SimConfig, sim: SimServer | None = None) -> FastAPI:
    """Build the app for `config`; the SimServer is created inside the lifespan (it needs a loop)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        server = sim if sim is not None else SimServer(config)
        app.state.sim = server
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    app = FastAPI(title="orch sim", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    for prefix in ("", "/api"):
        app.include_router(comfy_routes.router, prefix=prefix)
        app.include_router(frontend.router, prefix=prefix)
    app.include_router(comfy_routes.ws_router)
    app.include_router(frontend.internal_router)
    app.include_router(control.router)
    _mount_static(app)
    app.add_middleware(HotRoutes)  # inside the origin check / CORS layer, added next
    if config.cors_origin is not None:
        app.add_middleware(CorsHeaders, origin=config.cors_origin)
    else:
        app.add_middleware(OriginCheck)
    return app


def _mount_static(app: FastAPI) -> None:
    templates = frontend.templates_dir()
    if templates is not None:
        app.mount("/templates", StaticFiles(directory=templates), name="templates")
    static = frontend.frontend_dir()
    if static is None:
        return

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        return FileResponse(static / "index.html", headers=frontend.no_cache_headers(),
                            media_type="text/html")

    @app.get("/{path:path}", include_in_schema=False)
    async def static_file(path: str) -> Response:
        target = contained(static, path)
        if target is None or not target.is_file():
            return empty(404)
        return FileResponse(target)
