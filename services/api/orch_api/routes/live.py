"""The live stream for the UI: websocket `/api/live` and the same messages as SSE at `/api/live/sse`.

On connect the client first gets a snapshot (every backend, its latest metrics, and every job not yet finished,
each message flagged `"snapshot": true`), then the coalesced live messages (see `orch_api.live_hub`).
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
from orch_api.context import ApiContext, get_ctx
from orch_api.errors import ApiError
from orch_api.live_hub import job_message
from orch_api.routes.backends import list_backend_views
from orch_common.contracts.rpc import JobState, JobView, ListJobsRequest, ListJobsResult, RpcVerb

__all__ = ["router", "snapshot"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["live"])

_SNAPSHOT_JOBS = 1000
_SSE_KEEPALIVE_S = 15.0


def _summary(job: JobView) -> dict[str, Any]:
    return {
        "id": job.id,
        "state": job.state.value,
        "backend": job.backend,
        "attempt": max((a.attempt for a in job.attempts), default=0),
        "error": job.error,
        "outputs": [o.model_dump(mode="json") for o in job.outputs],
    }


async def _open_jobs(ctx: ApiContext) -> dict[str, dict[str, Any]]:
    jobs: dict[str, dict[str, Any]] = {}
    for state in (JobState.QUEUED, JobState.SCHEDULED, JobState.RUNNING):
        request = ListJobsRequest(state=state, limit=_SNAPSHOT_JOBS).model_dump(mode="json")
        try:
            result = ListJobsResult.model_validate(await ctx.bus.rpc(RpcVerb.JOBS_LIST, request))
        except ApiError:
            break
        jobs.update((j.id, _summary(j)) for j in result.jobs)
    for job_id, summary in ctx.hub.jobs.items():  # what this process saw is newer than the scheduler's answer
        if JobState(summary["state"]).terminal:
            jobs.pop(job_id, None)
        else:
            jobs[job_id] = dict(summary)
    return jobs


async def snapshot(ctx: ApiContext) -> list[dict[str, Any]]:
    """The messages a freshly connected client gets first."""
    messages: list[dict[str, Any]] = []
    for backend in await list_backend_views(ctx):
        messages.append({"type": "backend", "backend": backend, "snapshot": True})
    for metrics in list(ctx.hub.backend_metrics.values()):
        messages.append({**metrics.model_dump(mode="json"), "snapshot": True})
    for summary in (await _open_jobs(ctx)).values():
        messages.append(job_message(summary, snapshot=True))
    return messages


@router.websocket("/api/live")
async def live_websocket(websocket: WebSocket) -> None:
    ctx = get_ctx(websocket)
    await websocket.accept()
    outbox = ctx.hub.attach()
    try:
        for message in await snapshot(ctx):
            await websocket.send_json(message)
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

    tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
    for task in done:
        exc = task.exception()
        if isinstance(exc, OutboxOverflow):
            with contextlib.suppress(Exception):
                await websocket.close(code=1013, reason="too slow: reconnect for a fresh snapshot")
        elif exc is not None and not isinstance(exc, OutboxClosed | WebSocketDisconnect):
            log.debug("live websocket ended: %r", exc)


def _sse(message: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(message, separators=(',', ':'))}\n\n".encode()


@router.get("/api/live/sse", summary="The live stream as server-sent events")
async def live_sse(ctx: ApiContext = Depends(get_ctx)) -> StreamingResponse:
    outbox = ctx.hub.attach()

    async def stream() -> AsyncIterator[bytes]:
        try:
            for message in await snapshot(ctx):
                yield _sse(message)
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
