"""What every route needs, held on `app.state.ctx` for the app's lifetime, and the JSON body reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.requests import HTTPConnection, Request

from orch_api.bus import Bus
from orch_api.conversion import ObjectInfoStore
from orch_api.errors import BadRequest, NotFound, PayloadTooLarge
from orch_api.live_hub import LiveHub
from orch_api.registry import RecentBackends
from orch_api.settings import ApiSettings
from orch_api.telemetry import ApiMetrics
from orch_common.contracts import subjects

__all__ = ["ApiContext", "first_to_finish", "get_ctx", "path_id", "read_json"]


@dataclass
class ApiContext:
    settings: ApiSettings
    bus: Bus
    hub: LiveHub
    metrics: ApiMetrics
    object_infos: ObjectInfoStore
    proxy_http: httpx.AsyncClient
    recent_projects: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    """What this process last recorded per project (`{"id", "version", "document", "deleted"}`): successive saves
    never share a version number, and a read right after a write sees it before the scheduler has folded it."""
    project_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises this process's project saves (read latest version, publish the next)."""
    recent_backends: RecentBackends = field(default_factory=RecentBackends)
    """The registry as read for submissions, shared by the submissions of the last half second."""


def get_ctx(conn: HTTPConnection) -> ApiContext:
    """FastAPI dependency (works for HTTP requests and websockets alike)."""
    ctx: ApiContext = conn.app.state.ctx
    return ctx


async def read_json(request: Request, limit: int) -> Any:
    """The request body parsed as JSON; 413 above `limit` bytes (checked while reading), 400 if not JSON."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit} bytes (ORCH_API_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body exceeds the limit of {limit} bytes (ORCH_API_MAX_BODY_BYTES)")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequest("the body is empty; expected a JSON object", code="not_json")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}", code="not_json") from None


def path_id(value: str, what: str) -> str:
    """`value` if it can be an id (one NATS subject token), else 404 `no <what> <value>`."""
    try:
        return subjects.check_token(value)
    except ValueError:
        raise NotFound(f"no {what} {value!r}") from None


async def first_to_finish(*coroutines: Coroutine[Any, Any, None]) -> BaseException | None:
    """Run the coroutines until one ends, cancel the others; the exception the first one ended with, if any."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    return next(iter(done)).exception()
