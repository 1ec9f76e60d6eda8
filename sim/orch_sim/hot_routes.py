"""`HotRoutes`: the per-prompt routes answered without FastAPI's router, by the very same endpoint functions.

An agent asks a sim for `POST /prompt`, `GET /history/{id}` and `GET /view` for every prompt, and `GET /queue`
and `GET /system_stats` every second. Finding the route among the sim's dozens (each mounted at `/x` and
`/api/x`) and solving its dependencies cost more CPU than the endpoint itself, so this layer looks the exact
path up in a dict and calls the endpoint with a plain `Request`. Everything else (other methods, paths with a
trailing slash, websockets) goes on to FastAPI unchanged, and the answers are the endpoints' own responses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orch_sim import comfy_routes

__all__ = ["HotRoutes"]

Endpoint = Callable[[Request], Awaitable[Response]]

_EXACT: dict[tuple[str, str], Endpoint] = {
    ("POST", "/prompt"): comfy_routes.post_prompt,
    ("GET", "/prompt"): comfy_routes.get_prompt,
    ("GET", "/queue"): comfy_routes.get_queue,
    ("GET", "/view"): comfy_routes.get_view,
    ("HEAD", "/view"): comfy_routes.get_view,
    ("GET", "/system_stats"): comfy_routes.get_system_stats,
    ("GET", "/features"): comfy_routes.get_features,
}
_HISTORY_ENTRY = "/history/"


class HotRoutes:
    """ASGI layer in front of the router: exact matches of the hot routes (and their `/api` twins) served here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/"):
                path = path[4:]
            method: str = scope["method"]
            endpoint = _EXACT.get((method, path))
            if endpoint is not None:
                response = await endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return
            if method == "GET" and path.startswith(_HISTORY_ENTRY):
                prompt_id = path[len(_HISTORY_ENTRY) :]
                if prompt_id and "/" not in prompt_id:
                    response = await comfy_routes.get_history_entry(Request(scope, receive), prompt_id)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
