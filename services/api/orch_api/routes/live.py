"""The live stream for the UI: websocket `/api/live` and the same messages as SSE at `/api/live/sse`.

On connect the client first gets one `{"type": "snapshot", "backends", "metrics", "jobs"}` message (every backend,
its latest metrics, every job not yet finished), then the coalesced live messages (see `orch_api.live_hub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from orch_api.coalesce import Outbox, OutboxClosed, OutboxOverflow
from orch_api.context import ApiContext, first_to_finish, get_ctx
from orch_api.errors import ApiError
from orch_api.live_hub import public
from orch_api.routes.backends import list_backend_views
from orch_common.contracts.rpc import JobState, ListJobsRequest, ListJobsResult, RpcVerb

__all__ = ["router", "snapshot"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

_SNAPSHOT_JOBS = 1000
_SSE_KEEPALIVE_S = 15.0


async def _open_jobs(ctx: ApiContext) -> dict[str, dict[str, Any]]:
    """Jobs not yet finished: the scheduler's views, updated with what this process has seen since."""
    jobs: dict[str, dict[str, Any]] = {}
    for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING):
        request = ListJobsRequest(state=state, limit=_SNAPSHOT_JOBS).model_dump(mode="json")
        try:
            result = ListJobsResult.model_validate(await ctx.bus.rpc(RpcVerb.JOBS_LIST, request))
        except ApiError:
            break
        for job in result.jobs:
            view = job.model_dump(mode="json")
            view["attempt"] = max((a.attempt for a in job.attempts), default=0)
            jobs[job.id] = view
    for job_id, summary in list(ctx.hub.jobs.items()):
        if JobState(summary["state"]).terminal:
            jobs.pop(job_id, None)
        else:
            jobs[job_id] = {**jobs.get(job_id, {}), **public(summary)}
    return jobs


async def snapshot(ctx: ApiContext) -> dict[str, Any]:
    """The message a freshly connected client gets first: backends, their latest metrics, unfinished jobs."""
    return {
        "type": "snapshot",
        "backends": await list_backend_views(ctx),
        "metrics": [m.model_dump(mode="json") for m in list(ctx.hub.backend_metrics.values())],
        "jobs": list((await _open_jobs(ctx)).values()),
    }


@router.websocket("/api/live")
async def live_websocket(websocket: WebSocket) -> None:
    ctx = get_ctx(websocket)
    await websocket.accept()
    outbox = ctx.hub.attach()
    try:
        await websocket.send_json(await snapshot(ctx))
        await _pump(websocket, outbox, ctx)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        ctx.hub.detach(outbox)


async def _pump(websocket: WebSocket, outbox: Outbox, ctx: ApiContext) -> None:
    async def send() -> None:
        while True:
            message = await outbox.next()
            await websocket.send_json(message)
            ctx.metrics.live_sent.inc()

    async def receive() -> None:
        while True:  # the client only talks to say it is alive; its close ends the stream
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return

    exc = await first_to_finish(send(), receive())
    if isinstance(exc, OutboxOverflow):
        with contextlib.suppress(Exception):
            await websocket.close(code=1013, reason="too slow: reconnect for a fresh snapshot")
    elif exc is not None and not isinstance(exc, OutboxClosed | WebSocketDisconnect):
        log.debug("live websocket ended: %r", exc)


def _sse(message: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(message, separators=(',', ':'))}\n\n".encode()


@router.get("/api/live/sse", summary="The live stream as server-sent events")
async def live_sse(ctx: ApiContext = Depends(get_ctx)) -> StreamingResponse:
    async def stream() -> AsyncIterator[bytes]:
        outbox = ctx.hub.attach()
        try:
            yield _sse(await snapshot(ctx))
            while True:
                try:
                    message = await asyncio.wait_for(outbox.next(), _SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                ctx.metrics.live_sent.inc()
                yield _sse(message)
        except OutboxClosed:
            return
        finally:
            ctx.hub.detach(outbox)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )
