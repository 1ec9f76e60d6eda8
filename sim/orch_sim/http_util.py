"""Response helpers that answer the way aiohttp-based ComfyUI does (JSON with `charset=utf-8`, empty bodies)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

__all__ = ["SERVER_ERROR_TEXT", "empty", "json_response", "server_error"]

SERVER_ERROR_TEXT = "500 Internal Server Error\n\nServer got itself in trouble"


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json; charset=utf-8")


def empty(status: int = 200) -> Response:
    return Response(b"", status_code=status)


def server_error() -> Response:
    return Response(SERVER_ERROR_TEXT, status_code=500, media_type="text/plain; charset=utf-8")
